"""The README's and the docs' code blocks, found and run as a reader would run them.

``python tests/doc_examples.py --zygote`` imports torch, transformers and demo_app once, then forks
a child for each command it is sent (a JSON line: the arguments after ``python``, the folder, the
environment, the output files): the child is a process of its own that runs the command as
``python`` would, a couple of seconds sooner. The docs' ~50 commands would otherwise spend most
of their time importing the same libraries.

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


def zygote() -> None:
    """Serve fork requests on stdin (see the module's docstring), answering each on stdout:
    ``{"pid": N}`` for a server (``"background": true``), else ``{"code": N}`` when it ends; a
    later ``{"reap": N}`` answers a server's exit code."""
    import runpy

    import torch  # noqa: F401 - what every command imports first
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # noqa: F401 - the model registry

    import demo_app.cli  # noqa: F401
    import demo_app.loading  # noqa: F401
    import demo_app.serving  # noqa: F401
    import demo_app.web  # noqa: F401

    transformers.logging.set_verbosity_error()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if "reap" in request:
            print(json.dumps({"code": _exit_code(os.waitpid(request["reap"], 0)[1])}), flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            _child(request, runpy)
        if request.get("background"):
            print(json.dumps({"pid": pid}), flush=True)
        else:
            print(json.dumps({"code": _exit_code(os.waitpid(pid, 0)[1])}), flush=True)


def _child(request: Dict[str, Any], runpy: Any) -> None:
    """In the forked child: become the command, then end with its exit code."""
    code = 0
    try:
        os.chdir(request["cwd"])
        os.environ.update(request["env"])
        for descriptor, path in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), descriptor)
        sys.stdin = open(os.devnull)
        arguments = request["argv"]
        if arguments[0] == "-m":
            sys.argv = [arguments[1], *arguments[2:]]
            runpy.run_module(arguments[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(arguments)
            runpy.run_path(arguments[0], run_name="__main__")
    except SystemExit as end:
        code = end.code if isinstance(end.code, int) else (0 if end.code is None else 1)
    except BaseException:  # noqa: BLE001 - the command's own traceback, as python prints it
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    if sys.argv[1] == "--zygote":
        zygote()
        sys.exit(0)
    result = run(Path(sys.argv[1]).read_text(encoding="utf-8"))
    print(json.dumps(result), flush=True)
    if "pyngrok" in sys.modules:  # an example's tunnel: its agent would outlive this process
        from pyngrok import ngrok

        ngrok.kill()
    os._exit(0)  # servers an example started end with the process
