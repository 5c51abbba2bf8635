"""The README's and the docs' code blocks, found and run as a reader would run them.

``code_blocks`` finds every fenced block of a language in the Markdown files. ``python
tests/doc_examples.py FILE`` runs one Python block in a fresh process, statement by statement,
and checks every output the block shows: a comment holding a Python literal after an expression,
on its line or on the comment lines just below it (``# {'sentence': ..., 'probabilities': [...]}``).
``...`` in a shown output stands for what the page leaves out. An output that differs, or an
exception, exits non-zero with what was expected and what came.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import sys
import tokenize
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def code_blocks(path: Path, language: str) -> List[str]:
    """The fenced code blocks of ``path`` in ``language``, in order."""
    return [body for lang, body in FENCE.findall(path.read_text(encoding="utf-8")) if lang == language]


def shown_outputs(source: str, tree: ast.Module) -> Iterator[Tuple[ast.Expr, Any]]:
    """Each top-level expression of ``tree`` (``source`` parsed) that shows its output, with the
    output shown."""
    lines = source.splitlines()
    comments = {token.start[0]: token.string[1:].strip()
                for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type == tokenize.COMMENT}
    for statement in tree.body:
        if not isinstance(statement, ast.Expr):
            continue
        below = []
        for line in lines[statement.end_lineno or 0:]:
            if not line.lstrip().startswith("#"):
                break
            below.append(line.lstrip()[1:].strip())
        for text in (comments.get(statement.end_lineno or 0, ""), " ".join(below)):
            try:
                yield statement, ast.literal_eval(text)
                break
            except (ValueError, SyntaxError):
                continue


def matches(shown: Any, actual: Any) -> bool:
    """Whether ``actual`` is what ``shown`` shows, ``...`` standing for anything (at a list's
    end: for the rest of the list)."""
    if shown is Ellipsis:
        return True
    if isinstance(shown, dict):
        return (isinstance(actual, dict) and list(shown) == list(actual)
                and all(matches(value, actual[key]) for key, value in shown.items()))
    if isinstance(shown, (list, tuple)):
        if not isinstance(actual, (list, tuple)):
            return False
        if shown and shown[-1] is Ellipsis:
            return len(actual) >= len(shown) - 1 and all(map(matches, shown[:-1], actual))
        return len(shown) == len(actual) and all(map(matches, shown, actual))
    return bool(shown == actual)


def run(source: str) -> Dict[str, int]:
    """Run ``source`` as a script, checking its shown outputs; the number checked."""
    tree = ast.parse(source)
    checks = {id(statement): shown for statement, shown in shown_outputs(source, tree)}
    namespace: Dict[str, Any] = {"__name__": "__main__"}
    for statement in tree.body:
        if id(statement) in checks and isinstance(statement, ast.Expr):
            value = eval(compile(ast.Expression(statement.value), "<example>", "eval"), namespace)
            if not matches(checks[id(statement)], value):
                raise AssertionError(f"line {statement.lineno}: {ast.unparse(statement)}\n"
                                     f"shows {checks[id(statement)]!r}\ngave  {value!r}")
        else:
            exec(compile(ast.Module([statement], []), "<example>", "exec"), namespace)
    return {"checked": len(checks)}


if __name__ == "__main__":
    result = run(Path(sys.argv[1]).read_text(encoding="utf-8"))
    print(json.dumps(result), flush=True)
    if "pyngrok" in sys.modules:  # an example's tunnel: its agent would outlive this process
        from pyngrok import ngrok

        ngrok.kill()
    os._exit(0)  # servers an example started end with the process
