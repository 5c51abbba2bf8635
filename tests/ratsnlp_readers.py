"""ratsnlp 1.0.53's own corpus readers, for the tests that check what the book's next training
run will read from an export.

ratsnlp is not a dependency (its package imports PyTorch Lightning and the tutorial's Flask
pages), so its wheel is downloaded once from PyPI (``make test`` puts it in
``.venv/ratsnlp-wheel``; outside make, the first use downloads it there) and each chapter's
``corpus.py`` is loaded from the wheel as written, with only the ``arguments.py`` it imports
beside it. The classes are ratsnlp's code, unchanged.
"""

from __future__ import annotations

import subprocess
import sys
import types
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEEL_DIR = ROOT / ".venv" / "ratsnlp-wheel"
VERSION = "1.0.53"


def wheel() -> Path:
    found = sorted(WHEEL_DIR.glob(f"ratsnlp-{VERSION}-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", f"ratsnlp=={VERSION}",
                        "-d", str(WHEEL_DIR)], check=True, timeout=600)
        found = sorted(WHEEL_DIR.glob(f"ratsnlp-{VERSION}-*.whl"))
    return found[0]


def corpus_module(chapter: str) -> types.ModuleType:
    """``ratsnlp.nlpbook.<chapter>.corpus`` (``classification``, ``ner``, ``qa``, ``generation``)."""
    with zipfile.ZipFile(wheel()) as archive:
        sources = {name: archive.read(f"ratsnlp/nlpbook/{chapter}/{name}.py").decode("utf-8")
                   for name in ("arguments", "corpus")}
    package = f"ratsnlp.nlpbook.{chapter}"
    modules = {name: types.ModuleType(name) for name in ("ratsnlp", "ratsnlp.nlpbook", package)}
    for module in modules.values():
        module.__path__ = []  # a package, for the imports below
    saved = {name: sys.modules.get(name) for name in [*modules, f"{package}.arguments", f"{package}.corpus"]}
    try:
        sys.modules.update(modules)
        arguments = _run(f"{package}.arguments", sources["arguments"])
        vars(modules[package]).update({k: v for k, v in vars(arguments).items() if not k.startswith("_")})
        return _run(f"{package}.corpus", sources["corpus"])
    finally:
        for name, module in saved.items():  # nothing named ratsnlp stays imported
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _run(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"ratsnlp-{VERSION}/{name.replace('.', '/')}.py", "exec"), vars(module))  # noqa: S102
    return module
