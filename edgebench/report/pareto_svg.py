"""Latency × top-1 × size of one model's deployments as an inline SVG scatter for the HTML report.

Plain SVG, no script and no network: each point carries a ``<title>`` child, so hovering it shows the deployment
in any browser (and in a page opened offline). The points on the Pareto set over latency, top-1 and size are
outlined; the latency/top-1 frontier joins the 2-D non-dominated ones. Top-1 is plotted on one evaluation set only.
"""
from __future__ import annotations

import html
import math

from edgebench.report.deployments import Deployment, by_eval_set
from edgebench.report.document import Block, Heading, Paragraph, Svg, Table, num, text
from edgebench.report.evalsets import UNTRUSTED_MARK, EvalSet
from edgebench.report.pareto import pareto_front, pareto_set

WIDTH, HEIGHT = 760, 420
LEFT, RIGHT, TOP, BOTTOM = 64, 220, 16, 52  # margins: the legend sits in the right one
R_MAX, R_MIN, R_NO_SIZE = 14.0, 2.5, 4.0  # point radius in px (the largest size gets R_MAX)
LOG_ABOVE = 10.0  # a log latency axis when the largest p50 is more than this many times the smallest
# tab10: distinguishable, and the same colours matplotlib gives the PNG plots' first runtimes
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
# Highlight on hover with CSS alone (no script): the <title> tooltip works without it too.
_STYLE = ("circle.pt:hover{stroke:#000;stroke-width:3}"
          "text{font:11px system-ui,sans-serif;fill:#333}.ax{stroke:#888}.grid{stroke:#e5e5e5}")


def plotted(deps: list[Deployment], batch: int, eval_set: EvalSet | None = None) -> list[Deployment]:
    """The deployments with a p50 at ``batch`` and a top-1 on ``eval_set`` (on the only set when None; several
    sets with None is a caller's bug: top-1 on other images is another quantity)."""
    sets = by_eval_set([d for d in deps if d.latency(batch)])
    if eval_set is None:
        if len(sets) > 1:
            raise ValueError(f"top-1 here is on {len(sets)} evaluation sets; plot each set on its own")
        eval_set = next(iter(sets), None)
    return sets.get(eval_set, []) if eval_set is not None else []


def eligible(d: Deployment) -> bool:
    """Whether a deployment may be on the Pareto set: trusted, representative top-1, and a known size."""
    return d.representative and not d.untrusted and d.size_mb is not None


def pareto_deployments(deps: list[Deployment], batch: int) -> list[Deployment]:
    """Of ``deps`` (one evaluation set), those no other beats on p50 at ``batch``, top-1 and size, by p50."""
    pool = [d for d in deps if eligible(d) and d.latency(batch) and d.top1 is not None]
    chosen = pareto_set([(d.latency(batch), d.top1, d.size_mb) for d in pool], maximise=(False, True, False))
    return sorted((pool[i] for i in chosen), key=lambda d: d.latency(batch))


def point_title(d: Deployment, batch: int) -> str:
    """What hovering a point says: "runtime precision [variant]: p50 X ms, top-1 Y% (drop Z pt), size W MB"."""
    drop = f" (drop {0.0 - d.top1_delta:.2f} pt)" if d.top1_delta is not None else ""
    size = f"{d.size_mb:.2f} MB" if d.size_mb is not None else "not measured"
    mark = f" {UNTRUSTED_MARK}: {'; '.join(d.untrusted)}" if d.untrusted else ""
    star = "" if d.representative else " (not representative)"
    return f"{d.label}: p50 {d.latency(batch):.3g} ms, top-1 {d.top1:.2f}%{drop}, size {size}{star}{mark}"


def _nice_step(span: float, count: int) -> float:
    raw = span / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _linear_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    step = _nice_step(hi - lo, count)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1, 2, 5 × 10^k inside [lo, hi]; only the decades when they are many."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    mantissas = (1,) if len(decades) > 4 else (1, 2, 5)
    return [m * 10.0 ** k for k in decades for m in mantissas if lo <= m * 10.0 ** k <= hi]


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-3 else f"{value:.1e}"


