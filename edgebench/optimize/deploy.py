"""The deploy folder ``edgebench optimize`` writes for its chosen deployment.

Everything an application needs to run the model the way it was measured, without edgebench: the
artifact's files, the preprocessing as data (``preprocess.json``), the measured figures (``figures.json``),
a short ``predict.py`` for the runtime, and a README with the command that reproduces the search.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from edgebench import __version__
from edgebench.errors import ConfigError
from edgebench.export.artifact import Artifact
from edgebench.export.onnx_export import INPUT_NAME
from edgebench.models.spec import ModelSpec
from edgebench.optimize.deploy_examples import LOADING_APIS, render_example
from edgebench.optimize.strategy import label

WRITTEN = ("preprocess.json", "figures.json", "predict.py", "README.md")
# Files that travel with an artifact's main file when the record does not list them (its ``meta`` is not
# in a result record): an OpenVINO IR's weights, an ncnn graph's weights.
COMPANIONS = {"openvino-ir": ".bin", "ncnn": ".bin"}
OUTPUTS = {"timm": "logits", "torchvision": "logits"}


def write_deploy_folder(record: dict[str, Any], spec: ModelSpec, out_dir: Path, command: str) -> Path:
    """Write the deploy folder of ``record`` (an ``ok`` result) into ``out_dir`` (new or empty)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ConfigError(f"{out_dir} is not an empty folder; give a new folder for the deployment")
    if record.get("status") != "ok" or not isinstance(record.get("artifact"), dict):
        raise ConfigError(f"{record.get('key', 'this result')} has no measured artifact "
                          f"(status {record.get('status')!r}); choose a deployment that ran")
    files = artifact_files(record["artifact"])
    for file in files:
        if not file.exists():
            raise ConfigError(f"{file} is missing (the artifact of {record.get('key')}); run the search again "
                              "on this machine, or give the cache folder it was built in (--cache-dir)")
        if file.name in WRITTEN:
            raise ConfigError(f"the artifact file {file.name} has the name of a file the deploy folder writes")
    out_dir.mkdir(parents=True, exist_ok=True)
    for file in files:
        (shutil.copytree if file.is_dir() else shutil.copy2)(file, out_dir / file.name)
    names = [file.name for file in files]
    preprocess = preprocess_data(spec, record)
    figures = deployment_figures(record, names)
    (out_dir / "preprocess.json").write_text(json.dumps(preprocess, indent=1) + "\n")
    (out_dir / "figures.json").write_text(json.dumps(figures, indent=1, default=str) + "\n")
    needs = f"{_install_hint(record['runtime'])} pillow numpy"
    # predict.py prints a classifier's top-5; a detector's, segmenter's or depth model's decoding is edgebench's
    # task code (edgebench.tasks), named in preprocess.json's "postprocess" instead.
    example = render_example(record["runtime"], title=f"{spec.id} on {figures['deployment']['label']}: "
                             "the deployment edgebench chose, run on one or more images.",
                             needs=needs.removeprefix("pip install "), model=names[0],
                             threads=record.get("threads") or 1, config=json.dumps(_openvino_config(record))) \
        if spec.task == "classify" else None
    if example is not None:
        (out_dir / "predict.py").write_text(example)
    (out_dir / "README.md").write_text(readme(spec, figures, names, needs, command, example is not None),
                                       encoding="utf-8")
    return out_dir


def artifact_files(artifact: dict[str, Any]) -> list[Path]:
    """The files the artifact ships. A result record keeps only the main path; the quantise cache keeps the
    whole artifact (``quantized.json`` beside it), and the known companions cover a copied folder."""
    if artifact.get("meta") is not None:
        return [Path(f) for f in Artifact.from_dict(artifact).files]
    path = Path(artifact["path"])
    built = path.parent / "quantized.json"
    if built.is_file():
        try:
            saved = json.loads(built.read_text())["artifact"]
        except (ValueError, KeyError, TypeError):
            saved = None
        if isinstance(saved, dict) and Path(saved.get("path", "")).name == path.name:
            return [Path(f) for f in Artifact.from_dict({**saved, "path": str(path)}).files]
    companion = COMPANIONS.get(artifact.get("format", ""))
    return [path, path.with_suffix(companion)] if companion else [path]


