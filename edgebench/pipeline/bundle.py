"""``edgebench run --artifacts DIR``: the build step answered by an exported artifacts folder.

The same plan, measure step, accuracy path and results file as a normal run; what differs is where the
artifacts come from: the folder, not a preparation and a conversion here. So this machine needs only
edgebench's core and each runtime's own package: no PyTorch, no converter (the runtimes whose Python
bindings are built on torch, ExecuTorch's, still need it; the README says so).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edgebench.config import RunConfig
from edgebench.data.evalset import ImageSets
from edgebench.export.bundle import absolute
from edgebench.models.spec import ModelSpec
from edgebench.pipeline.build import LocalBuild
from edgebench.pipeline.plan import Cell


class BundleBuild(LocalBuild):
    def __init__(self, config: RunConfig, manifest: dict[str, Any], images: ImageSets, log_dir: Path, threads: int,
                 say: Callable[[str], None]) -> None:
        super().__init__(config, images, log_dir, threads, say)
        self.folder = Path(config.artifacts).resolve()
        self.specs = [ModelSpec.from_dict(entry["spec"]) for entry in manifest["models"]]
        self.entries = {spec.id: entry for spec, entry in zip(self.specs, manifest["models"])}
        self.exported = {"created": manifest["created"], "edgebench": manifest["edgebench"],
                         "exported_on": manifest.get("exported_on"), "folder": str(self.folder)}

    def prepare(self, spec: ModelSpec) -> dict[str, Any]:
        entry = self.entries[spec.id]
        if entry.get("error"):
            return {"status": "failed", "reason": f"not exported: {entry['error']}"}
        artifacts = {"onnx": absolute(entry["reference"], self.folder)} if entry.get("reference") else {}
        return {"status": "ok", **entry.get("prepared", {}), "artifacts": artifacts}

    def needs_calibration(self, cells: list[Cell]) -> bool:
        return False  # the artifacts were calibrated when they were exported (the manifest says on what)

    def reference(self, spec: ModelSpec, prepared: dict[str, Any], eval_ref: dict[str, Any],
                  out_dir: Path) -> dict[str, Any]:
        from edgebench.runtimes import get_runtime

        available = get_runtime("onnxruntime").availability()
        if "onnx" not in prepared["artifacts"] or not available.ok:
            reason = ("the folder has no ONNX reference" if available.ok
                      else f"the FP32 reference runs on ONNX Runtime: {available.reason}")
            self.say(f"  no FP32 reference outputs: {reason}; accuracy without agreement")
            return {"status": "skipped", "reason": reason}
        return super().reference(spec, prepared, eval_ref, out_dir)

    def artifact(self, cell: Cell, prepared: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        entry = self.entries[cell.model.id]
        for item in entry["artifacts"]:
            if (item["runtime"], item["precision"]) == (cell.runtime, cell.precision):
                return {"artifact": absolute(item["artifact"], self.folder), "quantization": item.get("quantization")}
        for item in entry.get("not_exported", []):
            if (item["runtime"], item["precision"]) == (cell.runtime, cell.precision):
                return {"skip": f"not exported ({item['status']}): {item['reason']}"}
        return {"skip": f"{self.folder} holds no {cell.runtime} {cell.precision} artifact of {cell.model.id}"}

    def annotate(self, record: dict[str, Any]) -> None:
        record["exported"] = self.exported
