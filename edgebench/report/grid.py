"""Per model, the runtime × precision grid; one sortable table of every deployment; and, for several machines,
the same deployment side by side with one column per machine (never one column holding two machines)."""
from __future__ import annotations

from typing import Any

from edgebench.report.deployments import Deployment, variant_of
from edgebench.report.document import Cell, Table, num, text
from edgebench.report.evalsets import UNTRUSTED_MARK, EvalSet
from edgebench.report.precision import latency_cell, ratio_text

SMALL, BIG = 1, 32  # the batch sizes the grid shows: latency at 1, throughput at 32 (when measured)


def _batches(deps: list[Deployment]) -> tuple[int, int | None]:
    """The latency batch and the throughput batch; None for the second when one batch size was measured (its
    columns would repeat the first's under another batch's headers)."""
    sizes = sorted({b for d in deps for b in d.batch_sizes})
    small = SMALL if SMALL in sizes else (sizes[0] if sizes else SMALL)
    big = BIG if BIG in sizes else (sizes[-1] if sizes else BIG)
    return small, (big if big != small else None)


def _accuracy_cells(d: Deployment, named: bool = False) -> list[Cell]:
    """The task's main figure with its interval, its second figure, and the paired change against FP32
    (``named``: in a table of several tasks, a detector's figure says it is a mAP)."""
    if not d.accuracy:
        return [Cell(""), Cell(""), Cell("")]
    if d.score is None:
        return [Cell("no labels" if d.accuracy.get("labels") is False else "not measured"), Cell(""), Cell("")]
    mark = "" if d.representative else " *"
    interval = d.score_ci
    bounds = f" [{interval[0]:.1f}, {interval[1]:.1f}]" if len(interval) == 2 else ""
    name = f"{d.figure} " if d.task != "classify" and named else ""
    published = d.published
    pub = f" (pub. {published[0]:.1f}{' on ' + published[1] if published[1] else ''})" if published else ""
    main = Cell(f"{name}{d.score:.2f}{bounds}{mark}{pub}", d.score)
    change = d.score_change
    delta = _pct(change.get("delta"))
    if delta is None:
        return [main, num(d.second_score, 2), Cell("")]
    p_value = change.get("p_value")
    detail = ", ".join(x for x in (change.get("verdict"), p_value is not None and f"p={p_value:.2g}") if x)
    return [main, num(d.second_score, 2), Cell(f"{delta:+.2f}" + (f" ({detail})" if detail else ""), delta)]


def _pct(value: float | None) -> float | None:
    return None if value is None else value * 100.0


def _speedup(value: float | None, ci: dict[str, Any] | None = None, note: str = "") -> Cell:
    """A speed-up with its 95% CI when known; sorts on the speed-up."""
    return Cell(ratio_text(value, ci) + note, value) if value else Cell("")


def _p50(d: Deployment, batch: int, digits: int) -> Cell:
    return latency_cell(d.latency(batch), d.cells.get(batch), digits)


def _has_gpu(deps: list[Deployment]) -> bool:
    return any(d.device_kind == "gpu" for d in deps)


def _row(d: Deployment, small: int, big: int | None, gpu: bool, named: bool = False, e2e: bool = False) -> list[Cell]:
    """The cells under ``_columns``: with one batch size (``big`` None), its columns once (``e2e``: with the
    end-to-end column of a table with detectors, segmenters or depth models)."""
    slower = (d.cells.get(small) or {}).get("slower_than_fp32")
    row = [_p50(d, small, 2), num(d.latency(small, "p99"), 2), *([num(d.end_to_end(small), 2)] if e2e else [])]
    fidelity = [num(d.fidelity, 1)] if e2e else []
    row += [_p50(d, big, 1), num(d.throughput(big), 1)] if big is not None else [num(d.throughput(small), 1)]
    if gpu:
        row += [num(d.device_latency(small), 3)]
        row += [num(d.device_latency(big), 2), num(d.gpu_memory(big), 0)] if big is not None else \
            [num(d.gpu_memory(small), 0)]
    row += [num(d.memory(small), 0), *([num(d.memory(big), 0)] if big is not None else []), num(d.size_mb, 2),
            *([num(d.params_m, 2)] if e2e else []), *_accuracy_cells(d, named), *fidelity,
            _speedup(d.speedup_vs_fp32(small), d.speedup_vs_fp32_ci(small), " (slower)" if slower else ""),
            _speedup(d.speedup_vs_pytorch(small), d.speedup_vs_pytorch_ci(small))]
    return row + ([_speedup(d.speedup_vs_pytorch(big), d.speedup_vs_pytorch_ci(big))] if big is not None else [])


