"""OpenVINO recipes: INT8 through NNCF post-training quantisation, and an FP16-compressed IR.

NNCF sends usage telemetry through openvino-telemetry unless told not to; ``import_nncf`` sets the
switch NNCF reads at import (``NNCF_CI``), so quantising with edgebench sends nothing.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.quantize.base import CalibrationData, Recipe


def import_nncf():
    """NNCF with its telemetry off (it checks this variable once, when nncf.telemetry is imported)."""
    os.environ["NNCF_CI"] = "1"
    import nncf

    return nncf


class OvNncfInt8(Recipe):
    name = "nncf-ptq-int8"
    precision = "int8"
    toolchain = "nncf.quantize (post-training, OpenVINO backend)"
    packages = ("nncf", "openvino")
    needs_calibration = True
    output_format = "openvino-ir"

    def settings(self) -> dict[str, Any]:
        o = self.options
        s: dict[str, Any] = {"preset": o.nncf_preset, "fast_bias_correction": True, "target_device": "CPU",
                             "statistics": "NNCF min/max per preset"}
        # Keys a default recipe does not have, only when set: the cache keys of default recipes stay as they were.
        if o.exclude_nodes:
            s["ignored_scope"] = list(o.exclude_nodes)  # ONNX node names; the artifact meta lists the OV ops
        if o.tail_nodes:
            s["float_tail"] = list(o.tail_nodes)  # the ops after the last weighted layers (quantize.float_tail)
        if o.calib_limit is not None:
            s["calib_limit"] = o.calib_limit
        if o.nncf_accuracy_control is not None:
            s["accuracy_control"] = {"max_drop_pt": o.nncf_accuracy_control, "metric": "top1",
                                     "drop_type": "absolute", **ACCURACY_CONTROL}
        return s

    def needs_validation(self) -> bool:
        return self.options.nncf_accuracy_control is not None

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        import openvino as ov

        nncf = import_nncf()
        model = ov.Core().read_model(source.path)
        calibration.limit(self.options.calib_limit)
        calibration.batch_size = 1  # NNCF counts subset_size in samples of its dataset
        # The iterable itself, not a list: NNCF reads it per pass, so only one normalised image is in memory
        # at a time (300 EfficientNet-B7 images at 600 px would be 1.3 GB as a list).
        dataset = nncf.Dataset(calibration)
        preset = nncf.QuantizationPreset.PERFORMANCE if self.options.nncf_preset == "performance" \
            else nncf.QuantizationPreset.MIXED
        meta: dict[str, Any] = {}
        kwargs: dict[str, Any] = {}
        kept = tuple(dict.fromkeys([*self.options.exclude_nodes, *self.options.tail_nodes]))
        if kept:
            names = ov_names_for(model, source.path, kept)
            meta["ignored_ov_ops"] = names
            meta["ignored_ov_count"] = len(names)
            kwargs["ignored_scope"] = nncf.IgnoredScope(names=names, validate=False)
        if self.needs_validation():
            quantized, meta["accuracy_control"] = self._with_accuracy_control(nncf, model, dataset, preset,
                                                                             len(calibration), kwargs)
        else:
            quantized = nncf.quantize(model, dataset, preset=preset, target_device=nncf.TargetDevice.CPU,
                                      subset_size=len(calibration), fast_bias_correction=True, **kwargs)
        out = out_dir / "model.int8.xml"
        ov.save_model(quantized, str(out), compress_to_fp16=False)
        return self.artifact(out, files=[out.name, out.with_suffix(".bin").name], **meta)

    def _with_accuracy_control(self, nncf, model, dataset, preset, subset_size: int,
                               kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """NNCF's quantisation with accuracy control: it reverts the layers that cost the most top-1 on the
        labelled validation images to float until the drop is within budget. Returns the model and what NNCF
        reported (captured from its log: the metrics, the drop and the operations it reverted)."""
        from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

        if self.validation is None:
            raise ValueError("accuracy control needs labelled validation images (the quantize job's validation)")
        images, labels = self.validation
        images.batch_size = 1
        validation = nncf.Dataset(_Labelled(images, labels), lambda item: item[0])
        log = _NncfLog()
        with log:
            quantized = nncf.quantize_with_accuracy_control(
                model, dataset, validation, top1_validation, max_drop=self.options.nncf_accuracy_control / 100,
                drop_type=nncf.DropType.ABSOLUTE, preset=preset, target_device=nncf.TargetDevice.CPU,
                subset_size=subset_size, fast_bias_correction=True,
                advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
                    max_num_iterations=ACCURACY_CONTROL["max_iterations"],
                    ranking_subset_size=min(ACCURACY_CONTROL["ranking_subset_size"], len(labels))),
                **kwargs)
        return quantized, {"validation_images": len(labels), **log.report()}


# How far NNCF's accuracy restorer may go: each iteration reverts one group of layers and re-validates.
ACCURACY_CONTROL = {"max_iterations": 10, "ranking_subset_size": 100}


class _Labelled:
    """(normalised image, label) pairs, read lazily: NNCF iterates the validation set once per check."""

    def __init__(self, images: CalibrationData, labels: Any) -> None:
        self.images, self.labels = images, [int(v) for v in labels]

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self):
        return zip(iter(self.images), self.labels)


def top1_validation(model, items) -> tuple[float, list[float]]:
    """NNCF's ``validation_fn``: top-1 accuracy of the model on (image, label) items, and each item's
    correctness (NNCF ranks layers by which images they get wrong). NNCF hands in a model compiled in f32."""
    import numpy as np
    import openvino as ov

    if isinstance(model, ov.Model):
        model = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    output = model.output(0)
    correct = [float(int(np.argmax(model(image)[output][0])) == int(label)) for image, label in items]
    return (float(np.mean(correct)) if correct else 0.0), correct


class _NncfLog:
    """Captures NNCF's INFO lines while accuracy control runs: its report is only logged."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __enter__(self) -> "_NncfLog":
        import logging

        self.handler = logging.Handler(logging.INFO)
        self.handler.emit = lambda record: self.lines.append(record.getMessage())
        logging.getLogger("nncf").addHandler(self.handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        import logging

        logging.getLogger("nncf").removeHandler(self.handler)

    def report(self) -> dict[str, Any]:
        reverted: list[str] = []
        for line in self.lines:
            head, _, names = line.partition("\n")
            if "were reverted back to the floating-point precision" in head:
                reverted = [n.strip() for n in names.splitlines() if n.strip()]
        notes = [line.splitlines()[0] for line in self.lines
                 if line.startswith(("Metric of", "Accuracy drop", "Algorithm completed", "The algorithm could not",
                                     "Maximum number of iteration", "Total number of quantized"))]
        metrics = {}
        for line in self.lines:
            for model, key in (("initial", "fp32_top1"), ("quantized", "int8_top1")):
                if line.startswith(f"Metric of {model} model: "):
                    metrics[key] = float(line.rsplit(":", 1)[1])
        return {**metrics, "reverted_to_float": reverted, "nncf_log": notes[:12]}


def ov_names_for(model, onnx_path: str, onnx_nodes: tuple[str, ...] | list[str]) -> list[str]:
    """The OpenVINO op names NNCF must ignore to keep these ONNX nodes in float.

    OpenVINO's ONNX reader names the op that produces a node's output after the node (or, for a graph
    output, after the output tensor: a final Gemm's Add is named ``logits``), and the helper ops it adds
    while decomposing the node ``<that name>/<suffix>``: a Conv with bias becomes ``<node>/WithoutBiases``
    (the Convolution, which NNCF quantises) and ``<node>`` (the bias Add); a Gemm, ``<node>/WithoutBiases``
    (the MatMul) and an Add. An op belongs to a node when its name is the node's name or one of its output
    tensor names, or starts with one of those and ``/``, or when its outputs carry one of those tensor names.
    Unknown node names are an error: the user named a layer the model does not have.
    """
    import onnx

    from edgebench.errors import ConfigError

    graph = onnx.load(onnx_path, load_external_data=False).graph
    by_name = {node.name: node for node in graph.node}
    missing = [name for name in onnx_nodes if name not in by_name]
    if missing:
        raise ConfigError(f"exclude_nodes names {', '.join(missing[:5])}, not nodes of {Path(onnx_path).name}; "
                          "use ONNX node names (the sensitivity report lists them)")
    keys: set[str] = set()
    for name in onnx_nodes:
        keys.add(name)
        keys.update(out for out in by_name[name].output if out)
    names = []
    for op in model.get_ordered_ops():
        if op.get_type_name() in ("Constant", "Parameter", "Result"):
            continue
        friendly = op.get_friendly_name()
        tensors = {t for out in op.outputs() for t in out.get_names()}
        if friendly in keys or any(friendly.startswith(k + "/") for k in keys) \
                or tensors & keys:
            names.append(friendly)
    return names


class OvFp16(Recipe):
    name = "openvino-fp16-ir"
    precision = "fp16"
    toolchain = "openvino.save_model(compress_to_fp16=True)"
    packages = ("openvino",)
    output_format = "openvino-ir"

    def settings(self) -> dict[str, Any]:
        return {"weights": "FP16 in the IR", "compute": "f16 where the CPU has FP16 arithmetic, else f32"}

    def build(self, source: Artifact, spec: ModelSpec, calibration: CalibrationData | None, out_dir: Path) -> Artifact:
        import openvino as ov

        out = out_dir / "model.fp16.xml"
        ov.save_model(ov.Core().read_model(source.path), str(out), compress_to_fp16=True)
        return self.artifact(out, files=[out.name, out.with_suffix(".bin").name])
