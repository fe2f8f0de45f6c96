"""`edgebench report`: run folders in, one report out (Markdown + PNG plots, one HTML page, CSV, JSON).

Everything is rendered from the results files; nothing is measured again. Machines get their own sections,
so numbers from different machines never share a column.
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgebench import __version__
from edgebench.errors import ConfigError
from edgebench.report import grid, pareto_svg, plots, precision
from edgebench.report.deployments import Deployment, by_device, by_eval_set, deployments
from edgebench.report.evalsets import UNTRUSTED_MARK, untrusted_reasons
from edgebench.report.document import Block, Bullets, Heading, Image, Paragraph, to_html, to_markdown
from edgebench.report.exports import json_safe, write_csv
from edgebench.report.pareto import pareto_front
from edgebench.report.reference_table import in_reference_table, reference_rows_for, reference_table
from edgebench.report.run_info import environment_blocks
from edgebench.report.runs import Run, all_results, load_runs
from edgebench.report.sustained import rows as sustained_rows, sustained_blocks

TITLE = "edgebench report"
EXIT_REGRESSIONS = 4  # with --fail-on-regression, so CI can gate on a baseline
PLOTS_DIR = "plots"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-") or "device"


def _pareto_bullets(deps: list[Deployment], batch: int) -> list[str]:
    """Deployments no other beats on both latency and the task's main figure (top-1, mAP, mIoU, δ1); only trusted,
    representative accuracy counts. ``deps`` must share one evaluation set and one task: a figure on other images,
    or another task's figure, is another quantity."""
    deps = [d for d in deps if d.representative and not d.untrusted and d.latency(batch) and d.score is not None]
    front = pareto_front([(d.latency(batch), d.score) for d in deps])
    return [f"{deps[i].model} on {deps[i].label}: {deps[i].latency(batch):.2f} ms"
            f"{precision.suffix(deps[i].p50_precision(batch))}, {deps[i].figure} {deps[i].score:.2f}"
            f"{'%' if deps[i].task == 'classify' else ''}" for i in front]


def by_eval_set_and_task(deps: list[Deployment]) -> dict[tuple[Any, str], list[Deployment]]:
    """``by_eval_set``'s groups of the task's main figure, each split by task (one set of COCO images holds a
    detector's mAP and a segmenter's mIoU)."""
    groups: dict[tuple[Any, str], list[Deployment]] = {}
    for eval_set, members in by_eval_set(deps, scored=True).items():
        for d in members:
            groups.setdefault((eval_set, d.task), []).append(d)
    return groups


def _pareto_blocks(deps: list[Deployment], batch: int) -> list[Block]:
    """One frontier per evaluation set and task, each saying which figure on which images."""
    sets = by_eval_set_and_task(deps)
    if not sets:
        return [Heading(f"Pareto-optimal deployments at batch {batch} (latency against accuracy)", 3),
                Paragraph("None: no deployment here has accuracy (run with `--data DIR`).")]
    out: list[Block] = []
    if len({eval_set for eval_set, _ in sets}) > 1:
        out.append(Paragraph(f"These results hold accuracy on {len({s for s, _ in sets})} different evaluation sets; "
                             "a figure on different images is not comparable, so each set has its own frontier."))
    for (eval_set, _), members in sets.items():
        front = _pareto_bullets(members, batch)
        out += [Heading(f"Pareto-optimal deployments at batch {batch} (latency against {members[0].figure} on "
                        f"{eval_set.label})", 3),
                Bullets(front) if front else Paragraph("None: no deployment here has representative, trusted "
                                                       "accuracy (pretrained weights and real images are needed).")]
    if any(d.untrusted for d in deps):
        out.append(Paragraph(f"Deployments marked {UNTRUSTED_MARK} are left out of every frontier "
                             "(see \"Untrusted results\")."))
    return out


