import subprocess
import sys


def test_import_edgebench_stays_light():
    heavy = ("torch", "onnxruntime", "openvino", "timm", "tensorrt", "tensorflow", "onnx")
    code = ("import sys, edgebench, edgebench.cli, edgebench.runtimes, edgebench.harness.sweep; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
