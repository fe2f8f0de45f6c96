"""PNG plots of one machine's deployments (matplotlib, drawn off-screen): accuracy against latency with the
Pareto frontier, size against accuracy, and latency per model and runtime."""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.errors import ConfigError
from edgebench.report.deployments import Deployment
from edgebench.report.pareto import pareto_front

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MARKERS = "osD^vP*Xh<>"


def available() -> str | None:
    """None when plots can be drawn, else why not (with the fix)."""
    if importlib.util.find_spec("matplotlib") is None:
        return "plots need matplotlib: pip install 'edgebench[report]'"
    return None


def _figure(width: float = 8.0, height: float = 5.0) -> "Figure":
    why_not = available()
    if why_not:
        raise ConfigError(why_not)
    from matplotlib.figure import Figure  # the object API: no pyplot, no display, no global state

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _series(deps: list[Deployment]) -> dict[str, list[Deployment]]:
    series: dict[str, list[Deployment]] = {}
    for d in deps:
        series.setdefault(d.label, []).append(d)
    return series


def _short(model: str) -> str:
    return model.split(":", 1)[-1]


def _scatter(deps: list[Deployment], x_of: Callable[[Deployment], float | None], x_label: str, title: str, path: Path,
             frontier: bool) -> Path:
    fig = _figure()
    ax = fig.add_subplot()
    points = [(x_of(d), d.top1) for d in deps]
    for index, (label, members) in enumerate(_series(deps).items()):
        ax.scatter([x_of(d) for d in members], [d.top1 for d in members], label=label,
                   marker=MARKERS[index % len(MARKERS)], s=36, alpha=0.85)
    # The frontier only over accuracy that means something: random weights' top-1 would draw a false one,
    # and an untrusted result (a failed parity check, ...) must never look like a best choice.
    real = [i for i, d in enumerate(deps) if d.representative and not d.untrusted]
    untrusted = [d for d in deps if d.untrusted]
    if untrusted:
        ax.scatter([x_of(d) for d in untrusted], [d.top1 for d in untrusted], marker="x", color="red", s=70,
                   linewidths=1.2, label="untrusted (not in the frontier)")
    if frontier and real:
        front = [real[j] for j in pareto_front([points[i] for i in real])]
        ax.step([points[i][0] for i in front], [points[i][1] for i in front], where="post", color="black",
                linewidth=1, linestyle="--", label="Pareto frontier")
        for i in front:
            ax.annotate(_short(deps[i].model), points[i], textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel(x_label)
    evalsets = {d.eval_set.label for d in deps if d.eval_set is not None}
    ax.set_ylabel("top-1 (%)" + (f" on {next(iter(evalsets))}" if len(evalsets) == 1 else ""))
    if not real:
        title += "\n(no frontier: no trusted accuracy here is representative)"
    elif len(real) < len(deps):
        title += "\n(frontier over trusted, representative accuracy only)"
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.savefig(path)
    return path


def _one_set(deps: list[Deployment]) -> None:
    """A frontier is drawn through one evaluation set's top-1 only; a caller mixing sets is a bug."""
    ids = {d.eval_set.eval_id for d in deps if d.eval_set is not None}
    if len(ids) > 1:
        raise ValueError(f"one plot got top-1 on {len(ids)} evaluation sets; plot each set on its own")


def accuracy_vs_latency(deps: list[Deployment], batch: int, path: Path, device: str,
                        eval_set: str = "") -> Path | None:
    """``deps`` share one evaluation set, named by ``eval_set`` in the title."""
    deps = [d for d in deps if d.top1 is not None and d.latency(batch)]
    if not deps:
        return None
    _one_set(deps)
    on = f" on {eval_set}" if eval_set else ""
    return _scatter(deps, lambda d: d.latency(batch), f"p50 latency at batch {batch} (ms, log scale)",
                    f"{device}: top-1{on} against latency, batch {batch}", path, frontier=True)


def size_vs_accuracy(deps: list[Deployment], path: Path, device: str, eval_set: str = "") -> Path | None:
    deps = [d for d in deps if d.top1 is not None and d.size_mb]
    if not deps:
        return None
    _one_set(deps)
    on = f" on {eval_set}" if eval_set else ""
    return _scatter(deps, lambda d: d.size_mb, "size (MB, log scale)", f"{device}: top-1{on} against size", path,
                    frontier=True)


def latency_bars(deps: list[Deployment], batches: list[int], path: Path, device: str) -> Path | None:
    """Per model, a bar per runtime and precision (log scale), one panel per batch size."""
    batches = [b for b in batches if any(d.latency(b) for d in deps)]
    if not batches:
        return None
    models = list(dict.fromkeys(d.model for d in deps))
    labels = list(_series(deps))
    fig = _figure(max(8.0, 0.55 * len(models) * max(1, len(labels)) / 3), 3.6 * len(batches))
    axes = fig.subplots(len(batches), 1, squeeze=False)[:, 0]
    width = 0.8 / max(1, len(labels))
    index = {(d.model, d.label): d for d in deps}
    for ax, batch in zip(axes, batches):
        for j, label in enumerate(labels):
            xs, ys = [], []
            for i, model in enumerate(models):
                value = index[(model, label)].latency(batch) if (model, label) in index else None
                if value:
                    xs.append(i + (j - (len(labels) - 1) / 2) * width)
                    ys.append(value)
            ax.bar(xs, ys, width=width, label=label)
        ax.set_yscale("log")
        ax.set_ylabel(f"ms per batch of {batch}")
        ax.set_xticks(range(len(models)), [_short(m) for m in models], rotation=30, ha="right", fontsize=8)
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.set_title(f"{device}: p50 latency at batch {batch} (lower is better)", fontsize=10)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", fontsize=7, ncols=min(5, len(labels)))
    fig.savefig(path)
    return path