def _untrusted_blocks(results: list[dict[str, Any]]) -> list[Block]:
    """Every untrusted cell with its reasons: what must not be relied on, and why."""
    cells = [(r, untrusted_reasons(r)) for r in results]
    cells = [(r, reasons) for r, reasons in cells if reasons]
    if not cells:
        return []
    return [Heading(f"Untrusted results ({len(cells)} cell(s))", 3),
            Paragraph(f"These cells ran, but something says their numbers must not be relied on. They are marked "
                      f"{UNTRUSTED_MARK} in every table, left out of the Pareto frontiers and never recommended by "
                      "`edgebench pick`."),
            Bullets([f"`{r['key']}`: " + "; ".join(reasons) for r, reasons in cells])]


def _plots(deps: list[Deployment], device: str, name: str, out: Path | None) -> list[Block]:
    if out is None:
        return [Paragraph("Plots: `edgebench report RUN_DIR --out DIR` draws them.")]
    why_not = plots.available()
    if why_not:
        return [Paragraph(f"No plots: {why_not}.")]
    folder = out / PLOTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    drawn = []
    sets = by_eval_set(deps)
    for number, (eval_set, members) in enumerate(sets.items(), start=1):
        # One pair of accuracy plots per evaluation set: a frontier through top-1 on other images means nothing.
        part = "" if len(sets) == 1 else f"-set{number}"
        drawn += [(plots.accuracy_vs_latency(members, 1, folder / f"{name}-accuracy-latency-b1{part}.png", device,
                                             eval_set.label),
                   f"{device}: top-1 on {eval_set.label} against p50 latency at batch 1, with the Pareto frontier"),
                  (plots.size_vs_accuracy(members, folder / f"{name}-size-accuracy{part}.png", device, eval_set.label),
                   f"{device}: top-1 on {eval_set.label} against size")]
    drawn.append((plots.latency_bars(deps, [1, 32], folder / f"{name}-latency.png", device),
                  f"{device}: p50 latency per model, runtime and precision"))
    blocks: list[Block] = [Image(path, alt) for path, alt in drawn if path is not None]
    if not any(d.top1 is not None for d in deps):
        blocks.append(Paragraph("No accuracy plots: they are drawn for classifiers' top-1; a task model's figures "
                                "are in the tables and the frontiers below." if any(d.score is not None for d in deps)
                                else "No accuracy in these results (run with `--data DIR`), so no accuracy plots."))
    return blocks


def device_section(device: str, index: int, runs: list[Run], results: list[dict[str, Any]],
                   out: Path | None) -> list[Block]:
    """Everything about one machine; ``index`` keeps its plot files apart from another machine's."""
    deps = deployments(results)
    blocks: list[Block] = [Heading(f"Machine: {device}", 2), Heading("Environment", 3)]
    for run in runs:
        blocks += environment_blocks(run, device)
    if in_reference_table(results):
        blocks += [Heading("The reference table, reproduced", 3),
                   Paragraph("One row per model of the published table (Keras Applications), in its order; each "
                             "measured value sits beside the published one (pub., other hardware and framework: "
                             "a reference, not a target). Size is the FP32 ONNX file; CPU and GPU times are the "
                             "fastest FP32 runtime's p50 per batch of 32, with that runtime named (host time per call; "
                             "on a GPU that includes the copies in and out)."),
                   reference_table(results)]
    if deps:
        blocks += [Heading("Plots", 3), *_plots(deps, device, f"{index}-{_slug(device)}", out)]
        blocks += _pareto_blocks(deps, 1)
        blocks += pareto_svg.section_blocks(deps)
        blocks += [Heading("Every deployment", 3),
                   Paragraph("p50/p99 are host time per call (for a GPU runtime: copy in, kernels, copy out and "
                             "synchronisation); GPU compute is the CUDA-event time of the kernels alone, as trtexec's "
                             "\"GPU Compute Time\". Δ top-1 is paired against the model's FP32 reference outputs on "
                             "the same images (McNemar's exact test); * marks accuracy that is not representative; "
                             "top-1 figures on different evaluation sets are not comparable (the column or the "
                             "heading names the set). "
                             "Speed-ups divide the PyTorch FP32 p50 on the same kind of device (pytorch for CPU "
                             "runtimes, pytorch-cuda for GPU runtimes), or the runtime's own FP32 p50, by this one."
                             + (" " + precision.FOOTNOTE if precision.any_recorded(results) else "")),
                   grid.all_deployments(deps), Heading("Per model: runtime × precision", 3)]
        for model in dict.fromkeys(d.model for d in deps):
            blocks += [Heading(model, 4), grid.model_grid([d for d in deps if d.model == model])]
        slow = [f"`{r['key']}`: {r['slower_than_fp32']['ratio']:.2f}x the FP32 p50; likely: "
                f"{r['slower_than_fp32']['likely_reason']}" for r in results if r["status"] == "ok" and r.get("slower_than_fp32")]
        if slow:
            blocks += [Heading("Slower than FP32", 3), Bullets(slow)]
        blocks += precision.blocks(results)
        blocks += _interference_blocks(results)
        plot = out / PLOTS_DIR / f"{index}-{_slug(device)}-sustained.png" if out is not None else None
        blocks += sustained_blocks(results, plot, device)
    blocks += _untrusted_blocks(results)
    failed = grid.failed_rows(results)
    blocks += [Heading("Failed or skipped cells", 3), failed if failed.rows else Paragraph("None: every cell ran.")]
    return blocks


