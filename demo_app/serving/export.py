"""``python -m demo_app export DIR``: one model as a folder that is a whole deployable app.

The folder runs anywhere a container or a Python web process runs, without Colab or Drive:

    model/             the weights as safetensors (never a pickle) with config, tokenizer and
                       labels (``save_pretrained``), and ``demo_app.json``: the task, the
                       checkpoint it came from, and whether it is a bundled demo model
    demo_app/          this package, templates and styles included (no demo models)
    requirements.txt   pinned to the versions the export was made and checked with; CPU torch
    Dockerfile         a non-root user, ``$PORT`` honoured, gunicorn serving ``demo_app.wsgi``,
                       a health check on ``/healthz``
    Procfile           the same start command, for Heroku-like hosts
    README.md          front matter that makes the folder a Hugging Face Space (Docker SDK)
    .gitattributes     the weights through Git LFS (a Space refuses a big file pushed without it)
    runtime.txt, .python-version   the Python the export was checked with, for buildpack hosts

The export is built in a new folder beside ``DIR``, loaded back there and must give the
original's answers on the task's examples; only then are its files moved into ``DIR``. So a
failed re-export leaves the earlier one whole, and what an export does not write (``.git/``,
``.env``, notes) is never touched.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict

from ..loading.common import quiet_transformers
from ..loading.paths import EXPORT_FACTS, drive_file_path  # in model/: what loading it cannot tell from its files

SPACE_PORT = 7860  # Hugging Face Spaces' default app_port
# What the exported app imports (requirements.txt's list, without pyngrok: no tunnel on a host).
RUNTIME_PACKAGES = ("torch", "transformers", "tokenizers", "safetensors", "flask", "waitress", "tqdm", "pillow",
                    "sqlalchemy", "psycopg", "psycopg-binary", "openvino", "gunicorn")
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
START_COMMAND = ("gunicorn --bind 0.0.0.0:${PORT:-%d} --workers ${WEB_CONCURRENCY:-1} --threads 8 "
                 "--timeout 120 --access-logfile - demo_app.wsgi:app" % SPACE_PORT)
# What an export writes into its folder; anything else there (.git, .env, notes) is the student's.
EXPORT_FILES = ("model", "demo_app", "requirements.txt", "Dockerfile", "Procfile", ".dockerignore", "README.md",
                ".gitattributes", "runtime.txt", ".python-version")
LFS_PATTERNS = ("*.safetensors", "*.bin", "*.model", "*.onnx")


def export_app(args, directory, *, overwrite: bool = False, say: Callable[[str], None] = print) -> Path:
    """Write the deployable folder for the model ``args`` (``DeployArguments``) names into
    ``directory``: new, empty, an earlier export (its export files replaced), or anything with
    ``overwrite`` (its other files kept). Returns the folder. The model is read in fp32 with
    PyTorch, whatever the host will run it in."""
    from ..loading import load_predictor

    directory = drive_file_path(directory)  # Drive's "My Drive" or "MyDrive", whichever is mounted
    if directory.exists() and any(directory.iterdir()):
        earlier = (directory / "model" / EXPORT_FACTS).is_file() and (directory / "Dockerfile").is_file()
        if not (overwrite or earlier):
            raise FileExistsError(f"{directory} is not empty; choose a new folder or pass --overwrite (the export's "
                                  f"files are written into it; files it does not write are kept)")
    args = dataclasses.replace(args, backend="torch", precision="fp32", device="cpu")
    predictor = load_predictor(args, verbose=False, batching=False)
    return write_app(predictor, directory, max_seq_length=args.max_seq_length, say=say)


def write_app(predictor, directory: Path, *, max_seq_length: int, say: Callable[[str], None] = print) -> Path:
    """The folder for ``predictor`` (PyTorch, fp32): built and checked beside ``directory``, then
    moved into it (``EXPORT_FILES`` replaced, everything else kept)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-export-", dir=directory.parent))
    try:
        _write_files(predictor, staging, max_seq_length, say)
        _move_into(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"Exported to {directory}: start it with `docker build -t demo . && docker run -p {SPACE_PORT}:{SPACE_PORT} "
        f"demo`, or push the folder to a Hugging Face Space (Docker SDK).")
    return directory


