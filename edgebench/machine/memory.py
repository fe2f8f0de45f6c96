"""Resident memory of the current process (Linux /proc; a portable fallback elsewhere)."""
from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _status_kb(field: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_mb() -> float | None:
    kb = _status_kb("VmRSS")
    return kb / 1024.0 if kb is not None else None


def lifetime_peak_rss_mb() -> float:
    """Peak RSS of this process image. VmHWM first: ru_maxrss survives exec, so a worker started
    from a big parent would report the parent's peak."""
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb / 1024.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM), so the next reading covers only what follows.

    Writing 5 to /proc/self/clear_refs does this on Linux ≥ 4.0. Returns False where it cannot.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    kb = _status_kb("VmHWM")
    return kb / 1024.0 if kb is not None else None
