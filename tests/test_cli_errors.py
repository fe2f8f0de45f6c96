"""Bad input: a clear message, a non-zero exit, never a traceback (the full table: test_bad_input.py)."""
import pytest

from conftest import run_cli


@pytest.mark.parametrize("args, message", [
    (["run", "--model", "timm:resnet5O"], "Did you mean"),
    (["run", "--model", "onnx:/no/such/model.onnx"], "does not exist"),
    (["run", "--suite", "quik"], "unknown suite"),
    (["run", "--runtime", "tensorrtx", "--model", "timm:test_efficientnet"], "unknown runtime"),
    (["run", "--batch-size", "0"], "must be at least 1"),
    (["run", "--weights", "imagenet"], "invalid choice"),
    (["run", "--checkpoint", "/no/such.pt", "--model", "timm:test_efficientnet"], "does not exist"),
    (["run", "--resume", "/tmp"], "not a run folder"),
    (["report", "/no/such/run"], "is not a folder"),
    (["pick", "/no/such/run"], "is not a folder"),
    (["pick", "/tmp", "--objective", "cost"], "invalid choice"),
])
def test_bad_input(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_malformed_onnx_and_unwritable_output(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_text("garbage")
    proc = run_cli("run", "--model", f"onnx:{bad}")
    assert proc.returncode == 2 and "not a valid ONNX model" in proc.stderr and "Traceback" not in proc.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = run_cli("run", "--model", "timm:test_efficientnet", "--out", str(blocker / "run"))
    assert proc.returncode == 2 and "cannot write to" in proc.stderr and "Traceback" not in proc.stderr


def test_list_and_doctor():
    proc = run_cli("list", "models", "--suite", "seed-table")
    assert proc.returncode == 0
    assert "NASNetMobile" in proc.stdout and "no implementation available" in proc.stdout
    assert proc.stdout.index("mobilenetv2_100") < proc.stdout.index("tf_efficientnet_b7")
    proc = run_cli("list", "runtimes")
    assert proc.returncode == 0 and all(n in proc.stdout for n in ("pytorch", "onnxruntime", "openvino"))
    proc = run_cli("doctor")
    assert proc.returncode == 0 and '"physical_cores"' in proc.stdout