class _Axes:
    """Data → pixel mapping of the plotting area."""

    def __init__(self, xs: list[float], ys: list[float]) -> None:
        lo, hi = min(xs), max(xs)
        self.log = hi / lo > LOG_ABOVE
        if self.log:
            self.x0, self.x1 = lo / 1.3, hi * 1.3
            self.xticks = _log_ticks(self.x0, self.x1)
        else:
            pad = (hi - lo) * 0.08 or lo * 0.1 or 1.0
            self.x0, self.x1 = max(0.0, lo - pad), hi + pad
            self.xticks = _linear_ticks(self.x0, self.x1)
        lo, hi = min(ys), max(ys)
        pad = (hi - lo) * 0.1 or 1.0
        self.y0, self.y1 = max(0.0, lo - pad), min(100.0, hi + pad)
        if self.y1 <= self.y0:
            self.y0, self.y1 = self.y1 - 1.0, self.y1
        self.yticks = _linear_ticks(self.y0, self.y1)

    def x(self, value: float) -> float:
        if self.log:
            frac = math.log(value / self.x0) / math.log(self.x1 / self.x0)
        else:
            frac = (value - self.x0) / (self.x1 - self.x0)
        return LEFT + frac * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        return HEIGHT - BOTTOM - (value - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)


def _esc(value: str) -> str:
    return html.escape(value, quote=True)


