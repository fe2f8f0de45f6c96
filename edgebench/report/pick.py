"""``edgebench pick``: which measured deployment to ship on one device, under the user's constraints.

Nothing is measured here: the deployments come from run folders. ``pick`` is pure (deployments in, ranking
out) so it can be tested without runs; ``pick_command`` loads, chooses the device and prints.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, fields
from typing import Any, Callable

from edgebench.errors import ConfigError
from edgebench.report.deployments import LATENCY_STATS, Deployment, by_device, deployments
from edgebench.report.exports import json_safe
from edgebench.report.runs import all_results, load_runs

EXIT_NOTHING_QUALIFIES = 3
NEAR_MISSES = 3
OBJECTIVES = ("latency", "accuracy", "size", "throughput")
# Measurements and limits are floats from different sources (fractions times 100, user text): a limit met
# to within this much is met, so "top-1 75% >= 75%" never fails on the last bit.
_EPS = 1e-9


@dataclass(kw_only=True, frozen=True)
class Constraints:
    """What the user requires; ``None`` means no constraint. Accuracy in percent, drop in points."""

    max_latency_ms: float | None = None
    min_top1: float | None = None
    max_size_mb: float | None = None
    max_memory_mb: float | None = None
    max_gpu_memory_mb: float | None = None
    max_accuracy_drop: float | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Constraints:
        return cls(**{f.name: getattr(args, f.name, None) for f in fields(cls)})

    def given(self) -> dict[str, float]:
        """Only the constraints that were asked for (what the JSON reports)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(kw_only=True)
class Miss:
    """A candidate that breaks at least one constraint, with what it breaks (in words)."""

    deployment: Deployment
    breaks: list[str]


@dataclass(kw_only=True)
class PickResult:
    """Candidates split into those that qualify and those that do not, both ranked by the objective."""

    objective: str
    batch_size: int
    latency_stat: str
    constraints: Constraints
    qualifying: list[Deployment]
    misses: list[Miss]

    @property
    def near_misses(self) -> list[Miss]:
        return self.misses[:NEAR_MISSES]


def _number(value: float) -> str:
    """A limit as the user typed it: 10 not 10.0, 0.5 as 0.5."""
    return f"{value:g}"


def _measured(value: float, limit: float) -> str:
    """A measured value with one decimal, or more when one would print it equal to the limit it breaks."""
    for digits in range(1, 5):
        text = f"{value:.{digits}f}"
        if float(text) != limit:
            return text
    return f"{value:g}"


def accuracy_drop(deployment: Deployment) -> float | None:
    """Points of top-1 lost against the FP32 reference; a gain counts as no drop."""
    delta = deployment.top1_delta
    return None if delta is None else max(0.0, -delta)


def _above(what: str, value: float | None, limit: float | None, unit: str, missing: str) -> str | None:
    """The broken-constraint text when ``value`` exceeds ``limit`` (or is missing), else None."""
    if limit is None:
        return None
    if value is None:
        return missing
    if value > limit + _EPS:
        return f"{what} {_measured(value, limit)}{unit} > {_number(limit)}{unit}"
    return None


def breaks(deployment: Deployment, constraints: Constraints, *, batch_size: int, latency_stat: str = "p50") -> list[str]:
    """Every constraint the deployment breaks, in words; an unmeasured value breaks the constraint on it,
    since nothing says it would hold."""
    out: list[str] = []
    latency = _above(f"latency {latency_stat}", deployment.latency(batch_size, latency_stat),
                     constraints.max_latency_ms, " ms", "no latency measured")
    if latency:
        out.append(latency)
    if constraints.min_top1 is not None:
        top1 = deployment.top1
        if top1 is None:
            out.append("no accuracy measured")
        elif top1 < constraints.min_top1 - _EPS:
            out.append(f"top-1 {_measured(top1, constraints.min_top1)}% < {_number(constraints.min_top1)}%")
    size = _above("size", deployment.size_mb, constraints.max_size_mb, " MB", "no size measured")
    if size:
        out.append(size)
    memory = _above("peak memory", deployment.memory(batch_size), constraints.max_memory_mb, " MB", "no memory measured")
    if memory:
        out.append(memory)
    gpu = _above("GPU memory", deployment.gpu_memory(batch_size), constraints.max_gpu_memory_mb, " MB",
                 "no GPU memory measured")
    if gpu:
        out.append(gpu)
    if constraints.max_accuracy_drop is not None:
        missing = "no accuracy measured" if deployment.top1 is None else "no accuracy drop measured (no FP32 reference)"
        drop = _above("accuracy drop", accuracy_drop(deployment), constraints.max_accuracy_drop, " pt", missing)
        if drop:
            out.append(drop)
    return out


def _last_if_none(value: float | None) -> tuple[bool, float]:
    """Sort key part that puts missing values after every measured one."""
    return (value is None, 0.0 if value is None else value)


