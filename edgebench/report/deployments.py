"""Deployments: what the report, the plots and ``edgebench pick`` rank.

A deployment is one (device, model, runtime, precision, variant) and gathers its cells at every batch size. Values
come from the results files only; nothing here measures. Accuracy is in percent and points, latency in ms.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from edgebench.report.evalsets import EvalSet, eval_set_of, untrusted_reasons
from edgebench.results.schema import PYTORCH_BASELINE, precision_label
from edgebench.tasks import FIGURE_NAMES, TASK_FIGURE

LATENCY_STATS = ("p50", "p90", "p99", "mean")

# A record's accuracy metric → its task; each task's main and second figures (keys of the accuracy summary).
TASK_OF_METRIC = {"map": "detect", "miou": "segment", "depth": "depth"}
FIDELITY_FIGURE = {"detect": "map", "segment": "miou", "depth": "delta1"}
TASK_FIGURES = {"classify": ("top1", "top5"), "detect": ("map", "ap50"), "segment": ("miou", "pixel_accuracy"),
                "depth": ("delta1", "abs_rel")}


def figure_name(deps: list["Deployment"]) -> str:
    """The main figure the deployments' accuracy is in ("top-1", "mAP"...), or "accuracy" when tasks mix."""
    figures = {d.figure for d in deps if d.score is not None}
    return figures.pop() if len(figures) == 1 else "top-1" if not figures else "accuracy"


def device_of(record: dict[str, Any]) -> str:
    return (record.get("environment") or {}).get("device") or "unknown device"


def variant_of(record: dict[str, Any]) -> str:
    """The record's recipe variant; "" for the runtime's default recipe and for records older than issue 15."""
    return str(record.get("variant") or "")


