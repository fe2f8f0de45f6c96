"""Layer sensitivity with ONNX Runtime's quantisation debugger, run as a build job like any other
(``LocalBuild.run_builder``: isolated, the worker importing the builder the job names)."""
from __future__ import annotations

import math

import onnx

from edgebench.config import RunConfig
from edgebench.data.evalset import ImageSets, synthetic_crops
from edgebench.export.artifact import Artifact
from edgebench.models import resolve_model
from edgebench.optimize.sensitivity import BUILDER
from edgebench.pipeline.build import LocalBuild
from edgebench.quantize.base import QuantOptions
from edgebench.quantize.onnxruntime import OrtStaticInt8


def _sensitivity(tiny_onnx, tmp_path, options: QuantOptions) -> dict:
    spec = resolve_model(f"onnx:{tiny_onnx}")
    job = {"key": "tiny|sensitivity", "model": spec.to_dict(),
           "source": Artifact(path=str(tiny_onnx), format="onnx", toolchain="user file").to_dict(),
           "calibration": synthetic_crops(12, spec.preprocess, 0, tmp_path), "settings": OrtStaticInt8(options).settings(),
           "out_dir": str(tmp_path / "sens")}
    build = LocalBuild(RunConfig(prepare_timeout_s=300), ImageSets(), tmp_path / "logs", threads=2, say=lambda _: None)
    return build.run_builder(BUILDER, job, log_name="sensitivity")


def test_layers_ranked_most_sensitive_first(tiny_onnx, tmp_path):
    record = _sensitivity(tiny_onnx, tmp_path, QuantOptions())
    assert record["status"] == "ok", record
    result = record["sensitivity"]
    assert result["images"] == 12 and "qdq_loss_debug" in result["method"]
    layers = result["layers"]
    graph = {n.name: n.op_type for n in onnx.load(str(tiny_onnx)).graph.node}
    assert {layer["op"] for layer in layers} >= {"Conv", "Gemm"}
    scores = [layer["score_db"] for layer in layers]
    assert all(math.isfinite(s) for s in scores) and scores == sorted(scores)
    for layer in layers:
        assert graph[layer["node"]] == layer["op"]  # a real node of the source graph, which exclude_nodes can name
        local = [v for v in (layer["activation_sqnr_db"], layer["weight_sqnr_db"]) if v is not None]
        assert layer["score_db"] == min(local)
        if layer["op"] in ("Conv", "Gemm"):
            assert layer["weight_sqnr_db"] is not None and layer["output_sqnr_db"] is not None
    # INT8 keeps roughly 8 bits of signal: well above 20 dB, well below the float epsilon floor
    assert 20 < scores[0] < 100
    assert not any(p.name.endswith(".saved.onnx") for p in (tmp_path / "sens").iterdir())  # big copies removed
    job = (tmp_path / "logs" / "sensitivity" / "job.json").read_text()
    assert '"kind": "build"' in job and BUILDER in job  # a build job naming its builder, as the worker imports it


def test_excluded_node_is_not_ranked(tiny_onnx, tmp_path):
    first_conv = next(n.name for n in onnx.load(str(tiny_onnx)).graph.node if n.op_type == "Conv")
    record = _sensitivity(tiny_onnx, tmp_path, QuantOptions(exclude_nodes=(first_conv,)))
    assert record["status"] == "ok", record
    nodes = [layer["node"] for layer in record["sensitivity"]["layers"]]
    assert first_conv not in nodes and nodes  # kept in float: nothing quantised there to rank
