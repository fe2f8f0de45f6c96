"""The few exceptions edgebench raises on purpose. The CLI prints their message and exits non-zero."""
from __future__ import annotations


class EdgebenchError(Exception):
    """Base of every error that carries a message meant for the user (what went wrong, how to fix it)."""

    exit_code = 2


class ConfigError(EdgebenchError):
    """Bad input: an unknown model, a malformed option, an unwritable folder."""


class UnavailableError(EdgebenchError):
    """A runtime, toolchain or weight file that cannot be used on this machine."""


class ExportError(EdgebenchError):
    """A model could not be exported or converted."""


class CellFailure(EdgebenchError):
    """One benchmark cell failed; the sweep records it and goes on."""


class NotSupportedHere(EdgebenchError):
    """A cell this machine cannot run by design (e.g. BF16 on a CPU without BF16); recorded as skipped."""
