"""The types of edgebench's command-line options: each refuses a bad value with one line that says what is
wrong (argparse turns it into ``edgebench run: error: argument --seed: ...``, exit status 2), before any
work starts. Kept apart from ``cli`` so the commands stay short."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from edgebench.errors import ConfigError

EXIT_BAD_INPUT = 2  # EdgebenchError.exit_code, and argparse's usage errors


class OneLineParser(argparse.ArgumentParser):
    """argparse with one-line errors: the usage block buries the one line that says what is wrong."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def number(kind: type, minimum: float, what: str, *, above: bool = False):
    """An argparse type: a finite number of ``kind`` no smaller than ``minimum`` (greater, when ``above``)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if value < minimum or (above and value == minimum):
            bound = f"greater than {minimum:g}" if above else f"at least {minimum:g}"
            raise argparse.ArgumentTypeError(f"{text!r} must be {bound}")
        return value
    return parse


positive_int = number(int, 1, "an integer")
non_negative_int = number(int, 0, "an integer")
non_negative_float = number(float, 0, "a number")
positive_float = number(float, 0, "a number", above=True)


def seed(text: str) -> int:
    value = non_negative_int(text)
    if value >= 2**32:  # numpy's legacy seeding and some converters take 32-bit seeds
        raise argparse.ArgumentTypeError(f"{text!r} must be below 2**32")
    return value


def crop_pct(text: str) -> float:
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} is a fraction of the resized image, in (0, 1], e.g. 0.875")
    return value


def _checked(check, text: str) -> str:
    """``text`` after ``check`` accepts it; its ConfigError becomes argparse's one-line error."""
    try:
        check(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def shape(text: str) -> str:
    """Checked here so a typo stops the command at once; the model reads the text (onnx_file.parse_shape)."""
    from edgebench.models.onnx_file import parse_shape

    return _checked(parse_shape, text)


def folder_to_write(text: str) -> str:
    """A folder edgebench will create or write into: refused at once when it cannot be (checked without
    creating anything, so a refused command leaves no empty folder behind)."""
    from edgebench.cache import unwritable_reason

    why = unwritable_reason(Path(text))
    if why:
        raise argparse.ArgumentTypeError(f"cannot write to {text}: {why}")
    return text


def checkpoint(text: str) -> str:
    from edgebench.models.torch_models import check_checkpoint_file

    return _checked(check_checkpoint_file, text)


def percent(text: str) -> float:
    value = non_negative_float(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"{text!r} is in percent (points) and must be at most 100")
    return value


def probability(text: str) -> float:
    value = non_negative_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1 (exclusive)")
    return value


def floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} must be comma-separated numbers, e.g. 0.485,0.456,0.406") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} holds a value that is not a finite number")
    return values


def std(text: str) -> tuple[float, ...]:
    values = floats(text)
    if any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: a standard deviation must be positive, e.g. 0.229,0.224,0.225")
    return values