RESIZE_RULES = {
    "crop": ("shorter side to floor(min(H, W) / crop_pct), keeping the aspect ratio, with `interpolation` "
             "(Pillow's resampling filter of that name)",
             "centre crop H x W: left = round((width - W) / 2), top = round((height - H) / 2)"),
    "letterbox": ("the whole image scaled by r = min(W / width, H / height), keeping the aspect ratio, with "
                  "`interpolation` (Pillow's filter of that name)",
                  "pasted on an H x W canvas of grey `pad_value`, at `position` (top-left, or centred: left = "
                  "(W - round(width * r)) // 2, top likewise); outputs map back by r and that offset"),
    "stretch": ("the image resized to W x H, its aspect ratio lost, with `interpolation` (Pillow's filter of that "
                "name)", "none"),
}


def preprocess_data(spec: ModelSpec, record: dict[str, Any]) -> dict[str, Any]:
    """The preprocessing as data: what ``edgebench.data.images`` does, in words and numbers, and how the output
    is read (a classifier's scores, or the task's post-processing by name)."""
    pre = spec.to_dict()["preprocess"]
    batch = spec.fixed_batch or 1
    resize_rule, crop = RESIZE_RULES[spec.preprocess.resize]
    if spec.task == "classify":
        output = {"meaning": OUTPUTS.get(spec.source, "class scores (the model's own output)"),
                  "classes": spec.num_classes, "shape": [batch, spec.num_classes],
                  "labels": "ImageNet-1k: index i is the i-th WordNet synset in sorted order"
                  if spec.num_classes == 1000 and spec.source in OUTPUTS else "the model's class order"}
    else:
        output = {"task": spec.task, "name": spec.output_name, "postprocess": spec.postprocess,
                  "meaning": f"read as edgebench.tasks.{spec.task} reads it, with these settings"}
    return {
        **{key: list(value) if isinstance(value, tuple) else value for key, value in pre.items()},
        "resize_rule": resize_rule,
        "crop": crop,
        "value_scale": "uint8 RGB pixels / scale (255: -> [0, 1]), then (x - mean) / std per channel, float32",
        "channels": "decoded as RGB; reversed to BGR before normalising when channel_order is BGR "
                    "(mean and std are given in the model's channel order)",
        "layout": "NCHW",
        "input": {"name": spec.input_name or INPUT_NAME, "dtype": "float32", "shape": [batch, *spec.input_shape],
                  "note": "the batch dimension is fixed in the model" if spec.fixed_batch else
                  f"one image per call here; the figures were measured at batch {record.get('batch_size')}"},
        "output": output,
    }


def deployment_figures(record: dict[str, Any], files: list[str]) -> dict[str, Any]:
    """The measured figures of the deployment, with their intervals, recipe and machine."""
    latency = record.get("latency_ms") or {}
    from edgebench.tasks import main_change, main_figure

    accuracy = record.get("accuracy") or {}
    change = main_change(accuracy) or {}
    figure = main_figure(accuracy)
    quantization = record.get("quantization") or {}
    environment = record.get("environment") or {}
    variant = record.get("variant") or ""
    return {
        "deployment": {"key": record.get("key"), "label": label(record), "model": record.get("model"),
                       "runtime": record["runtime"], "runtime_version": record.get("runtime_version"),
                       "precision": record["precision"], "variant": variant, "batch_size": record.get("batch_size"),
                       "threads": record.get("threads"), "search": record.get("search")},
        "artifact": {**{k: (record["artifact"] or {}).get(k) for k in ("format", "precision", "toolchain")},
                     "files": files},
        "latency_ms": {k: latency.get(k) for k in ("p50", "p90", "p99", "mean", "n", "unit")},
        "p50_precision": {k: (record.get("p50_precision") or {}).get(k)
                          for k in ("lo", "hi", "confidence", "half_width_pct", "stopped_by")},
        "throughput_ips": record.get("throughput_ips"),
        "size_mb": record.get("size_mb"),
        "peak_rss_mb": record.get("peak_rss_mb"),
        "accuracy": {**{k: accuracy.get(k) for k in ("images", "top1", "top1_ci95", "top5", "top5_ci95")},
                     "figure": figure, "value": accuracy.get(figure), "value_ci95": accuracy.get(f"{figure}_ci95"),
                     "eval_set": (accuracy.get("eval_set") or {}).get("dataset"),
                     # "report": images held out from every decision of the search (its selection figures are in
                     # deployment.search.selection)
                     "images_role": (accuracy.get("eval_set") or {}).get("role"),
                     "vs_fp32": {**{k: change.get(k) for k in ("delta", "ci95", "p_value", "verdict")},
                                 "reference": accuracy.get("reference")} if change else None,
                     "caveats": accuracy.get("caveats")} if accuracy else None,
        "quantization": {k: quantization.get(k) for k in ("recipe", "toolchain", "settings", "calibration")}
        if quantization else None,
        "machine": {k: environment.get(k) for k in ("device", "cpu", "arch", "os", "usable_cpus")},
        "edgebench": (environment.get("versions") or {}).get("edgebench") or __version__,
        "untrusted": record.get("untrusted") or [],
        "warnings": record.get("warnings") or [],
    }