# The accuracy columns' headers by the tasks in a table: its main figure, its second, the paired change.
_ACCURACY_HEADERS = {
    frozenset({"classify"}): ("Top-1 %{on} [95% CI]", "Top-5 %{on}", "Δ top-1 vs FP32 (pt)"),
    frozenset({"detect"}): ("COCO mAP{on} [95% CI]", "AP50{on}", "Δ mAP vs FP32 (pt)"),
    frozenset({"segment"}): ("mIoU{on} [95% CI]", "Pixel accuracy{on}", "Δ mIoU vs FP32 (pt)"),
    frozenset({"depth"}): ("δ1{on} [95% CI]", "AbsRel x 100{on}", "Δ δ1 vs FP32 (pt)"),
}
_MIXED_HEADERS = ("Task figure{on} [95% CI]", "Second figure{on}", "Δ vs FP32 (pt)")
# Agreement with the model's own FP32 outputs on the same images, labels or not (edgebench.tasks.*.fidelity).
_FIDELITY_HEADERS = {frozenset({"detect"}): "mAP vs FP32's boxes (pt)", frozenset({"segment"}): "mIoU vs FP32's maps (pt)",
                     frozenset({"depth"}): "δ1 vs FP32's depth (pt)"}


def _columns(small: int, big: int | None, gpu: bool, on: str,
             tasks: frozenset[str] = frozenset({"classify"})) -> list[str]:
    """Latency columns are host time per call; with GPU runtimes, the CUDA-event time of the kernels follows.
    ``on`` names the evaluation set of the accuracy columns when the table has one. With one batch size
    (``big`` None) each column appears once, under that batch's name."""
    main, second, delta = (h.format(on=on) for h in _ACCURACY_HEADERS.get(tasks, _MIXED_HEADERS))
    e2e = [f"b{small} end to end per image (ms)"] if tasks - {"classify"} else []
    fidelity = [_FIDELITY_HEADERS.get(tasks, "Fidelity to FP32's outputs (pt)")] if e2e else []
    params = ["Params (M)"] if e2e else []  # the task tables take the reference table's form
    if big is None:
        gpu_columns = [f"b{small} GPU compute p50 (ms)", f"b{small} GPU memory (MB)"]
        return [f"b{small} p50 (ms)", f"b{small} p99 (ms)", *e2e, f"img/s at b{small}", *(gpu_columns if gpu else []),
                f"b{small} peak RSS (MB)", "Size (MB)", *params, main, second,
                delta, *fidelity, f"b{small} vs own FP32", f"b{small} vs PyTorch FP32"]
    gpu_columns = [f"b{small} GPU compute p50 (ms)", f"b{big} GPU compute p50 (ms)", f"b{big} GPU memory (MB)"]
    return [f"b{small} p50 (ms)", f"b{small} p99 (ms)", *e2e, f"ms / batch {big}", f"img/s at b{big}",
            *(gpu_columns if gpu else []),
            f"b{small} peak RSS (MB)", f"b{big} peak RSS (MB)", "Size (MB)", *params, main, second,
            delta, *fidelity, f"b{small} vs own FP32", f"b{small} vs PyTorch FP32", f"b{big} vs PyTorch FP32"]


def eval_sets(deps: list[Deployment]) -> list[EvalSet]:
    """The evaluation sets of the deployments' top-1, in first-seen order."""
    return list(dict.fromkeys(d.eval_set for d in deps if d.score is not None and d.eval_set is not None))


