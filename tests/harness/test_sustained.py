"""Sustained mode: per-minute p50s, drift, the merged tail, sensor reads kept out of the timed calls, and the
sensors of this machine (and of a fake sysfs with a frequency driver and thermal zones)."""
from __future__ import annotations

import time

import numpy as np
import pytest

from edgebench.errors import ConfigError
from edgebench.harness.sustained import run_sustained
from edgebench.machine import sensors as sensors_mod
from edgebench.machine.sensors import describe_sensors, read_sensors

S = 1_000_000_000
MS = 1_000_000


class Machine:
    """A fake clock and a call whose duration is set by the minute the call starts in (a heating machine)."""

    def __init__(self, ms_per_minute: list[float], sensor_cost_s: float = 0.0) -> None:
        self.now, self.ms, self.sensor_cost = 0, ms_per_minute, int(sensor_cost_s * S)
        self.reads, self.read_at = 0, []

    def clock(self) -> int:
        return self.now

    def call(self) -> None:
        minute = min(self.now // (60 * S), len(self.ms) - 1)
        self.now += int(self.ms[minute] * MS)

    def sensors(self) -> dict:
        self.reads += 1
        self.read_at.append(self.now)
        self.now += self.sensor_cost  # a slow sensor read must never land inside a timed call
        return {"cpu_mhz": {"mean": 2000.0 - 100 * self.reads, "min": 0, "max": 0, "source": "fake"},
                "temps_c": {"cpu": 40.0 + 5 * self.reads}}


def _run(machine: Machine, minutes: float, **kw):
    return run_sustained(machine.call, minutes, clock=machine.clock, sensors=machine.sensors, **kw)


def test_p50_per_minute_and_the_drift_of_a_heating_machine():
    machine = Machine([10.0, 11.0, 12.0])
    samples, summary = _run(machine, 3)
    buckets = summary["buckets"]
    assert [b["minute"] for b in buckets] == [0, 1, 2]
    assert [b["p50"] for b in buckets] == pytest.approx([10.0, 11.0, 12.0])
    assert summary["drift_pct"] == pytest.approx(20.0)
    assert buckets[0]["n"] == 6000 and sum(b["n"] for b in buckets) == len(samples)
    assert summary["merged_tail"] is False and summary["minutes"] == 3.0 and summary["bucket_s"] == 60.0
    # read before the first call, at the end of minutes 0 and 1, and after the last call
    assert machine.reads == 4
    assert machine.read_at[1] == 60 * S  # as minute 0 ends, before minute 1's first call
    assert summary["sensors_start"]["cpu_mhz"]["mean"] == 1900.0
    assert [b["cpu_mhz"]["mean"] for b in buckets] == [1800.0, 1700.0, 1600.0]
    assert buckets[-1]["temps_c"] == summary["sensors_end"]["temps_c"] == {"cpu": 60.0}
    assert "fake" in summary["sensors_note"]


def test_sensor_reads_stay_out_of_the_timed_calls():
    machine = Machine([10.0, 20.0], sensor_cost_s=2.0)
    samples, summary = _run(machine, 2)
    assert set(samples) == {10.0, 20.0}  # 2 s reads at the bucket boundaries never show in a sample
    assert [b["p50"] for b in summary["buckets"]] == [10.0, 20.0]
    assert summary["drift_pct"] == pytest.approx(100.0)


def test_a_short_last_bucket_is_merged_into_the_one_before():
    samples, summary = _run(Machine([10.0]), 2.25)  # the third minute lasts 15 s < 30 s
    assert summary["merged_tail"] is True
    assert [b["n"] for b in summary["buckets"]] == [6000, 7500]
    assert summary["buckets"][-1]["span_s"] == pytest.approx(75.0)
    samples, summary = _run(Machine([10.0]), 2.75)  # 45 s: long enough to stand alone
    assert summary["merged_tail"] is False and [b["n"] for b in summary["buckets"]] == [6000, 6000, 4500]


def test_at_least_one_call_and_no_drift_from_one_bucket():
    samples, summary = _run(Machine([5000.0]), 0.001)
    assert samples == [5000.0]
    assert len(summary["buckets"]) == 1 and summary["drift_pct"] is None


def test_calls_longer_than_a_bucket_leave_empty_minutes_out():
    samples, summary = _run(Machine([90_000.0]), 5)  # calls start at 0, 90, 180 and 270 s
    assert samples == [90_000.0] * 4
    assert [b["minute"] for b in summary["buckets"]] == [0, 1, 3, 4]
    assert summary["drift_pct"] == pytest.approx(0.0)


def test_a_failing_sensor_does_not_stop_the_run():
    machine = Machine([10.0])

    def broken() -> dict:
        raise OSError("gone")

    samples, summary = run_sustained(machine.call, 1, clock=machine.clock, sensors=broken)
    assert len(samples) == 6000
    assert summary["buckets"][0]["cpu_mhz"] is None and "gone" in summary["sensors_end"]["why"]
    assert summary["sensors_note"].startswith("sensors: none readable here")


@pytest.mark.parametrize("minutes", [0, -1, float("nan")])
def test_minutes_must_be_positive(minutes):
    with pytest.raises(ConfigError, match="--sustained"):
        run_sustained(lambda: None, minutes)


def test_a_real_onnxruntime_session_on_the_real_clock(tiny_onnx):
    import onnxruntime as ort

    session = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.zeros((1, 3, 32, 32), np.float32)}
    began = time.perf_counter()
    samples, summary = run_sustained(lambda: session.run(None, feed), 0.02, bucket_s=0.4)  # 1.2 s in 0.4 s buckets
    assert 1.2 <= time.perf_counter() - began < 5
    assert len(summary["buckets"]) == 3 and all(b["n"] > 0 and b["p50"] > 0 for b in summary["buckets"])
    assert sum(b["n"] for b in summary["buckets"]) == len(samples)
    assert summary["drift_pct"] is not None and summary["sensors_note"].startswith("sensors:")


