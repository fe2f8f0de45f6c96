"""The documentation: the MkDocs site under docs/ builds in strict mode (no broken link, anchor or page left out
of the nav), and README.md's links into docs/ point at files that exist."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO


def _nav_pages(nav) -> list[str]:
    """Every page (a docs/-relative .md path) named in mkdocs.yml's nav, in order."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def _built_page(site: Path, page: str) -> Path:
    """Where MkDocs writes a page with its default directory URLs: index.md → index.html, a/b.md →
    a/b/index.html."""
    stem = Path(page).with_suffix("")
    return site / (stem.parent if stem.name == "index" else stem) / "index.html"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                    reason="mkdocs is not installed (pip install -e '.[docs]')")
def test_the_site_builds_in_strict_mode_with_every_nav_page(tmp_path):
    import yaml

    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site),
                           "--config-file", str(REPO / "mkdocs.yml")],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    pages = _nav_pages(config["nav"])
    assert len(pages) == len(set(pages)) and len(pages) >= 20, pages
    for page in pages:
        assert (REPO / "docs" / page).is_file(), f"{page} is in the nav but not in docs/"
        assert _built_page(site, page).is_file(), f"{page} produced no {_built_page(site, page)}"


def test_readme_links_into_docs_point_at_files_that_exist():
    readme = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\((docs/[^)#\s]*)(?:#[^)\s]*)?\)", readme)
    assert targets, "README.md links to no page of docs/"
    missing = sorted({t for t in targets if not (REPO / t).is_file()})
    assert not missing, f"README.md links to missing docs files: {missing}"