def _write_files(predictor, folder: Path, max_seq_length: int, say: Callable[[str], None]) -> None:
    task = predictor.task
    say(f"Writing the model ({task.name}) as safetensors ...")
    write_model(predictor, folder / "model", max_seq_length)
    check_export(predictor, folder / "model", max_seq_length)
    copy_package(folder / "demo_app")
    texts = {"requirements.txt": requirements_text(), "README.md": readme_text(predictor, max_seq_length),
             "Dockerfile": dockerfile_text({**start_environment(task.name, max_seq_length),
                                            "DEMO_APP_FORWARDED_HOPS": "1"}),
             "Procfile": f"web: DEMO_APP_FORWARDED_HOPS=1 {start_line(task.name, max_seq_length)}\n",
             ".dockerignore": "**/__pycache__\n*.pyc\n.git\n.env\n",
             ".gitattributes": "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS),
             "runtime.txt": f"python-{sys.version_info.major}.{sys.version_info.minor}\n",
             ".python-version": f"{sys.version_info.major}.{sys.version_info.minor}\n"}
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    _readable_by_all(folder)


def _readable_by_all(folder: Path) -> None:
    """Files 0644 and folders 0755 (a host's build may run as another user than the one who exported)."""
    for root, folders, files in os.walk(folder):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def _move_into(staging: Path, directory: Path) -> None:
    """The checked export's files into ``directory``: the earlier export's replaced, the rest kept."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in EXPORT_FILES:
        old = directory / name
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        elif old.exists() or old.is_symlink():
            old.unlink()
    for entry in staging.iterdir():
        os.replace(entry, directory / entry.name)


def start_environment(task_name: str, max_seq_length: int) -> Dict[str, str]:
    """The variables that make ``demo_app.wsgi`` serve the exported model (``demo_app.settings``)."""
    return {"DEMO_APP_PRETRAINED_MODEL_NAME": "model", "DEMO_APP_TASK": task_name,
            "DEMO_APP_MAX_SEQ_LENGTH": str(max_seq_length)}


def start_line(task_name: str, max_seq_length: int) -> str:
    """The start command with its variables, as a shell runs it from the export's folder."""
    settings = " ".join(f"{name}={value}" for name, value in start_environment(task_name, max_seq_length).items())
    return f"{settings} {START_COMMAND}"


def write_model(predictor, folder: Path, max_seq_length: int) -> None:
    """The model as ``save_pretrained`` writes it (safetensors), its labels in the config, the
    files its task reads beside it (NER's ``label_map.txt``), and ``demo_app.json``."""
    model, task = predictor.model, predictor.task
    if not hasattr(model, "save_pretrained"):
        raise ValueError("export needs the PyTorch model: load it with backend='torch'")
    labels = [str(label) for label in predictor.labels]
    if task.checkpoints.labelled:
        model.config.id2label = dict(enumerate(labels))
        model.config.label2id = {label: i for i, label in enumerate(labels)}
    with quiet_transformers():  # no progress bar for one small file
        model.float().save_pretrained(folder, safe_serialization=True)
    predictor.tokenizer.save_pretrained(folder)
    _tokenizer_for_hosts(folder / "tokenizer_config.json", predictor.tokenizer)
    task.checkpoints.save_beside_model(folder, labels, Path(predictor.source) if predictor.source else None)
    facts = {"task": task.name, "demo_model": predictor.demo_model, "source": predictor.describe()["checkpoint"],
             "max_seq_length": max_seq_length}
    (folder / EXPORT_FACTS).write_text(json.dumps(facts, ensure_ascii=False, indent=1), encoding="utf-8")


def _tokenizer_for_hosts(path: Path, tokenizer) -> None:
    """No ``local_files_only`` (how it was loaded here, not how a host loads it), and
    ``clean_up_tokenization_spaces`` said (transformers warns at each start when it is not)."""
    if not path.is_file():
        return
    config = json.loads(path.read_text(encoding="utf-8"))
    config.pop("local_files_only", None)
    config.setdefault("clean_up_tokenization_spaces", bool(getattr(tokenizer, "clean_up_tokenization_spaces", False)))
    path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def check_export(predictor, folder: Path, max_seq_length: int) -> None:
    """The written model, loaded as the exported app loads it, must give the original's answers
    on the task's examples."""
    from ..loading import DeployArguments, load_predictor

    args = DeployArguments(pretrained_model_name=str(folder), task=predictor.task.name, max_seq_length=max_seq_length,
                           backend="torch", precision="fp32", device="cpu", cache_dir="")
    exported = load_predictor(args, verbose=False, batching=False)
    items = predictor.task.page.repeatable_items()
    expected = [_answer(predictor.task.pipeline.to_dict(result)) for result in predictor.predict(items)]
    got = [_answer(exported.task.pipeline.to_dict(result)) for result in exported.predict(items)]
    if got != expected:
        raise RuntimeError("the exported model does not answer as the original does on the task's "
                           "examples; nothing was kept")


