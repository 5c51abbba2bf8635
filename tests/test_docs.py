"""The documentation: a short Korean-first README, a docs site that builds with warnings as errors
(broken links and anchors included), and a troubleshooting page quoting what the code says."""

import argparse
import html
import os
import re
import subprocess
import sys
from pathlib import Path

from docs_index import index_from_readme

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_the_site_builds_without_a_warning_or_a_broken_link(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "troubleshooting" / "index.html").is_file()
    assert (tmp_path / "site" / "search" / "search_index.json").is_file()  # searchable


def test_the_readme_is_short_korean_first_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    title = readme.splitlines()[0]
    assert HANGUL.search(title.split("(")[0]), title  # Korean first, English beside it
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), target


def test_the_sites_home_page_is_the_readme():
    """Edit the README, then run scripts/docs_index.py."""
    expected = index_from_readme((ROOT / "README.md").read_text(encoding="utf-8"))
    assert (DOCS / "index.md").read_text(encoding="utf-8") == expected


def test_the_troubleshooting_page_quotes_what_the_code_says():
    """Every line of its message boxes is in demo_app's source (adjacent string literals joined)."""
    source = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "demo_app").rglob("*.py"))
    joined = re.sub(r'"\s*\n\s*f?"', "", source)
    page = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    quoted = [line for block in re.findall(r"```text\n(.*?)```", page, re.S) for line in block.splitlines() if line]
    assert len(quoted) >= 8
    for line in quoted:
        assert line in joined, line


def test_the_reference_is_written_from_the_code(tmp_path):
    """The reference page's Python part is each public name's docstring and its CLI part each
    command's --help, both written at build time: a docstring or an option changed in the code
    is on the page without editing it."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                   check=True, capture_output=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    page = html.unescape(re.sub(r"<[^>]+>", "", (site / "reference" / "index.html").read_text(encoding="utf-8")))
    page = " ".join(page.split())
    from demo_app import load_predictor, serve
    from demo_app.cli import build_parser

    for documented in (load_predictor, serve):
        assert " ".join(documented.__doc__.replace("`", "").split()[:8]) in page, documented.__name__
    commands = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        for option in command._option_string_actions:
            assert option in page, (name, option)