def test_read_sensors_on_this_machine_has_the_documented_shape():
    reading = read_sensors()
    assert set(reading) <= {"cpu_mhz", "temps_c", "throttled", "why"}
    mhz = reading["cpu_mhz"]
    if mhz is None:
        assert "why" in reading
    else:
        assert mhz["min"] <= mhz["mean"] <= mhz["max"] and mhz["min"] > 0
        assert mhz["source"] in ("/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq", "psutil.cpu_freq")
    temps = reading["temps_c"]
    assert temps is None and "why" in reading or all(isinstance(v, float) for v in temps.values())
    costs = []
    for _ in range(20):
        began = time.perf_counter()
        read_sensors()
        costs.append(time.perf_counter() - began)
    assert np.median(costs) < 0.005
    assert describe_sensors(reading).startswith("sensors: ")


def test_sysfs_frequency_driver_and_thermal_zones(tmp_path, monkeypatch):
    """A Linux board as a Jetson or a Raspberry Pi shows it (this VM has neither)."""
    for cpu, khz in enumerate([1_500_000, 1_200_000]):
        (tmp_path / f"cpu{cpu}").mkdir()
        (tmp_path / f"cpu{cpu}" / "scaling_cur_freq").write_text(f"{khz}\n")
    for zone, (kind, milli) in enumerate([("cpu-thermal", "61234"), ("gpu-thermal", "58000"),
                                          ("cpu-thermal", "62000"), ("unwired", "-273000")]):
        (tmp_path / f"thermal_zone{zone}").mkdir()
        (tmp_path / f"thermal_zone{zone}" / "type").write_text(kind + "\n")
        (tmp_path / f"thermal_zone{zone}" / "temp").write_text(milli + "\n")
    (tmp_path / "get_throttled").write_text("50005\n")
    monkeypatch.setattr(sensors_mod, "CPUFREQ_GLOB", str(tmp_path / "cpu[0-9]*" / "scaling_cur_freq"))
    monkeypatch.setattr(sensors_mod, "THERMAL_GLOB", str(tmp_path / "thermal_zone[0-9]*"))
    monkeypatch.setattr(sensors_mod, "RPI_THROTTLED", str(tmp_path / "get_throttled"))
    reading = read_sensors()
    assert reading["cpu_mhz"] == {"mean": 1350.0, "min": 1200.0, "max": 1500.0,
                                  "source": "/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"}
    assert reading["temps_c"] == {"cpu-thermal": 61.2, "gpu-thermal": 58.0, "cpu-thermal#2": 62.0}
    assert reading["throttled"]["now"] == ["under-voltage", "throttled"]
    assert reading["throttled"]["since_boot"] == ["under-voltage", "throttled"]
    assert "why" not in reading
    assert "3 temperature sensor(s)" in describe_sensors(reading)
