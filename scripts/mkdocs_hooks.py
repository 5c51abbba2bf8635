"""MkDocs hooks (``hooks:`` in mkdocs.yml): the reference page's command-line section is written
from the CLI's own argparse parser at every build, so it says what ``python -m demo_app --help``
says (the Python section is mkdocstrings', from the docstrings)."""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- the CLI's help, written here at build time -->"


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    return markdown.replace(MARKER, cli_help()) if MARKER in markdown else markdown


def cli_help() -> str:
    """Each command's ``--help``, as a section of the page."""
    os.environ["COLUMNS"] = "100"  # argparse wraps at the terminal's width: the same on every machine
    from demo_app.cli import build_parser

    parser = build_parser()
    sections = [f"### python -m demo_app\n\n```text\n{parser.format_help()}```\n"]
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        sections.append(f"### {name}\n\n```text\n{command.format_help()}```\n")
    return "\n".join(sections)
