"""``edgebench run --artifacts DIR``: measure an exported artifacts folder on this machine.

The same sweep, cells, accuracy path and results file as a normal run; what differs is where the
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
from edgebench.harness.sweep import Cell, Sweep
from edgebench.models.spec import ModelSpec


class BundleSweep(Sweep):
    def __init__(self, config: RunConfig, manifest: dict[str, Any], runtimes: list[str], run_dir: Path,
                 say: Callable[[str], None] | None = None, images: ImageSets | None = None) -> None:
        self.folder = Path(config.artifacts).resolve()
        specs = [ModelSpec.from_dict(entry["spec"]) for entry in manifest["models"]]
        self.entries = {spec.id: entry for spec, entry in zip(specs, manifest["models"])}
        self.exported = {"created": manifest["created"], "edgebench": manifest["edgebench"],
                         "exported_on": manifest.get("exported_on"), "folder": str(self.folder)}
        super().__init__(config, specs, runtimes, run_dir, say=say, images=images)

    def _prepare(self, spec: ModelSpec) -> dict[str, Any]:
        entry = self.entries[spec.id]
        if entry.get("error"):
            return {"status": "failed", "reason": f"not exported: {entry['error']}"}
        artifacts = {"onnx": absolute(entry["reference"], self.folder)} if entry.get("reference") else {}
        return {"status": "ok", **entry.get("prepared", {}), "artifacts": artifacts}

    def _needs_calibration(self, pending: list[Cell]) -> bool:
        return False  # the artifacts were calibrated when they were exported (the manifest says on what)

    def _reference(self, spec: ModelSpec, prepared: dict[str, Any], eval_ref: dict[str, Any]) -> dict[str, Any]:
        from edgebench.runtimes import get_runtime

        available = get_runtime("onnxruntime").availability()
        if "onnx" not in prepared["artifacts"] or not available.ok:
            reason = ("the folder has no ONNX reference" if available.ok
                      else f"the FP32 reference runs on ONNX Runtime: {available.reason}")
            self.say(f"  no FP32 reference outputs: {reason}; accuracy without agreement")
            return {"status": "skipped", "reason": reason}
        return super()._reference(spec, prepared, eval_ref)

    def _artifact(self, cell: Cell, runtime, prepared: dict[str, Any], inputs: dict[str, Any],
                  built: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
        entry = self.entries[cell.model.id]
        for item in entry["artifacts"]:
            if (item["runtime"], item["precision"]) == (cell.runtime, cell.precision):
                return {"artifact": absolute(item["artifact"], self.folder), "quantization": item.get("quantization")}
        for item in entry.get("not_exported", []):
            if (item["runtime"], item["precision"]) == (cell.runtime, cell.precision):
                return {"skip": f"not exported ({item['status']}): {item['reason']}"}
        return {"skip": f"{self.folder} holds no {cell.runtime} {cell.precision} artifact of {cell.model.id}"}

    def _run_cell(self, cell: Cell, *args: Any) -> dict[str, Any]:
        record = super()._run_cell(cell, *args)
        record["exported"] = self.exported
        return record