def by_device(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by the machine that measured them, in first-seen order."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in results:
        groups[device_of(record)].append(record)
    return dict(groups)


def finite(value: Any) -> float | None:
    """A number, or None when it is missing or not finite (an empty evaluation gives NaN accuracy)."""
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _pct(value: float | None) -> float | None:
    value = finite(value)
    return None if value is None else value * 100.0


@dataclass(kw_only=True)
class Deployment:
    device: str
    model: str
    runtime: str
    precision: str
    cells: dict[int, dict[str, Any]]  # ok records by batch size
    variant: str = ""  # the quantisation recipe variant ("" = the runtime's default recipe)
    # The same model's PyTorch FP32 p50 by batch size, on the same kind of device (pytorch-cuda for GPU runtimes)
    pytorch_fp32: dict[int, float] = field(default_factory=dict)
    pytorch_fp32_cells: dict[int, dict[str, Any]] = field(default_factory=dict)  # their records (rounds, samples)
    _ratio_cis: dict[int, dict[str, Any] | None] = field(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        return f"{self.runtime} {precision_label(self.precision, self.variant)}"

    @property
    def batch_sizes(self) -> list[int]:
        return sorted(self.cells)

    def latency(self, batch: int, stat: str = "p50") -> float | None:
        """Milliseconds per call (one batch) at this batch size."""
        cell = self.cells.get(batch)
        return finite(cell["latency_ms"].get(stat)) if cell else None

    def end_to_end(self, batch: int) -> float | None:
        """Milliseconds a deployer pays per image at this batch size: the model call and the work around it
        (``io_latency_ms``), per image, plus the task's post-processing of one image (decode + NMS, resize back
        + argmax); None without a post-processing figure (a classifier's top-k is not timed apart)."""
        cell = self.cells.get(batch)
        post = (self.accuracy.get("postprocess_ms") or {}).get("p50")
        call = self.latency(batch)
        if not cell or post is None or call is None:
            return None
        io = finite((cell.get("io_latency_ms") or {}).get("p50")) or 0.0
        return (call + io) / batch + float(post)

    @property
    def device_kind(self) -> str:
        return next((c.get("device_kind") or "cpu" for c in self.cells.values()), "cpu")

    def device_latency(self, batch: int, stat: str = "p50") -> float | None:
        """GPU cells: milliseconds of the model's kernels per call (CUDA events), without copies."""
        cell = self.cells.get(batch)
        return finite((cell.get("device_latency_ms") or {}).get(stat)) if cell else None

    def gpu_memory(self, batch: int) -> float | None:
        """GPU memory of the cell's process; 0 for a CPU runtime, which uses none."""
        cell = self.cells.get(batch)
        if not cell:
            return None
        return finite(cell.get("gpu_memory_mb")) if self.device_kind == "gpu" else 0.0

    def throughput(self, batch: int) -> float | None:
        cell = self.cells.get(batch)
        return finite(cell.get("throughput_ips")) if cell else None

    def speedup_vs_pytorch(self, batch: int) -> float | None:
        versus = self.speedup_vs_pytorch_ci(batch)
        if versus:
            return versus["ratio"]
        mine, theirs = self.latency(batch), self.pytorch_fp32.get(batch)
        return theirs / mine if mine and theirs else None

    def speedup_vs_pytorch_ci(self, batch: int) -> dict[str, Any] | None:
        """The speed-up over PyTorch FP32 and its 95% interval from ``edgebench.stats.cell_ratio`` (paired over the
        rounds both cells were timed in; unpaired, and said so, when they share none); None for records without
        rounds (older runs, results written by hand): their p50s' ratio stands alone."""
        if batch not in self._ratio_cis:
            self._ratio_cis[batch] = None
            mine, theirs = self.cells.get(batch), self.pytorch_fp32_cells.get(batch)
            if mine and theirs and mine is not theirs and mine.get("rounds") and theirs.get("rounds"):
                from edgebench.stats import cell_ratio

                try:
                    self._ratio_cis[batch] = cell_ratio(theirs, mine)
                except ValueError:  # a side without samples: the ratio of p50s stands without an interval
                    pass
        return self._ratio_cis[batch]

    def speedup_vs_fp32(self, batch: int) -> float | None:
        cell = self.cells.get(batch)
        return finite(cell.get("speedup_vs_fp32")) if cell else None

    def speedup_vs_fp32_ci(self, batch: int) -> dict[str, Any] | None:
        """The 95% CI of the speed-up over the runtime's own FP32 that the cell recorded (None in older runs)."""
        cell = self.cells.get(batch)
        ci = (cell or {}).get("speedup_vs_fp32_ci") or {}
        return ci if finite(ci.get("lo")) is not None and finite(ci.get("hi")) is not None else None

    def p50_precision(self, batch: int) -> dict[str, Any]:
        """How precisely the cell's p50 is known (the record's ``p50_precision``; empty in older runs)."""
        from edgebench.report.precision import of

        return of(self.cells.get(batch))

    @property
    def size_mb(self) -> float | None:
        return next((c["size_mb"] for c in self.cells.values() if c.get("size_mb")), None)

    def memory(self, batch: int) -> float | None:
        """Peak RSS of the cell's process at this batch size (host memory; 0 means it was not measured)."""
        cell = self.cells.get(batch)
        return (finite(cell.get("peak_rss_mb")) or None) if cell else None

    @property
    def peak_memory_mb(self) -> float | None:
        """The largest peak RSS over the batch sizes."""
        values = [v for v in map(self.memory, self.cells) if v is not None]
        return max(values) if values else None

    @property
    def params_m(self) -> float | None:
        return next((c["params_m"] for c in self.cells.values() if c.get("params_m")), None)

    @property
    def accuracy(self) -> dict[str, Any]:
        """The accuracy record of the largest batch that has one (every batch sees the same images and
        the same artifact, so batch sizes agree up to kernel rounding)."""
        for batch in sorted(self.cells, reverse=True):
            if self.cells[batch].get("accuracy"):
                return self.cells[batch]["accuracy"]
        return {}

    @property
    def eval_set(self) -> EvalSet | None:
        """The images the accuracy was measured on (None without accuracy): top-1 is compared only within one."""
        return eval_set_of(self.accuracy)

    @property
    def untrusted(self) -> list[str]:
        """Why not to trust this deployment: the reasons of any of its cells (empty when trusted)."""
        return list(dict.fromkeys(reason for c in self.cells.values() for reason in untrusted_reasons(c)))

    @property
    def top1(self) -> float | None:
        return _pct(self.accuracy.get("top1"))

    @property
    def top5(self) -> float | None:
        return _pct(self.accuracy.get("top5"))

    # -- the task's own figures, in points: classify top-1/top-5, detect COCO mAP/AP50, segment mIoU/pixel
    # accuracy, depth δ1/AbsRel (x 100) -------------------------------------------------------------------
    @property
    def task(self) -> str:
        return TASK_OF_METRIC.get(self.accuracy.get("metric"), "classify")

    @property
    def figure(self) -> str:
        """The name of the task's main figure: top-1, mAP, mIoU or δ1."""
        return FIGURE_NAMES[TASK_FIGURE[self.task]]

    @property
    def score(self) -> float | None:
        """The task's main figure in points: top-1 %, mAP@[.5:.95] x 100, mIoU x 100 or δ1 x 100."""
        return self.top1 if self.task == "classify" else _pct(self.accuracy.get(TASK_FIGURES[self.task][0]))

    @property
    def score_ci(self) -> list[float]:
        interval = self.accuracy.get(f"{TASK_FIGURES[self.task][0]}_ci95") or []
        return [v * 100 for v in interval] if len(interval) == 2 else []

    @property
    def second_score(self) -> float | None:
        """Top-5 %, AP50 x 100, pixel accuracy x 100 or AbsRel x 100."""
        return self.top5 if self.task == "classify" else _pct(self.accuracy.get(TASK_FIGURES[self.task][1]))

    @property
    def published(self) -> tuple[float, str] | None:
        """The task's main figure as published for this model (points) and on what, when its spec carries it."""
        if self.task == "classify":
            return None
        reference = next((c.get("reference") for c in self.cells.values() if c.get("reference")), None) or {}
        value = reference.get(TASK_FIGURES[self.task][0])
        return (float(value), reference.get("dataset") or "") if value is not None else None

    @property
    def fidelity(self) -> float | None:
        """A task model's agreement with its own FP32 outputs, in points (no labels needed): mAP against FP32's
        confident boxes, mIoU against FP32's class maps, δ1 against FP32's depth; None for a classifier."""
        key = FIDELITY_FIGURE.get(self.task)
        return _pct((self.accuracy.get("fidelity") or {}).get(key)) if key else None

    @property
    def score_change(self) -> dict[str, Any]:
        """The paired change of the main figure against the model's FP32 (fractions, as recorded)."""
        if self.task == "classify":
            return self.change
        return (self.accuracy.get("vs_reference") or {}).get(f"{TASK_FIGURES[self.task][0]}_change") or {}

    @property
    def score_delta(self) -> float | None:
        """The main figure's paired change against the model's FP32, in points (top-1 for a classifier)."""
        return _pct(self.score_change.get("delta"))

    @property
    def representative(self) -> bool:
        return self.score is not None and self.accuracy.get("representative", True)

    @property
    def change(self) -> dict[str, Any]:
        """The paired top-1 change against the model's FP32 reference outputs (empty when not measured)."""
        return (self.accuracy.get("vs_reference") or {}).get("top1_change") or {}

    @property
    def top1_delta(self) -> float | None:
        return _pct(self.change.get("delta"))

    @property
    def agreement(self) -> float | None:
        return _pct((self.accuracy.get("vs_reference") or {}).get("top1_agreement"))

    def to_dict(self) -> dict[str, Any]:
        """A flat summary (for JSON, CSV and scripts)."""
        out: dict[str, Any] = {"device": self.device, "model": self.model, "runtime": self.runtime,
                               "precision": self.precision, "variant": self.variant, "size_mb": self.size_mb,
                               "peak_memory_mb": self.peak_memory_mb, "params_m": self.params_m,
                               "top1_pct": self.top1, "top5_pct": self.top5, "top1_delta_pt": self.top1_delta,
                               "top1_delta_verdict": self.change.get("verdict"),
                               "top1_delta_p": self.change.get("p_value"), "agreement_pct": self.agreement,
                               "accuracy_representative": self.representative if self.accuracy else None,
                               "eval_set_id": self.eval_set.eval_id if self.eval_set else None,
                               "eval_set": self.eval_set.label if self.eval_set else None,
                               "untrusted": "; ".join(self.untrusted)}
        if self.task != "classify":
            main, second = TASK_FIGURES[self.task]
            out.update({"task": self.task, f"{main}_pct": self.score, f"{second}_pct": self.second_score,
                        f"{main}_delta_pt": _pct(self.score_change.get("delta")),
                        f"{main}_delta_verdict": self.score_change.get("verdict")})
        for batch in self.batch_sizes:
            for stat in ("p50", "p99"):
                out[f"b{batch}_{stat}_ms"] = self.latency(batch, stat)
            out[f"b{batch}_throughput_ips"] = self.throughput(batch)
            if self.task != "classify":
                out[f"b{batch}_end_to_end_ms"] = self.end_to_end(batch)
            out[f"b{batch}_peak_rss_mb"] = self.memory(batch)
            out[f"b{batch}_p50_precision_pct"] = finite(self.p50_precision(batch).get("half_width_pct"))
            out[f"b{batch}_precision_met"] = self.p50_precision(batch).get("met")
            out[f"b{batch}_speedup_vs_pytorch_fp32"] = self.speedup_vs_pytorch(batch)
            versus = self.speedup_vs_pytorch_ci(batch) or {}
            out[f"b{batch}_speedup_vs_pytorch_fp32_lo"] = versus.get("lo")
            out[f"b{batch}_speedup_vs_pytorch_fp32_hi"] = versus.get("hi")
            out[f"b{batch}_speedup_vs_fp32"] = self.speedup_vs_fp32(batch)
            own = self.speedup_vs_fp32_ci(batch) or {}
            out[f"b{batch}_speedup_vs_fp32_lo"] = own.get("lo")
            out[f"b{batch}_speedup_vs_fp32_hi"] = own.get("hi")
            if self.device_kind == "gpu":
                out[f"b{batch}_gpu_compute_p50_ms"] = self.device_latency(batch)
                out[f"b{batch}_gpu_memory_mb"] = self.gpu_memory(batch)
        return out


def by_eval_set(deps: list[Deployment], *, scored: bool = False) -> dict[EvalSet, list[Deployment]]:
    """Deployments with a top-1 (``scored``: with their task's main figure, top-1, mAP, mIoU or δ1), grouped by the
    images it was measured on, in first-seen order."""
    groups: dict[EvalSet, list[Deployment]] = defaultdict(list)
    for d in deps:
        if (d.score if scored else d.top1) is not None and d.eval_set is not None:
            groups[d.eval_set].append(d)
    return dict(groups)


def deployments(results: list[dict[str, Any]]) -> list[Deployment]:
    """Every deployment with at least one successful cell, in the order the results first name them."""
    groups: dict[tuple[str, str, str, str, str], dict[int, dict[str, Any]]] = {}
    pytorch: dict[tuple[str, str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in results:
        if r.get("status") != "ok" or finite((r.get("latency_ms") or {}).get("p50")) is None:
            continue
        device = device_of(r)
        groups.setdefault((device, r["model"], r["runtime"], r["precision"], variant_of(r)), {})[r["batch_size"]] = r
        kind = r.get("device_kind") or "cpu"
        if r["runtime"] == PYTORCH_BASELINE.get(kind) and r["precision"] == "fp32" and not variant_of(r):
            pytorch[(device, kind, r["model"])][r["batch_size"]] = r
    out = []
    for (d, m, rt, p, v), cells in groups.items():
        kind = next(iter(cells.values())).get("device_kind") or "cpu"
        theirs = pytorch[(d, kind, m)]
        out.append(Deployment(device=d, model=m, runtime=rt, precision=p, variant=v, cells=cells,
                              pytorch_fp32={b: r["latency_ms"]["p50"] for b, r in theirs.items()},
                              pytorch_fp32_cells=dict(theirs)))
    return out
