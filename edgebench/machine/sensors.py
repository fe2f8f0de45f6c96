"""CPU frequency and temperatures, read cheaply between timed calls: phones, Jetsons and Raspberry Pis slow
down as they heat, and a sustained run records how far.

Linux sysfs first (per-core ``scaling_cur_freq`` in kHz, ``thermal_zone*/temp`` in millidegrees), psutil
where sysfs has nothing. A reading never raises: what cannot be read is ``None`` with a ``why``. Many VMs
expose no frequency driver and no thermal zone; psutil then reports the nominal ``cpu MHz`` of
``/proc/cpuinfo``, which does not move when the host throttles, and the reading says so.
"""
from __future__ import annotations

import glob
import os
import sys
from typing import Any

CPUFREQ_GLOB = "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq"
THERMAL_GLOB = "/sys/class/thermal/thermal_zone[0-9]*"
# Raspberry Pi firmware's throttle bits (as `vcgencmd get_throttled`): 0x1 under-voltage now, 0x2 frequency
# capped now, 0x4 throttled now, 0x8 soft temperature limit now; the same shifted by 16 have happened since boot.
RPI_THROTTLED = "/sys/devices/platform/soc/soc:firmware/get_throttled"
_RPI_BITS = {0x1: "under-voltage", 0x2: "frequency capped", 0x4: "throttled", 0x8: "soft temperature limit"}
PSUTIL_FREQ = "psutil.cpu_freq"


def _read(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (OSError, ValueError):
        return None


def _summary(values_mhz: list[float], source: str) -> dict[str, Any]:
    return {"mean": round(sum(values_mhz) / len(values_mhz), 1), "min": round(min(values_mhz), 1),
            "max": round(max(values_mhz), 1), "source": source}


def _cpu_mhz() -> tuple[dict[str, Any] | None, str]:
    """Per-core current frequencies summarised, and where they came from (or why there are none)."""
    values = []
    for path in glob.glob(CPUFREQ_GLOB):
        text = _read(path)
        if text and text.isdigit():
            values.append(int(text) / 1000.0)  # kHz
    if values:
        return _summary(values, "/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"), ""
    try:
        import psutil

        freqs = psutil.cpu_freq(percpu=True) or []
    except Exception as exc:  # psutil raises odd errors on some platforms (NotImplementedError, OSError, ...)
        return None, f"no cpufreq in sysfs and psutil.cpu_freq failed ({type(exc).__name__})"
    values = [f.current for f in freqs if f and f.current and f.current > 0]
    if not values:
        return None, "no cpufreq in sysfs and psutil.cpu_freq reports nothing"
    reading = _summary(values, PSUTIL_FREQ)
    if sys.platform.startswith("linux"):
        # Without a cpufreq driver psutil falls back to /proc/cpuinfo's "cpu MHz": in a VM the host's nominal
        # clock, which stays put while the host throttles.
        reading["note"] = "no cpufreq driver: /proc/cpuinfo's nominal clock, may not follow throttling"
    return reading, ""


def _unique(name: str, taken: dict[str, float]) -> str:
    if name not in taken:
        return name
    index = 2
    while f"{name}#{index}" in taken:
        index += 1
    return f"{name}#{index}"


def _zone_number(path: str) -> int:
    digits = path.rsplit("zone", 1)[-1]
    return int(digits) if digits.isdigit() else 0


def _temps_c() -> tuple[dict[str, float] | None, str]:
    temps: dict[str, float] = {}
    for zone in sorted(glob.glob(THERMAL_GLOB), key=_zone_number):
        raw = _read(os.path.join(zone, "temp"))
        try:
            value = int(raw) / 1000.0 if raw else None  # millidegrees
        except ValueError:
            value = None
        if value is None or not -50.0 < value < 200.0:  # a sensor not wired reads 0 or a sentinel
            continue
        name = _read(os.path.join(zone, "type")) or os.path.basename(zone)
        temps[_unique(name, temps)] = round(value, 1)
    if temps:
        return temps, ""
    try:
        import psutil

        groups = psutil.sensors_temperatures() if hasattr(psutil, "sensors_temperatures") else {}
    except Exception as exc:
        return None, f"no thermal zone in sysfs and psutil.sensors_temperatures failed ({type(exc).__name__})"
    for chip, entries in (groups or {}).items():
        for entry in entries:
            if entry.current is not None and -50.0 < entry.current < 200.0:
                temps[_unique(f"{chip}/{entry.label}" if entry.label else chip, temps)] = round(entry.current, 1)
    if temps:
        return temps, ""
    return None, "no thermal zone in sysfs and no psutil temperature sensor"


def _throttled() -> dict[str, Any] | None:
    raw = _read(RPI_THROTTLED)
    if not raw:
        return None
    try:
        bits = int(raw, 16)
    except ValueError:
        return None
    return {"raw": hex(bits), "now": [w for b, w in _RPI_BITS.items() if bits & b],
            "since_boot": [w for b, w in _RPI_BITS.items() if bits & (b << 16)], "source": RPI_THROTTLED}


def read_sensors() -> dict[str, Any]:
    """One reading: ``cpu_mhz`` (mean/min/max over cores, source), ``temps_c`` (per zone), ``throttled`` where a
    Raspberry Pi says; ``why`` names what could not be read. A few sysfs files: well under 5 ms."""
    out: dict[str, Any] = {"cpu_mhz": None, "temps_c": None}
    why: list[str] = []
    try:
        out["cpu_mhz"], reason = _cpu_mhz()
        why += [reason] if reason else []
        out["temps_c"], reason = _temps_c()
        why += [reason] if reason else []
        throttled = _throttled()
        if throttled:
            out["throttled"] = throttled
    except Exception as exc:  # never let a sensor break a measurement
        why.append(f"sensor read failed ({type(exc).__name__}: {exc})")
    if why:
        out["why"] = "; ".join(why)
    return out


def describe_sensors(reading: dict[str, Any] | None = None) -> str:
    """One line of what is readable here, for a record and `edgebench doctor`."""
    reading = read_sensors() if reading is None else reading
    parts = []
    mhz = reading.get("cpu_mhz")
    if mhz:
        now = f"{mhz['mean']:.0f} MHz now" if isinstance(mhz.get("mean"), (int, float)) else "no value"
        parts.append(f"CPU frequency from {mhz.get('source', 'an unnamed source')} ({now}"
                     + (f"; {mhz['note']}" if mhz.get("note") else "") + ")")
    temps = reading.get("temps_c")
    if temps:
        shown = ", ".join(f"{k} {v} °C" for k, v in list(temps.items())[:4])
        parts.append(f"{len(temps)} temperature sensor(s) ({shown}{', …' if len(temps) > 4 else ''})")
    if reading.get("throttled"):
        parts.append("Raspberry Pi throttle flags")
    if not parts:
        return "sensors: none readable here (" + (reading.get("why") or "nothing exposed") + ")"
    line = "sensors: " + "; ".join(parts)
    if reading.get("why"):
        line += f"; not readable: {reading['why']}"
    return line
