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

Before the folder is written, the export is loaded back and must give the original's answers on
the task's examples.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import shutil
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
                 "--timeout 120 demo_app.wsgi:app" % SPACE_PORT)


def export_app(args, directory, *, overwrite: bool = False, say: Callable[[str], None] = print) -> Path:
    """Write the deployable folder for the model ``args`` (``DeployArguments``) names into
    ``directory``: new, empty, an earlier export (replaced), or anything with ``overwrite``.
    Returns the folder. The model is read in fp32 with PyTorch, whatever the host will run it in."""
    from ..loading import load_predictor

    directory = drive_file_path(directory)  # Drive's "My Drive" or "MyDrive", whichever is mounted
    if directory.exists() and any(directory.iterdir()):
        earlier = (directory / "model" / EXPORT_FACTS).is_file() and (directory / "Dockerfile").is_file()
        if not (overwrite or earlier):
            raise FileExistsError(f"{directory} is not empty; choose a new folder or pass --overwrite")
    args = dataclasses.replace(args, backend="torch", precision="fp32", device="cpu")
    predictor = load_predictor(args, verbose=False, batching=False)
    return write_app(predictor, directory, max_seq_length=args.max_seq_length, say=say)


def write_app(predictor, directory: Path, *, max_seq_length: int, say: Callable[[str], None] = print) -> Path:
    """The folder for ``predictor`` (PyTorch, fp32), replacing what ``directory`` holds."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    task = predictor.task
    say(f"Writing the model ({task.name}) as safetensors ...")
    write_model(predictor, directory / "model", max_seq_length)
    try:
        check_export(predictor, directory / "model", max_seq_length)
    except Exception:
        shutil.rmtree(directory, ignore_errors=True)  # nothing half-checked is left to deploy
        raise
    copy_package(directory / "demo_app")
    (directory / "requirements.txt").write_text(requirements_text(), encoding="utf-8")
    environment = {"DEMO_APP_PRETRAINED_MODEL_NAME": "model", "DEMO_APP_TASK": task.name,
                   "DEMO_APP_MAX_SEQ_LENGTH": str(max_seq_length)}
    (directory / "Dockerfile").write_text(dockerfile_text(environment), encoding="utf-8")
    (directory / "Procfile").write_text(f"web: {' '.join(f'{k}={v}' for k, v in environment.items())} "
                                        f"{START_COMMAND}\n", encoding="utf-8")
    (directory / ".dockerignore").write_text("**/__pycache__\n*.pyc\n.git\n", encoding="utf-8")
    (directory / "README.md").write_text(readme_text(predictor), encoding="utf-8")
    say(f"Exported to {directory}: start it with `docker build -t demo . && docker run -p {SPACE_PORT}:{SPACE_PORT} "
        f"demo`, or push the folder to a Hugging Face Space (Docker SDK).")
    return directory


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
    task.checkpoints.save_beside_model(folder, labels, Path(predictor.source) if predictor.source else None)
    facts = {"task": task.name, "demo_model": predictor.demo_model, "source": predictor.describe()["checkpoint"],
             "max_seq_length": max_seq_length}
    (folder / EXPORT_FACTS).write_text(json.dumps(facts, ensure_ascii=False, indent=1), encoding="utf-8")


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


def readme_text(predictor) -> str:
    task = predictor.task
    facts = predictor.describe()
    kind = "the bundled demo model of demo_app (not a fine-tuned one)" if predictor.demo_model else facts["checkpoint"]
    return f"""---
title: {json.dumps(task.page.title.split(" (")[0] or task.name)}
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
# or without Docker, from this folder:
pip install -r requirements.txt && {START_COMMAND.replace("${PORT:-%d}" % SPACE_PORT, str(SPACE_PORT))}
```

Pushed to a Hugging Face Space (Docker SDK), this front matter makes it one. Settings come from
environment variables (a Space's "Variables and secrets"): `DEMO_APP_AUTH=user:password` (a secret),
`DEMO_APP_RATE_LIMIT=30/minute`, `DEMO_APP_HISTORY` (a SQLite file, or a `postgresql://` URL that
several replicas share), `DEMO_APP_CORS_ORIGINS`, `WEB_CONCURRENCY` (gunicorn workers, default 1).
"""


def push_to_space(directory, space_id: str, token: str, *, private: bool = False, api=None) -> str:
    """Upload an exported folder to the Hugging Face Space ``space_id`` ("user/name"), made as a
    Docker Space if it does not exist; returns its address. ``token`` is a write token (in Colab:
    the secret ``HF_TOKEN``); it is never printed. ``api``: a ``huggingface_hub.HfApi`` (tests
    pass a stand-in for the hub, which cannot be reached from them)."""
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    directory = Path(directory).expanduser()
    if not (directory / "Dockerfile").is_file():
        raise FileNotFoundError(f"{directory} is not an exported demo (no Dockerfile): run export first")
    api.create_repo(space_id, repo_type="space", space_sdk="docker", private=private, exist_ok=True, token=token)
    api.upload_folder(folder_path=str(directory), repo_id=space_id, repo_type="space", token=token,
                      commit_message="demo_app export")
    return f"https://huggingface.co/spaces/{space_id}"
