"""``edgebench pick``: which measured deployment to ship on one device, under the user's constraints.

Nothing is measured here: the deployments come from run folders. ``pick`` is pure (deployments in, ranking
out) so it can be tested without runs; ``pick_command`` loads, chooses the device and prints. An untrusted
deployment is never ranked, and top-1 is compared only between deployments evaluated on the same images.
"""
from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from edgebench.errors import ConfigError
from edgebench.report.deployments import Deployment, by_device, by_eval_set, deployments, figure_name
from edgebench.report.evalsets import EvalSet, choose_eval_set
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

    @property
    def on_accuracy(self) -> bool:
        """Whether a constraint compares top-1 across candidates."""
        return self.min_top1 is not None or self.max_accuracy_drop is not None


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
    untrusted: list[Deployment] = field(default_factory=list)  # never ranked, whatever they measured
    eval_set: EvalSet | None = None  # the images every top-1 compared is on (None: no top-1 is compared)
    eval_sets: list[EvalSet] = field(default_factory=list)  # every set the candidates' top-1 is on
    figure: str = "top-1"  # the candidates' main figure: top-1, mAP, mIoU or δ1 (a task model's)

    @property
    def near_misses(self) -> list[Miss]:
        return self.misses[:NEAR_MISSES]


def limit_text(value: float) -> str:
    """A limit as the user typed it: 10 not 10.0, 0.5 as 0.5."""
    return f"{value:g}"


def _measured(value: float, limit: float) -> str:
    """A measured value with one decimal, or more when one would print it equal to the limit it breaks."""
    for digits in range(1, 5):
        text = f"{value:.{digits}f}"
        if float(text) != limit:
            return text
    return f"{value:g}"


def top1_on(deployment: Deployment, eval_set: EvalSet | None) -> float | None:
    """The main figure (top-1; a task model's mAP, mIoU or δ1) when it was measured on ``eval_set`` (any set when
    None): other images give another quantity."""
    if eval_set is not None and deployment.eval_set != eval_set:
        return None
    return deployment.score


def accuracy_drop(deployment: Deployment, eval_set: EvalSet | None = None) -> float | None:
    """Points of the main figure lost against the FP32 reference; a gain counts as no drop."""
    delta = deployment.score_delta if top1_on(deployment, eval_set) is not None else None
    return None if delta is None else max(0.0, -delta)


def _no_accuracy(deployment: Deployment, eval_set: EvalSet | None) -> str:
    if deployment.score is not None and eval_set is not None and deployment.eval_set != eval_set:
        other = deployment.eval_set.label if deployment.eval_set else "other images"
        return f"{deployment.figure} measured on {other}, not on {eval_set.label}"
    return "no accuracy measured"


def _above(what: str, value: float | None, limit: float | None, unit: str, missing: str) -> str | None:
    """The broken-constraint text when ``value`` exceeds ``limit`` (or is missing), else None."""
    if limit is None:
        return None
    if value is None:
        return missing
    if value > limit + _EPS:
        return f"{what} {_measured(value, limit)}{unit} > {limit_text(limit)}{unit}"
    return None


def breaks(deployment: Deployment, constraints: Constraints, *, batch_size: int, latency_stat: str = "p50",
           eval_set: EvalSet | None = None) -> list[str]:
    """Every constraint the deployment breaks, in words; an unmeasured value breaks the constraint on it,
    since nothing says it would hold. Top-1 counts only on ``eval_set`` when one is given."""
    out: list[str] = []
    latency = _above(f"latency {latency_stat}", deployment.latency(batch_size, latency_stat),
                     constraints.max_latency_ms, " ms", "no latency measured")
    if latency:
        out.append(latency)
    if constraints.min_top1 is not None:
        top1 = top1_on(deployment, eval_set)
        if top1 is None:
            out.append(_no_accuracy(deployment, eval_set))
        elif top1 < constraints.min_top1 - _EPS:
            out.append(f"{deployment.figure} {_measured(top1, constraints.min_top1)}% < "
                       f"{limit_text(constraints.min_top1)}%")
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
        missing = _no_accuracy(deployment, eval_set) if top1_on(deployment, eval_set) is None \
            else "no accuracy drop measured (no FP32 reference)"
        drop = _above("accuracy drop", accuracy_drop(deployment, eval_set), constraints.max_accuracy_drop, " pt", missing)
        if drop:
            out.append(drop)
    return out


def _last_if_none(value: float | None) -> tuple[bool, float]:
    """Sort key part that puts missing values after every measured one."""
    return (value is None, 0.0 if value is None else value)