def readme(spec: ModelSpec, figures: dict[str, Any], files: list[str], needs: str, command: str,
           has_example: bool) -> str:
    """The folder's README: what is here, the deployment in one line, how to run it, how to reproduce it."""
    deployment = figures["deployment"]
    run = (f"```\n{needs}\npython predict.py IMAGE\n```\n\nIt prints the top-5 class indices and softmax scores, "
           "preprocessing the image as `preprocess.json` says (the same arithmetic edgebench measured accuracy "
           "with), with the thread count and session settings of the measurement.\n" if has_example else
           f"There is no example for {deployment['runtime']} here; load the file with "
           f"{LOADING_APIS.get(deployment['runtime'], 'the runtime that measured it')} (`{needs}`), and prepare "
           "the input as `preprocess.json` says.\n")
    lines = [
        f"# {spec.id}: {deployment['label']}", "",
        "What is here:", "",
        *[f"- `{name}`: the model ({figures['artifact']['format']}, {figures['artifact']['precision']}, "
          f"{figures['artifact']['toolchain']})" for name in files],
        "- `preprocess.json`: how an image becomes the input tensor (resize, crop, mean/std, channel order, "
        "layout, input name and shape) and what the output means",
        "- `figures.json`: what edgebench measured (latency with its interval, size, memory, accuracy with its "
        "intervals, the recipe and the machine)",
        *(["- `predict.py`: run the model on an image, without edgebench"] if has_example else []),
        "", "## The deployment", "", summary_line(figures), "",
        "## Run it", "", run,
        "## Reproduce it", "", f"```\n{command}\n```", "",
    ]
    return "\n".join(lines)


def summary_line(figures: dict[str, Any]) -> str:
    """One line: the deployment, its figures and where they were measured."""
    d, latency, precision = figures["deployment"], figures["latency_ms"], figures["p50_precision"]
    parts = [f"{d['label']}, batch {d['batch_size']}, {d['threads']} threads"]
    if latency.get("p50") is not None:
        interval = f" [{precision['lo']:.3g}–{precision['hi']:.3g}]" if precision.get("lo") is not None else ""
        parts.append(f"p50 {latency['p50']:.3g} ms{interval}, p90 {latency['p90']:.3g} ms")
    if figures.get("size_mb") is not None:
        parts.append(f"{figures['size_mb']:.3g} MB")
    if figures.get("peak_rss_mb") is not None:
        parts.append(f"peak RSS {figures['peak_rss_mb']:.0f} MB")
    accuracy = figures.get("accuracy") or {}
    value = accuracy.get("value", accuracy.get("top1"))
    if value is not None:
        from edgebench.tasks import FIGURE_NAMES

        name = FIGURE_NAMES.get(accuracy.get("figure") or "top1", "top-1")
        low, high = accuracy.get("value_ci95", accuracy.get("top1_ci95")) or (value, value)
        parts.append(f"{name} {100 * value:.1f}% [{100 * low:.1f}–{100 * high:.1f}] on {accuracy['images']} images")
        change = accuracy.get("vs_fp32") or {}
        if change.get("delta") is not None:
            low, high = change["ci95"]
            parts.append(f"Δ {name} vs FP32 {100 * change['delta']:+.2f} pt [{100 * low:+.2f}, {100 * high:+.2f}] "
                         f"({change['verdict']})")
    if figures.get("quantization"):
        parts.append(f"recipe {figures['quantization']['recipe']}")
    machine = figures["machine"]
    parts.append(f"measured on {machine.get('cpu') or machine.get('device')} ({machine.get('os')}), "
                 f"edgebench {figures['edgebench']}")
    return "; ".join(parts) + "."


def _install_hint(runtime: str) -> str:
    from edgebench.runtimes import REGISTRY, get_runtime

    return get_runtime(runtime).install_hint if runtime in REGISTRY else f"pip install {runtime}"


def _openvino_config(record: dict[str, Any]) -> dict[str, str]:
    """The compile settings edgebench asked OpenVINO for (the record keeps them), else the same rule again."""
    requested = (record.get("runtime_config") or {}).get("requested")
    if isinstance(requested, dict) and "INFERENCE_PRECISION_HINT" in requested:
        return {str(k): str(v) for k, v in requested.items()}
    from edgebench.runtimes.openvino import PRECISION_HINTS

    return {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(record.get("threads") or 1),
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS.get(record["precision"], "f32")}
