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


def test_doctor_prints_the_machine_for_a_person_and_json_for_a_program():
    import json

    proc = run_cli("doctor")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert not proc.stdout.lstrip().startswith("{") and '"physical_cores"' not in proc.stdout
    cores = next(line for line in lines if line.startswith("physical_cores:"))
    device = next(line for line in lines if line.startswith("device:"))
    assert cores.index(cores.split(":", 1)[1].strip()) == device.index(device.split(":", 1)[1].strip())  # aligned
    # nested records indented under their key, lists joined on one line
    versions = lines.index("versions:")
    assert lines[versions + 1].startswith("  ") and any(line.strip().startswith("numpy:") for line in lines[versions:])
    assert "sensors (read by --sustained):" in proc.stdout and "onnxruntime" in proc.stdout

    done = run_cli("doctor", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)  # nothing but the JSON object on stdout
    isa = next(line for line in lines if line.startswith("isa:"))
    assert isa.split(":", 1)[1].strip() == (", ".join(found["machine"]["isa"]) or "none")
    assert found["machine"]["physical_cores"] >= 1 and isinstance(found["machine"]["isa"], list)
    assert found["runtimes"]["onnxruntime"]["available"] is True and "fp32" in found["runtimes"]["onnxruntime"]["precisions"]
    assert found["runtimes"]["tensorrt"]["available"] or found["runtimes"]["tensorrt"]["reason"]
    assert "sensors" in found


def test_doctor_layout_of_nested_records_and_lists():
    from edgebench.cli import _readable

    machine = {"cpu": "Test CPU", "physical_cores": 2, "isa": ["avx2", "fma"], "gpus": [], "quota": None,
               "budget": {"usable_cpus": 2, "derived_from": "affinity"},
               "gpus_found": [{"name": "H100", "memory_mb": 81559}, {"name": "L4", "memory_mb": 23034}]}
    assert _readable(machine) == [
        "cpu:            Test CPU",
        "physical_cores: 2",
        "isa:            avx2, fma",
        "gpus:           none",
        "quota:          none",
        "budget:",
        "  usable_cpus:  2",
        "  derived_from: affinity",
        "gpus_found:",
        "  1.",
        "    name:      H100",
        "    memory_mb: 81559",
        "  2.",
        "    name:      L4",
        "    memory_mb: 23034",
    ]