def _interference_blocks(results: list[dict[str, Any]]) -> list[Block]:
    """Cells whose figures include time other processes took (busy), cells measured while the host ran slow, and
    cells that left disturbed rounds out."""
    ok = [r for r in results if r["status"] == "ok"]
    busy = [f"`{r['key']}`: {r['contention']['note']}" for r in ok if (r.get("contention") or {}).get("busy")]
    left = [f"`{r['key']}`: {r['contention']['note']}" for r in ok
            if not (r.get("contention") or {}).get("busy") and (r.get("contention") or {}).get("rounds_left_out")]
    slow = [f"`{r['key']}`: {r['contention']['host_note']}" for r in ok if (r.get("contention") or {}).get("host_slow")]
    forked = [f"`{r['key']}`: p50 by worker process {r['timing']['forks']['p50']} ms" for r in ok
              if ((r.get("timing") or {}).get("forks") or {}).get("disagree")]
    blocks: list[Block] = []
    if busy:
        blocks += [Heading("Measured while the machine was busy", 3), Bullets(busy)]
    if slow:
        blocks += [Heading("Measured while the host ran slower than its best", 3),
                   Paragraph("A short reference workload at the start of every round (small numpy matrix products, "
                             "while the workers waited) ran clearly slower than the fastest this machine "
                             "has run it, with no other process to blame: a virtual machine's neighbours or its clock. "
                             "Pairing cancels a slow stretch that hits every runtime alike, not one that lasts a group "
                             "and hits runtimes unalike; measure these again."), Bullets(slow)]
    if forked:
        blocks += [Heading("Worker processes that disagree", 3),
                   Paragraph("Timed in several worker processes (--forks), these cells ran at speeds whose rounds do "
                             "not overlap from one process to the next: the speed belongs to a process, not to the "
                             "deployment; measure them again, with more forks."), Bullets(forked)]
    if left:
        blocks += [Heading("Rounds left out for other processes or a slow host", 3),
                   Paragraph("Other processes took a meaningful share of the CPUs during these rounds (the kernel's "
                             "per-CPU accounting, slice by slice), or the co-run probe just before or after a slice "
                             "(the reference workload on the cells' CPUs at once) ran clearly slower than this "
                             "machine's best: those slices were left out of the cell's p50 and of its ratios, and "
                             "rounds went on."), Bullets(left)]
    return blocks