def _axes_markup(ax: _Axes, x_label: str, y_label: str) -> list[str]:
    left, right, bottom = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM
    out = []
    for t in ax.xticks:
        x = ax.x(t)
        out += [f'<line class="grid" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}"/>',
                f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{_fmt(t)}</text>']
    for t in ax.yticks:
        y = ax.y(t)
        out += [f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>',
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>']
    out += [f'<line class="ax" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
            f'<line class="ax" x1="{left}" y1="{TOP}" x2="{left}" y2="{bottom}"/>',
            f'<text x="{(left + right) / 2:.1f}" y="{HEIGHT - 12}" text-anchor="middle">{_esc(x_label)}</text>',
            f'<text transform="translate(16 {(TOP + bottom) / 2:.1f}) rotate(-90)" text-anchor="middle">'
            f'{_esc(y_label)}</text>']
    return out


def _legend(colours: dict[str, str], biggest: float | None) -> list[str]:
    x, y = WIDTH - RIGHT + 18, TOP + 10
    out = []
    for runtime, colour in colours.items():
        out += [f'<circle cx="{x}" cy="{y}" r="5" fill="{colour}"/>',
                f'<text x="{x + 10}" y="{y + 4}">{_esc(runtime)}</text>']
        y += 17
    y += 6
    out += [f'<circle cx="{x}" cy="{y}" r="5" fill="#fff" stroke="#000" stroke-width="2"/>',
            f'<text x="{x + 10}" y="{y + 4}">Pareto set (latency, top-1, size)</text>',
            f'<line x1="{x - 6}" y1="{y + 17}" x2="{x + 6}" y2="{y + 17}" stroke="#000" stroke-dasharray="4 3"/>',
            f'<text x="{x + 10}" y="{y + 21}">latency/top-1 frontier</text>',
            f'<circle cx="{x}" cy="{y + 34}" r="5" fill="#fff" stroke="#d62728" stroke-dasharray="2 2"/>',
            f'<text x="{x + 10}" y="{y + 38}">untrusted (never on the set)</text>']
    if biggest:
        out += [f'<circle cx="{x + R_MAX - 5}" cy="{y + 51 + R_MAX}" r="{R_MAX}" fill="none" stroke="#888"/>',
                f'<text x="{x + 2 * R_MAX}" y="{y + 55 + R_MAX}">area ∝ size: {biggest:.3g} MB</text>']
    return out


def pareto_svg(deps: list[Deployment], batch: int, eval_set: EvalSet | None = None) -> str:
    """An inline ``<svg>`` of the deployments' p50 at ``batch`` against top-1 on ``eval_set``, point area by size;
    empty when fewer than one deployment has both."""
    points = plotted(deps, batch, eval_set)
    if not points:
        return ""
    on = points[0].eval_set
    xs, ys = [d.latency(batch) for d in points], [d.top1 for d in points]
    ax = _Axes(xs, ys)
    colours: dict[str, str] = {}
    for d in points:
        colours.setdefault(d.runtime, COLOURS[len(colours) % len(COLOURS)])
    sizes = [d.size_mb for d in points if d.size_mb]
    biggest = max(sizes) if sizes else None
    on_set = {id(d) for d in pareto_deployments(points, batch)}
    pool = [d for d in points if eligible(d)]
    front = [pool[i] for i in pareto_front([(d.latency(batch), d.top1) for d in pool])]
    x_label = f"p50 latency at batch {batch} (ms{', log scale' if ax.log else ''})"
    y_label = f"top-1 (%) on {on.label}" if on else "top-1 (%)"
    out = [f'<svg class="pareto" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="{_esc(y_label)} against {_esc(x_label)}">', f"<style>{_STYLE}</style>",
           *_axes_markup(ax, x_label, y_label)]
    if len(front) > 1:  # a staircase: the best top-1 reachable within each latency
        corners = [(ax.x(front[0].latency(batch)), ax.y(front[0].top1))]
        for d in front[1:]:
            x, y = ax.x(d.latency(batch)), ax.y(d.top1)
            corners += [(x, corners[-1][1]), (x, y)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in corners)
        out.append(f'<polyline class="frontier" points="{path}" fill="none" stroke="#000" stroke-dasharray="4 3"/>')
    # Biggest first, so a small point is never hidden under a large one.
    for d in sorted(points, key=lambda d: -(d.size_mb or 0.0)):
        radius = max(R_MIN, R_MAX * math.sqrt(d.size_mb / biggest)) if d.size_mb and biggest else R_NO_SIZE
        if d.untrusted:
            stroke = 'stroke="#d62728" stroke-width="1.5" stroke-dasharray="2 2"'
        elif id(d) in on_set:
            stroke = 'stroke="#000" stroke-width="2"'
        else:
            stroke = 'stroke="#fff" stroke-width="0.8"'
        classes = "pt pareto" if id(d) in on_set else "pt"
        out.append(f'<circle class="{classes}" cx="{ax.x(d.latency(batch)):.1f}" cy="{ax.y(d.top1):.1f}" '
                   f'r="{radius:.1f}" fill="{colours[d.runtime]}" fill-opacity="0.75" {stroke} '
                   f'data-label="{_esc(d.label)}"><title>{_esc(point_title(d, batch))}</title></circle>')
    out += _legend(colours, biggest)
    out.append("</svg>")
    return "\n".join(out)


SECTION = "Latency × accuracy × size (hover a point)"


def _batch_of(deps: list[Deployment]) -> int:
    """Batch 1 when measured (what the frontiers use), else the smallest batch measured."""
    sizes = sorted({b for d in deps for b in d.batch_sizes})
    return 1 if 1 in sizes or not sizes else sizes[0]


def section_blocks(deps: list[Deployment]) -> list[Block]:
    """Per model with at least two deployments with top-1 on one evaluation set: the SVG (HTML) and its Pareto set
    as a table (both renderings); nothing when no model has two."""
    out: list[Block] = []
    models = list(dict.fromkeys(d.model for d in deps))
    for model in models:
        mine = [d for d in deps if d.model == model]
        batch = _batch_of(mine)
        sets = {s: members for s, members in by_eval_set([d for d in mine if d.latency(batch)]).items()
                if len(members) >= 2}
        for eval_set, members in sets.items():
            # not the bare model name: that heading belongs to the model's runtime × precision grid
            title = f"Latency, top-1 and size of {model}" + (f" (top-1 on {eval_set.label})" if len(sets) > 1 else "")
            best = pareto_deployments(members, batch)
            rows = [[text(d.label), num(d.latency(batch), 3), num(d.top1, 2), num(d.size_mb, 2)] for d in best]
            out += [Heading(title, 4), Svg(pareto_svg(members, batch, eval_set)),
                    Paragraph(f"Pareto set at batch {batch} (top-1 on {eval_set.label}):") if best else
                    Paragraph("No Pareto set: no deployment here has trusted, representative accuracy and a size.")]
            if best:
                out.append(Table(columns=["Deployment", f"b{batch} p50 (ms)", "Top-1 %", "Size (MB)"], rows=rows,
                                 numeric={1, 2, 3}))
    if not out:
        return []
    return [Heading(SECTION, 3),
            Paragraph("Per model, p50 latency against top-1, each point's area proportional to the deployment's "
                      "size. Outlined points are the Pareto set over latency, top-1 and size (no other deployment is "
                      "at least as good on all three and better on one; trusted, representative accuracy only); the "
                      "dashed line is the latency/top-1 frontier. In report.html, hover a point for its figures."),
            *out]