def rank_key(objective: str, *, batch_size: int, latency_stat: str = "p50",
             eval_set: EvalSet | None = None) -> Callable[[Deployment], tuple]:
    """Sort key for an objective: best first, unmeasured last, ties broken by latency then by name."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; use one of {', '.join(OBJECTIVES)}")

    def primary(d: Deployment) -> tuple[bool, float]:
        if objective == "accuracy":
            top1 = top1_on(d, eval_set)
            return _last_if_none(None if top1 is None else -top1)
        if objective == "size":
            return _last_if_none(d.size_mb)
        if objective == "throughput":
            value = d.throughput(batch_size)
            return _last_if_none(None if value is None else -value)
        return _last_if_none(d.latency(batch_size, latency_stat))

    def key(d: Deployment) -> tuple:
        return (*primary(d), *_last_if_none(d.latency(batch_size, latency_stat)), d.model, d.runtime, d.precision,
                d.variant)

    return key


def accuracy_set(candidates: list[Deployment], constraints: Constraints, objective: str,
                 wanted: str | None = None) -> EvalSet | None:
    """The evaluation set whose top-1 the pick compares: the one named, or the only one. When the candidates'
    top-1 comes from several sets and a constraint or the objective compares top-1, the user must choose:
    ranking top-1 on CIFAR-10 against top-1 on ImageNet would answer nothing."""
    trusted = [d for d in candidates if not d.untrusted]
    figure = figure_name(trusted)
    if figure == "accuracy" and (constraints.on_accuracy or objective == "accuracy"):
        raise ConfigError("these runs hold models of several tasks (top-1, mAP, mIoU or δ1): one task's figure does "
                          "not rank against another's; pick from the runs of one task")
    sets = list(by_eval_set(trusted, scored=True))
    if wanted is not None:
        return choose_eval_set(sets, wanted)
    if len(sets) > 1 and (constraints.on_accuracy or objective == "accuracy"):
        raise ConfigError(f"top-1 here is measured on {len(sets)} different evaluation sets: "
                          + "; ".join(s.label for s in sets) + "; pass --eval-set NAME (folder name or id) to "
                          "compare top-1 on one of them")
    return sets[0] if len(sets) == 1 else None


def pick(candidates: list[Deployment], constraints: Constraints, *, objective: str, batch_size: int,
         latency_stat: str = "p50", eval_set: EvalSet | None = None) -> PickResult:
    """Split the candidates by the constraints and rank both sides by the objective. Untrusted deployments
    are set apart first: they are never recommended and never offered as near misses."""
    trusted = [d for d in candidates if not d.untrusted]
    ranked = sorted(trusted, key=rank_key(objective, batch_size=batch_size, latency_stat=latency_stat,
                                          eval_set=eval_set))
    qualifying: list[Deployment] = []
    misses: list[Miss] = []
    for deployment in ranked:
        broken = breaks(deployment, constraints, batch_size=batch_size, latency_stat=latency_stat, eval_set=eval_set)
        if broken:
            misses.append(Miss(deployment=deployment, breaks=broken))
        else:
            qualifying.append(deployment)
    return PickResult(objective=objective, batch_size=batch_size, latency_stat=latency_stat,
                      constraints=constraints, qualifying=qualifying, misses=misses,
                      untrusted=[d for d in candidates if d.untrusted], eval_set=eval_set,
                      eval_sets=list(by_eval_set(trusted, scored=True)), figure=figure_name(trusted))


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


def pick_command(args: argparse.Namespace) -> int:
    """``edgebench pick``: 0 when something qualifies, ``EXIT_NOTHING_QUALIFIES`` when nothing does (the near
    misses are still printed, so a script can tell "relax the constraints" from a usage error)."""
    results = all_results(load_runs(args.runs))
    groups = by_device(results)
    device = choose_device(list(groups), args.device)
    failed = not_candidates(groups[device], args.batch_size)
    found = candidates(deployments(groups[device]), device, args.batch_size, failed)
    constraints = Constraints.from_args(args)
    eval_set = accuracy_set(found, constraints, args.objective, getattr(args, "eval_set", None))
    result = pick(found, constraints, objective=args.objective, batch_size=args.batch_size,
                  latency_stat=args.latency_stat, eval_set=eval_set)
    from edgebench.report.pick_render import render_json, render_text

    render = render_json if args.json else render_text
    print(render(result, device=device, top=args.top, failed=failed))
    return 0 if result.qualifying else EXIT_NOTHING_QUALIFIES