def rank_key(objective: str, *, batch_size: int, latency_stat: str = "p50") -> Callable[[Deployment], tuple]:
    """Sort key for an objective: best first, unmeasured last, ties broken by latency then by name."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; use one of {', '.join(OBJECTIVES)}")

    def primary(d: Deployment) -> tuple[bool, float]:
        if objective == "accuracy":
            return _last_if_none(None if d.top1 is None else -d.top1)
        if objective == "size":
            return _last_if_none(d.size_mb)
        if objective == "throughput":
            value = d.throughput(batch_size)
            return _last_if_none(None if value is None else -value)
        return _last_if_none(d.latency(batch_size, latency_stat))

    def key(d: Deployment) -> tuple:
        return (*primary(d), *_last_if_none(d.latency(batch_size, latency_stat)), d.model, d.runtime, d.precision)

    return key


def pick(candidates: list[Deployment], constraints: Constraints, *, objective: str, batch_size: int,
         latency_stat: str = "p50") -> PickResult:
    """Split the candidates by the constraints and rank both sides by the objective."""
    ranked = sorted(candidates, key=rank_key(objective, batch_size=batch_size, latency_stat=latency_stat))
    qualifying: list[Deployment] = []
    misses: list[Miss] = []
    for deployment in ranked:
        broken = breaks(deployment, constraints, batch_size=batch_size, latency_stat=latency_stat)
        if broken:
            misses.append(Miss(deployment=deployment, breaks=broken))
        else:
            qualifying.append(deployment)
    return PickResult(objective=objective, batch_size=batch_size, latency_stat=latency_stat,
                      constraints=constraints, qualifying=qualifying, misses=misses)


# ---- choosing the device and the candidates ------------------------------------------------------------

def choose_device(devices: list[str], wanted: str | None) -> str:
    """The device to pick for: the one asked for, or the only one in the runs."""
    if wanted is not None:
        if wanted not in devices:
            raise ConfigError(f"no results for device {wanted!r} in these runs; known devices: {', '.join(devices)} "
                              "(pass --device with one of them)")
        return wanted
    if len(devices) > 1:
        raise ConfigError(f"these runs hold several devices: {', '.join(devices)}; pass --device NAME to pick for one")
    return devices[0]


def not_candidates(records: list[dict[str, Any]], batch_size: int) -> Counter[str]:
    """Cells at this batch size that did not succeed, by status: they could not be ranked, and the user
    should know they were not considered rather than beaten."""
    return Counter(r.get("status") or "unknown" for r in records
                   if r.get("batch_size") == batch_size and not (r.get("status") == "ok" and r.get("latency_ms")))


def candidates(all_deployments: list[Deployment], device: str, batch_size: int, failed: Counter[str]) -> list[Deployment]:
    """Deployments on the device with a successful cell at the batch size; none is a usage error."""
    on_device = [d for d in all_deployments if d.device == device]
    found = [d for d in on_device if batch_size in d.cells]
    if found:
        return found
    measured = sorted({b for d in on_device for b in d.batch_sizes})
    lost = f" ({sum(failed.values())} cell(s) at batch size {batch_size} failed or were skipped)" if failed else ""
    if not measured:
        raise ConfigError(f"no cell succeeded on {device}{lost}; nothing to pick from (see `edgebench report`)")
    raise ConfigError(f"no deployment on {device} succeeded at batch size {batch_size}{lost}; measured batch sizes "
                      f"there: {', '.join(map(str, measured))} (pass --batch-size with one of them)")


# ---- output ----------------------------------------------------------------------------------------------

def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# How each constraint reads in words ({stat}: the latency statistic), in the order they are printed.
_CONSTRAINT_TEXT = (("max_latency_ms", "latency {stat} <= {value} ms"), ("min_top1", "top-1 >= {value}%"),
                    ("max_size_mb", "size <= {value} MB"), ("max_memory_mb", "peak memory <= {value} MB"),
                    ("max_gpu_memory_mb", "GPU memory <= {value} MB"),
                    ("max_accuracy_drop", "top-1 drop vs FP32 <= {value} pt"))


def describe_constraints(constraints: Constraints, latency_stat: str) -> str:
    parts = [text.format(stat=latency_stat, value=_number(getattr(constraints, name)))
             for name, text in _CONSTRAINT_TEXT if getattr(constraints, name) is not None]
    return ", ".join(parts) or "none"


def describe_objective(objective: str, latency_stat: str) -> str:
    what = {"latency": f"lowest latency {latency_stat}", "accuracy": "highest top-1 (unmeasured last)",
            "size": "smallest size", "throughput": "highest throughput"}[objective]
    return what if objective == "latency" else f"{what}, ties by latency {latency_stat}"


def _marked_top1(d: Deployment, unit: str = "") -> str:
    """Top-1 with ``*`` when the run said it is not representative (random weights, synthetic calibration)."""
    if d.top1 is None:
        return "-"
    return f"{d.top1:.2f}{unit}" + ("" if d.representative else "*")


def _layout(header: list[str], rows: list[list[str]], left: set[int]) -> list[str]:
    """Plain-text columns: those in ``left`` left-aligned (names, words), the rest right-aligned (numbers)."""
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), line(["-" * w for w in widths]), *map(line, rows)]


def ranked_table(result: PickResult, top: int) -> list[str]:
    """The qualifying deployments, best first, at most ``top`` rows."""
    b, stat = result.batch_size, result.latency_stat
    stats = [s for s in LATENCY_STATS if s in ("p50", "p99", stat)]
    header = ["#", "Model", "Runtime", "Precision", *[f"{s} ms" for s in stats], "img/s", "Size MB",
              "Peak mem MB", "Top-1 %", "Δ top-1 pt vs FP32", "Verdict"]
    rows = [[str(i), d.model, d.runtime, d.precision, *[_fmt(d.latency(b, s)) for s in stats],
             _fmt(d.throughput(b), 1), _fmt(d.size_mb), _fmt(d.memory(b), 0), _marked_top1(d),
             "-" if d.top1_delta is None else f"{d.top1_delta:+.2f}", d.change.get("verdict") or ""]
            for i, d in enumerate(result.qualifying[:top], start=1)]
    return _layout(header, rows, left={1, 2, 3, len(header) - 1})


def _footnote(shown: list[Deployment]) -> list[str]:
    """Explain the ``*`` when a shown top-1 carries it."""
    if not any(d.top1 is not None and not d.representative for d in shown):
        return []
    return ["", "* top-1 not representative (random weights, synthetic or overlapping calibration images): it "
                "measures nothing about the model; Δ top-1 still measures the precision's fidelity."]


def render_text(result: PickResult, *, device: str, top: int, failed: Counter[str]) -> str:
    """What a person reads: the question asked, the ranking, what came close, what was not considered."""
    b, stat = result.batch_size, result.latency_stat
    total = len(result.qualifying) + len(result.misses)
    lines = [f"Pick for {device} at batch size {b}: {len(result.qualifying)} of {total} deployment(s) "
             "meet the constraints.",
             f"Constraints: {describe_constraints(result.constraints, stat)}.",
             f"Objective: {describe_objective(result.objective, stat)}.", ""]
    if result.qualifying:
        shown = min(top, len(result.qualifying))
        if shown < len(result.qualifying):
            lines.append(f"Top {shown} of {len(result.qualifying)} (--top shows more):")
        lines += ranked_table(result, top)
    else:
        lines.append("No deployment meets the constraints.")
    if result.near_misses:
        lines += ["", f"Nearest misses (best by {result.objective} among those breaking constraints):"]
        for i, miss in enumerate(result.near_misses, start=1):
            d = miss.deployment
            lines.append(f"  {i}. {d.model} {d.label} ({stat} {_fmt(d.latency(b, stat))} ms, "
                         f"top-1 {_marked_top1(d, '%')}, size {_fmt(d.size_mb)} MB): "
                         + "; ".join(miss.breaks))
    lines += _footnote(result.qualifying[:top] + [m.deployment for m in result.near_misses])
    if failed:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(failed.items()))
        lines += ["", f"Not candidates: {sum(failed.values())} cell(s) on {device} at batch size {b} did not "
                      f"succeed ({counts}); `edgebench report` says why."]
    return "\n".join(lines)


def _deployment_json(d: Deployment, batch_size: int, latency_stat: str, **extra: Any) -> dict[str, Any]:
    out = {**extra, **d.to_dict(), "label": d.label,
           f"b{batch_size}_{latency_stat}_ms": d.latency(batch_size, latency_stat),
           "accuracy_drop_pt": accuracy_drop(d)}
    return json_safe(out)


def render_json(result: PickResult, *, device: str, top: int, failed: Counter[str]) -> str:
    """One object for scripts, with the same ranking as the text."""
    b, stat = result.batch_size, result.latency_stat
    doc = {"device": device, "batch_size": b, "objective": result.objective, "latency_stat": stat,
           "constraints": result.constraints.given(),
           "qualifying": [_deployment_json(d, b, stat, rank=i)
                          for i, d in enumerate(result.qualifying[:top], start=1)],
           "qualifying_total": len(result.qualifying),
           "near_misses": [_deployment_json(m.deployment, b, stat, breaks=m.breaks) for m in result.near_misses],
           "not_candidates": sum(failed.values()),
           "not_candidates_by_status": dict(sorted(failed.items()))}
    return json.dumps(doc, indent=2, allow_nan=False)


def pick_command(args: argparse.Namespace) -> int:
    """``edgebench pick``: 0 when something qualifies, ``EXIT_NOTHING_QUALIFIES`` when nothing does (the near
    misses are still printed, so a script can tell "relax the constraints" from a usage error)."""
    results = all_results(load_runs(args.runs))
    groups = by_device(results)
    device = choose_device(list(groups), args.device)
    failed = not_candidates(groups[device], args.batch_size)
    found = candidates(deployments(groups[device]), device, args.batch_size, failed)
    result = pick(found, Constraints.from_args(args), objective=args.objective, batch_size=args.batch_size,
                  latency_stat=args.latency_stat)
    render = render_json if args.json else render_text
    print(render(result, device=device, top=args.top, failed=failed))
    return 0 if result.qualifying else EXIT_NOTHING_QUALIFIES
