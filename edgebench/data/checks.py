"""Every image a run will read is decoded once before anything is measured, so a damaged file stops the
run at its start with its name, not hours later when one model's crops are made (after other models
were already measured)."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

from edgebench.errors import ConfigError


def decode_problem(path: str) -> str | None:
    """Why ``path`` cannot be decoded as an image, or None. JPEGs decode at 1/8 scale (``draft``): the whole
    stream is still read, so a truncated file is caught, in a fraction of a full decode's time."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.format == "JPEG":
                image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
            if image.width < 1 or image.height < 1:
                return "it has no pixels"
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError... for bad files
        text = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        return text.replace(str(path), "").strip(" '") or type(exc).__name__
    return None


def check_images(paths: Iterable[str], what: str) -> None:
    """Decode each image of ``paths`` (threads: PIL releases the GIL while decoding); one ConfigError naming
    the files that fail."""
    unique = list(dict.fromkeys(paths))
    if not unique:
        return
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        problems = [(p, why) for p, why in zip(unique, pool.map(decode_problem, unique)) if why]
    if problems:
        shown = "; ".join(f"{path} ({why})" for path, why in problems[:3])
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise ConfigError(f"{len(problems)} of the {len(unique)} {what} images cannot be decoded: {shown}{more}; "
                          "remove or replace them (nothing was measured)")