def _answer(result: Dict[str, Any]) -> Dict[str, Any]:
    """A result without how long it took (generation says), which is all that may differ."""
    return {key: value for key, value in result.items() if key != "seconds"}


def copy_package(target: Path) -> None:
    """This package (its code, templates and styles; not the bundled demo models)."""
    from ..web.state import resource_dirs

    package = Path(__file__).resolve().parent.parent
    shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "demo_model"))
    templates, static = resource_dirs()
    if not (target / "templates").is_dir():  # a source checkout keeps them at the top
        shutil.copytree(templates, target / "templates", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(static, target / "static")


def requirements_text() -> str:
    """Every package the app imports, pinned to the version installed here (which the export
    was just checked with); torch from PyTorch's CPU index."""
    lines = ["# The versions this export was made and checked with. torch comes from PyTorch's CPU",
             "# index: a host without a GPU needs no CUDA packages (200 MB instead of gigabytes).",
             f"--extra-index-url {CPU_TORCH_INDEX}"]
    for name, version in pinned_versions().items():
        marker = '; platform_machine in "x86_64 AMD64 aarch64 arm64"' if name == "openvino" else ""
        lines.append(f"{name}=={version}{marker}" if version else f"{name}{marker}")
    return "\n".join(lines) + "\n"


def pinned_versions() -> Dict[str, str]:
    versions = {}
    for name in RUNTIME_PACKAGES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            # Not installed here (Colab has no gunicorn; openvino has no wheel for every platform):
            # any recent release.
            version = "" if name in ("openvino", "gunicorn") else "missing"
        if version == "missing":
            raise RuntimeError(f"{name} is not installed; install demo_app's requirements first")
        versions[name] = version.split("+")[0]  # 2.13.0+cu121 (Colab) -> 2.13.0 from the CPU index
    return versions


def dockerfile_text(environment: Dict[str, str]) -> str:
    settings = " \\\n    ".join(f"{name}={json.dumps(value)}" for name, value in environment.items())
    return f"""# The demo as a container: docker build -t demo . && docker run -p {SPACE_PORT}:{SPACE_PORT} demo
# (Hugging Face Spaces build it as it is; other hosts set PORT).
FROM python:3.11-slim

# Spaces run containers as user 1000; so does this image everywhere.
RUN useradd --create-home --uid 1000 user
USER 1000
ENV HOME=/home/user \\
    PATH=/home/user/.local/bin:$PATH \\
    PYTHONUNBUFFERED=1 \\
    PORT={SPACE_PORT} \\
    DEMO_APP_CACHE=/home/user/.cache/demo_app \\
    {settings}
WORKDIR /home/user/app

COPY --chown=user requirements.txt .
RUN pip install --no-cache-dir --user -r requirements.txt
COPY --chown=user . .

EXPOSE {SPACE_PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \\
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['PORT'] + '/healthz', timeout=4)"]
CMD ["sh", "-c", "exec {START_COMMAND}"]
"""


def readme_text(predictor, max_seq_length: int) -> str:
    from ..settings import settings_table

    task = predictor.task
    facts = predictor.describe()
    kind = "the bundled demo model of demo_app (not a fine-tuned one)" if predictor.demo_model else facts["checkpoint"]
    title = json.dumps(task.page.title.split(" (")[0] or task.name, ensure_ascii=False)
    return f"""---
title: {title}
emoji: 🤖
colorFrom: blue
colorTo: green
sdk: docker
app_port: {SPACE_PORT}
pinned: false
---

# {task.page.title or task.name}

A web demo of {kind} ({task.name}), exported by demo_app. The page is at `/`, the JSON API at
`POST /api` (ratsnlp's request body), health at `/healthz`.

Run it:

```bash
docker build -t demo . && docker run -p {SPACE_PORT}:{SPACE_PORT} demo         # then http://127.0.0.1:{SPACE_PORT}
# or without Docker, from this folder (then http://127.0.0.1:{SPACE_PORT}, or $PORT):
pip install -r requirements.txt && {start_line(task.name, max_seq_length)}
```

Pushed to a Hugging Face Space (Docker SDK), this front matter makes it one (the weights go
through Git LFS: `.gitattributes`). Settings come from environment variables (a Space's
"Variables and secrets"); a value that cannot be read stops the start with a line naming it. The
Dockerfile and Procfile trust one proxy in front of the app (`DEMO_APP_FORWARDED_HOPS=1`: a
Space's, a container host's); without Docker on your own machine, nothing is trusted.

{settings_table()}
"""
