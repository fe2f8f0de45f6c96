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