def build(runs: list[Run], out: Path | None, baseline: list[Run] | None = None, *, alpha: float = 0.01,
          threshold: float = 0.05) -> tuple[list[Block], dict[str, Any]]:
    """The report's blocks and its JSON form."""
    results = all_results(runs)
    groups = by_device(results)
    blocks: list[Block] = [Heading(TITLE, 1), Paragraph(
        f"{len(runs)} run folder(s), {len(groups)} machine(s): {', '.join(groups)}. Rendered by edgebench "
        f"{__version__} from the results files alone. Published columns (pub.) are references from other hardware "
        "(the Keras Applications table, a torchvision model's own figures, a paper's), never measured values.")]
    data: dict[str, Any] = {"edgebench": __version__, "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            "runs": [{"path": str(r.path), "devices": r.devices, "created": r.meta.get("created"),
                                      "config": r.meta.get("config"), "environments": r.environments} for r in runs],
                            "devices": {}}
    for index, (device, records) in enumerate(groups.items(), start=1):
        device_runs = [r for r in runs if device in r.devices]
        blocks += device_section(device, index, device_runs, records, out)
        data["devices"][device] = {
            "deployments": [d.to_dict() for d in deployments(records)],
            "reference_table": reference_rows_for(records) if in_reference_table(records) else [],
            "not_ok": [{k: r.get(k) for k in ("key", "status", "reason")} for r in records if r["status"] != "ok"],
            "sustained": sustained_rows(records),
        }
    from edgebench.report.search import search_blocks

    for run in runs:
        search, summary = search_blocks(run.path, results)
        if summary:
            blocks += search
            data.setdefault("optimize", []).append(summary)
    if len(groups) > 1:
        blocks += [Heading("Across machines", 2),
                   Paragraph("The same deployment on each machine, one column per machine."),
                   grid.across_devices(deployments(results), list(groups))]
    if baseline:
        from edgebench.report import baseline as baseline_mod

        comparison = baseline_mod.compare(results, all_results(baseline), alpha=alpha, threshold=threshold)
        names = ", ".join(str(r.path) for r in baseline)
        blocks += baseline_mod.blocks(comparison, names)
        data["baseline"] = {"runs": names, "regressions": [{"device": c.device, "key": c.key, "verdict": c.verdict}
                                                           for c in comparison.regressions], **comparison.to_dict()}
    return blocks, data


def write(blocks: list[Block], data: dict[str, Any], results: list[dict[str, Any]], out: Path) -> list[Path]:
    """Every file of the report into ``out`` (plots are already there)."""
    md, page, doc = out / "report.md", out / "report.html", out / "report.json"
    try:
        md.write_text(to_markdown(blocks, base=out))
        page.write_text(to_html(blocks, TITLE))
        doc.write_text(json.dumps(json_safe(data), indent=1, default=str, allow_nan=False))
        return [md, page, doc, *write_csv(results, [d for device in data["devices"].values()
                                                    for d in device["deployments"]], out)]
    except OSError as exc:
        raise ConfigError(f"cannot write the report into {out} ({exc.strerror}); pass --out with a writable folder") from None


def report_command(args: argparse.Namespace) -> int:
    runs = load_runs(args.runs)
    baseline = load_runs(args.baseline) if args.baseline else None
    out = Path(args.out) if args.out else None
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot write to {out} ({exc.strerror}); pass --out with a writable folder") from None
    blocks, data = build(runs, out, baseline, alpha=args.alpha, threshold=args.threshold / 100)
    if out is None:
        print(to_markdown(blocks))
        regressions = (data.get("baseline") or {}).get("regressions")
        return EXIT_REGRESSIONS if regressions and args.fail_on_regression else 0
    for path in write(blocks, data, all_results(runs), out):
        print(f"wrote {path}")
    regressions = (data.get("baseline") or {}).get("regressions") or []
    if regressions:
        print(f"{len(regressions)} regression(s) against the baseline: see {out / 'report.md'}")
        return EXIT_REGRESSIONS if args.fail_on_regression else 0
    return 0