def marked(name: str, untrusted: bool) -> Cell:
    """A row's first cell, marked when the row must not be trusted."""
    return text(f"{name} {UNTRUSTED_MARK}" if untrusted else name)


def _table(deps: list[Deployment], fields: tuple[str, ...]) -> Table:
    """A row per deployment, named by its ``fields`` (and its recipe variant, when any deployment has one).
    With one evaluation set the accuracy headers name it; with several, a column says each row's set."""
    fields = _with_variant(deps, fields)
    names = [f.capitalize() for f in fields]
    small, big = _batches(deps)
    gpu = _has_gpu(deps)
    sets = eval_sets(deps)
    on = f" on {sets[0].label}" if len(sets) == 1 else ""
    tasks = frozenset(d.task for d in deps if d.accuracy) or frozenset({"classify"})
    columns = _columns(small, big, gpu, on, tasks)
    named = len(tasks) > 1
    if len(sets) > 1:
        names = [*names, "Accuracy measured on" if named or tasks != {"classify"} else "Top-1 measured on"]
    rows = []
    for d in deps:
        first, *rest = (text(getattr(d, f)) for f in fields)
        row = [marked(first.text, bool(d.untrusted)), *rest]
        if len(sets) > 1:
            row.append(text(d.eval_set.label if d.eval_set and d.score is not None else ""))
        rows.append([*row, *_row(d, small, big, gpu, named, e2e=bool(tasks - {"classify"}))])
    return Table(columns=[*names, *columns], rows=rows, numeric=set(range(len(names), len(names) + len(columns))))


def _with_variant(deps: list[Deployment], fields: tuple[str, ...]) -> tuple[str, ...]:
    """A "variant" field only when a deployment is a recipe variant: plain runs keep their columns."""
    return (*fields, "variant") if any(d.variant for d in deps) else fields


def model_grid(deps: list[Deployment]) -> Table:
    """The grid of one model on one machine: a row per runtime, precision (and recipe variant, when any)."""
    return _table(deps, ("runtime", "precision"))


def all_deployments(deps: list[Deployment]) -> Table:
    """Every deployment of one machine in one table (sort it in the HTML page)."""
    return _table(deps, ("model", "runtime", "precision"))


def across_devices(deps: list[Deployment], devices: list[str], batch: int = SMALL) -> Table:
    """p50 at ``batch`` with one column per machine: values from different machines never share a column."""
    fields = _with_variant(deps, ("model", "runtime", "precision"))
    names = [f.capitalize() for f in fields]
    by_key: dict[tuple[str, ...], dict[str, Deployment]] = {}
    for d in deps:
        by_key.setdefault(tuple(getattr(d, f) for f in fields), {})[d.device] = d
    rows = []
    for (model, *rest), per_device in by_key.items():
        row = [marked(model, any(d.untrusted for d in per_device.values())), *map(text, rest)]
        row += [_p50(per_device[dev], batch, 2) if dev in per_device else Cell("") for dev in devices]
        rows.append(row)
    return Table(columns=[*names, *[f"{dev}: b{batch} p50 (ms)" for dev in devices]],
                 rows=rows, numeric=set(range(len(names), len(names) + len(devices))))


def failed_rows(results: list[dict[str, Any]]) -> Table:
    """Every failed or skipped cell with its reason (and its recipe variant, when any cell has one)."""
    bad = [r for r in results if r["status"] != "ok"]
    variants = any(variant_of(r) for r in bad)
    rows = [[text(r["model"]), text(r["runtime"]), text(r["precision"]), *([text(variant_of(r))] if variants else []),
             num(r["batch_size"], 0), text(r["status"]), text(r.get("reason") or "no reason recorded")] for r in bad]
    names = ["Model", "Runtime", "Precision", *(["Variant"] if variants else [])]
    return Table(columns=[*names, "Batch", "Status", "Reason"], rows=rows, numeric={len(names)})
