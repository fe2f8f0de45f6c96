"""A report as a list of blocks (headings, text, tables, plots), rendered to Markdown and to one HTML page.

Both renderings walk the same blocks, so the Markdown on GitHub and the HTML page never disagree.
"""
from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

Sort = Union[float, str, None]


@dataclass(frozen=True)
class Cell:
    text: str
    sort: Sort = None  # the value sorted on in the HTML table (numbers sort numerically; None last)


def num(value: float | None, digits: int = 2, *, suffix: str = "", missing: str = "") -> Cell:
    return Cell(missing if value is None else f"{value:.{digits}f}{suffix}", value)


def text(value: Any) -> Cell:
    return Cell("" if value is None else str(value), "" if value is None else str(value))


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str  # may hold **bold** and `code`


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    numeric: set[int] = field(default_factory=set)  # columns aligned right


@dataclass
class Image:
    path: Path  # a PNG written beside the report
    alt: str


@dataclass
class Svg:
    markup: str  # an inline <svg> element (interactive in the HTML page; Markdown shows ``markdown`` instead)
    markdown: str = ""


Block = Union[Heading, Paragraph, Bullets, Table, Image, Svg]


def _md_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block], base: Path | None = None) -> str:
    """Markdown with images linked relative to ``base`` (the report's folder)."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            out += [block.text, ""]
        elif isinstance(block, Bullets):
            out += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, Table):
            align = ["---:" if i in block.numeric else "---" for i in range(len(block.columns))]
            out.append("| " + " | ".join(_md_cell(c) for c in block.columns) + " |")
            out.append("|" + "|".join(align) + "|")
            out += ["| " + " | ".join(_md_cell(c.text) for c in row) + " |" for row in block.rows]
            out.append("")
        elif isinstance(block, Image):
            link = block.path.relative_to(base) if base and block.path.is_relative_to(base) else block.path
            out += [f"![{block.alt}]({link.as_posix()})", ""]
        elif isinstance(block, Svg) and block.markdown:
            out += [block.markdown, ""]
    return "\n".join(out).rstrip() + "\n"


_INLINE = [(re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"), (re.compile(r"`(.+?)`"), r"<code>\1</code>")]


def _inline(value: str) -> str:
    value = html.escape(value, quote=False)
    for pattern, repl in _INLINE:
        value = pattern.sub(repl, value)
    return value


def _sort_attr(cell: Cell) -> str:
    if cell.sort is None:
        return ""
    if isinstance(cell.sort, (int, float)):
        return f' data-sort="{float(cell.sort)!r}"' if math.isfinite(cell.sort) else ""
    return f' data-sort="{html.escape(cell.sort)}"'


_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;vertical-align:top}
th{background:#f3f3f3;cursor:pointer;user-select:none;position:sticky;top:0}
th.asc::after{content:" \\25B2"} th.desc::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafafa}
img{max-width:100%;border:1px solid #eee;margin:.5em 0 1.5em}
code{background:#f3f3f3;padding:0 3px}
"""

# Click a header to sort by it (again to reverse); numbers sort numerically, empty cells last.
_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
      function key(row) {
        var cell = row.cells[col], raw = cell.getAttribute("data-sort");
        if (raw === null || raw === "") { return null; }
        var n = Number(raw);
        return isNaN(n) ? raw.toLowerCase() : n;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null) { return y === null ? 0 : 1; }
        if (y === null) { return -1; }
        if (typeof x !== typeof y) { x = String(x); y = String(y); }
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def to_html(blocks: list[Block], title: str) -> str:
    """One self-contained page: plots embedded as data URIs, sortable tables, no external requests."""
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline(c)}</th>" for c in block.columns)
            rows = []
            for row in block.rows:
                cells = "".join(f'<td{" class=num" if i in block.numeric else ""}{_sort_attr(c)}>{_inline(c.text)}</td>'
                                for i, c in enumerate(row))
                rows.append(f"<tr>{cells}</tr>")
            body.append(f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
        elif isinstance(block, Image):
            data = base64.b64encode(block.path.read_bytes()).decode()
            body.append(f'<img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}">')
        elif isinstance(block, Svg):
            body.append(f"<figure>{block.markup}</figure>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + f"\n<script>{_SCRIPT}</script></body></html>\n")
