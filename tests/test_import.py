import subprocess
import sys


def test_import_edgebench_stays_light():
    heavy = ("torch", "onnxruntime", "openvino", "timm", "tensorrt", "tensorflow", "onnx", "polygraphy", "pynvml",
             "ai_edge_litert", "litert_torch", "executorch", "coremltools", "ncnn", "pnnx", "rich", "scipy")
    # the GPU runtime modules too: importing one (to ask its availability) must load no GPU library
    code = ("import sys, edgebench, edgebench.cli, edgebench.runtimes, edgebench.pipeline.sweep, "
            "edgebench.runtimes.tensorrt, edgebench.runtimes.onnxruntime_gpu, edgebench.runtimes.pytorch_cuda, "
            "edgebench.quantize.tensorrt, edgebench.harness.gpu_memory, "
            "edgebench.runtimes.litert, edgebench.runtimes.executorch, edgebench.runtimes.coreml, edgebench.runtimes.ncnn, "
            "edgebench.quantize.litert, edgebench.quantize.executorch, edgebench.quantize.coreml, edgebench.quantize.ncnn, "
            "edgebench.toolchains, edgebench.export.bundle, edgebench.pipeline.bundle, edgebench.pipeline.measure, edgebench.progress; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_report_renders_a_search_without_importing_optimize(tmp_path):
    """``report`` and ``pick`` render a search folder from its optimize.json and result lines (read through
    edgebench.results.search), never through the code that searched: nothing of edgebench.optimize is imported."""
    import json

    key = "onnx:net|onnxruntime|int8|b1"
    summary = {"model": "onnx:net", "goal": {"max_drop_pt": 1.0}, "budget_min": 5, "elapsed_s": 60.0,
               "command": "edgebench optimize", "chosen": None, "plain": None,
               "families": [{"family": "onnxruntime int8", "candidates": 1, "best": key, "fate": "screen: dominated"}],
               "candidates": [{"key": key, "runtime": "onnxruntime", "precision": "int8", "stage": "screen",
                               "latency": {"p50": 1.0, "lo": 0.9, "hi": 1.1, "timing": "probe"},
                               "fate": "screen: dominated"}]}
    (tmp_path / "optimize.json").write_text(json.dumps(summary))
    code = ("import sys, pathlib, edgebench.cli, edgebench.report.build, edgebench.report.pick; "
            "from edgebench.report.search import search_blocks; "
            f"blocks, summary = search_blocks(pathlib.Path({str(tmp_path)!r}), []); "
            "assert summary and any('probe' in str(b) for b in blocks), blocks; "
            "print(','.join(m for m in sys.modules if m.startswith('edgebench.optimize')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
