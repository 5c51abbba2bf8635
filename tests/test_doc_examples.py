"""Every Python example of the README and the docs runs, and shows what it gives (issue 33).

Each block runs in a fresh process (``doc_examples.py``: statement by statement, every output a
comment shows compared with what the expression gives) in the world the examples assume, built
offline:

- the hub names they use (``beomi/kcbert-base``, ``skt/kogpt2-base-v2``) are the bundled demo
  models' files, kept where huggingface_hub keeps a download, with the hub off: it cannot be
  reached here;
- Colab's Drive, mounted at ``/gdrive``, is a temporary folder holding the demo checkpoints under
  ``MyDrive/nlpbook`` (today's spelling, where the examples say ``My Drive``, as nlpbook does):
  this machine has no Drive, and a test must not write to ``/``, so ``/gdrive/`` is replaced;
- ngrok is tests/fake_ngrok (its cloud cannot be reached), and port 5000 a free port.

So the outputs shown are the demo models' (the docs say so where they appear).
"""

import ast
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import requests
from doc_examples import code_blocks, matches, shown_outputs
from fake_hub import FakeHub
from helpers import free_port, put_in_hub_cache, wait_until_serving
from PIL import Image
from zygote import Zygote, ZygoteChild, zygote_for

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo_app" / "demo_model"
FAKE_NGROK = Path(__file__).resolve().parent / "fake_ngrok" / "ngrok"
HUB_MODELS = {"skt/kogpt2-base-v2": DEMO / "pretrained-generation",
              "microsoft/resnet-50": DEMO / "image-classification"}
KCBERT_STAND_INS = ("pretrained", "pretrained-paircls", "pretrained-ner", "pretrained-qa")
DRIVE_CHECKPOINTS = ("checkpoint-doccls", "checkpoint-paircls", "checkpoint-ner", "checkpoint-qa",
                     "checkpoint-generation")
# docs/index.md is the README (scripts/docs_index.py): its blocks are the README's.
DOCUMENTS = [ROOT / "README.md", *sorted(path for path in (ROOT / "docs").glob("*.md") if path.name != "index.md")]
EXAMPLES = [(path, number, block) for path in DOCUMENTS for number, block in enumerate(code_blocks(path, "python"))]


def hub_for(root: Path, stand_in: str) -> Path:
    """The Hugging Face cache in which ``beomi/kcbert-base`` is the demo folder ``stand_in``."""
    return root / "hubs" / stand_in


def hub_for_example(root: Path, example: str) -> Path:
    """The cache for an example: the one whose kcbert-base the first checkpoint it names was trained from."""
    named = sorted((example.find(checkpoint), pretrained)
                   for checkpoint, pretrained in {"checkpoint-doccls": "pretrained", **PRETRAINED_FOR}.items()
                   if checkpoint in example)
    return hub_for(root, named[0][1] if named else "pretrained")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("docs-world")
    for stand_in in KCBERT_STAND_INS:
        put_in_hub_cache(hub_for(root, stand_in), "beomi/kcbert-base", DEMO / stand_in)
        for name, folder in HUB_MODELS.items():
            put_in_hub_cache(hub_for(root, stand_in), name, folder)
    for name in DRIVE_CHECKPOINTS:
        shutil.copytree(DEMO / name, root / "gdrive" / "MyDrive" / "nlpbook" / name)
    Image.new("RGB", (64, 64), (200, 40, 40)).save(root / "cat.jpg")  # the image example's file
    environment = {**os.environ, "HF_HUB_CACHE": str(hub_for(root, "pretrained")), "HF_HUB_OFFLINE": "1",
                   "PYNGROK_NGROK_PATH": str(FAKE_NGROK), "NGROK_AUTHTOKEN": "docs-example-token",
                   "DEMO_APP_CACHE": str(root / "cache"),
                   "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    return root, environment


@pytest.fixture(scope="module")
def commands(world):
    """How a command runs: forked from the zygote (tests/zygote.py) for the Hugging Face cache it
    needs, with that environment."""
    root, environment = world

    def with_hub(hub: Path) -> Tuple[Zygote, Dict[str, str]]:
        settings = {**environment, "HF_HUB_CACHE": str(hub)}
        return zygote_for(settings), settings

    return with_hub


def test_the_docs_have_python_examples_and_show_outputs():
    """The runner below must have something to run and to check (a parsing slip finds nothing)."""
    assert len(EXAMPLES) >= 5
    shown = sum(1 for _, _, block in EXAMPLES for _ in shown_outputs(block, ast.parse(block)))
    assert shown >= 4


@pytest.mark.parametrize("path,number,block", EXAMPLES,
                         ids=[f"{path.name}-{number}" for path, number, _ in EXAMPLES])
def test_a_python_example_runs_and_gives_what_it_shows(path, number, block, world, commands):
    root, environment = world
    port = free_port()
    server = None
    if "/predict\"" in block and "files=" in block:  # the PyTorch recipe's client: an image server to ask
        from demo_app import DeployArguments, create_app, load_predictor, serve

        server = serve(create_app(load_predictor(DeployArguments(task="image-classification"), verbose=False)),
                       port=port, quiet=True)
    source = block.replace("/gdrive/", f"{root}/gdrive/").replace("5000", str(port))
    example = root / f"{path.stem}-{number}.py"
    example.write_text(source, encoding="utf-8")
    output = root / f"{path.stem}-{number}"
    try:
        zygote, settings = commands(hub_for_example(root, block))
        code = zygote.run([str(ROOT / "tests" / "doc_examples.py"), str(example)], root, settings,
                          Path(f"{output}.out"), Path(f"{output}.err"))
    finally:
        if server is not None:
            server.stop()
    assert code == 0, f"{path.name} block {number}:\n{Path(f'{output}.err').read_text()[-4000:]}"
    checked = json.loads(Path(f"{output}.out").read_text().splitlines()[-1])["checked"]
    assert checked == sum(1 for _ in shown_outputs(block, ast.parse(block)))


# -- the shell examples ---------------------------------------------------------------------------

# Commands the docs show that are not run here, each with why: every other one is.
NOT_RUN_HERE = {
    "make demo": "the README's own command; `make test` (this suite) is the other",
    "make test": "runs this suite",
    "docker build": "no Docker daemon here; tests/test_export.py checks the Dockerfile with hadolint",
    "--tunnel ssh": "needs localhost.run, which cannot be reached; tests/test_tunnel.py runs ssh against a local sshd",
    "pytest --nbval notebooks/": "what `make test` runs (tests/test_notebooks.py and nbval)",
}
# The demo checkpoint a command names chooses which demo pretrained folder stands for
# beomi/kcbert-base (each demo model has its own small vocabulary; kcbert-base serves them all).
PRETRAINED_FOR = {"checkpoint-paircls": "pretrained-paircls", "checkpoint-ner": "pretrained-ner",
                  "checkpoint-qa": "pretrained-qa"}
SERVED_TASK = re.compile(r"python -m demo_app serve --task ([\w-]+)")
OUTPUT = re.compile(r"^#\s*->\s*")
JSON_WORDS = {"true": "True", "false": "False", "null": "None"}


def shell_commands(block: str) -> List[Tuple[str, str, str]]:
    """Each command of a shell block (continuation lines joined, its comment cut), with the
    comment lines just before it and the output it shows (``# -> ...``, continued by indented
    comment lines)."""
    commands: List[Tuple[str, str, str]] = []
    pending, notes, showing = "", "", False
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if OUTPUT.match(stripped) and commands:
                showing = True
                commands[-1] = (*commands[-1][:2], OUTPUT.sub("", stripped))
            elif showing and stripped[1:].startswith("    "):
                commands[-1] = (*commands[-1][:2], commands[-1][2] + " " + stripped[1:].strip())
            else:
                showing, notes = False, notes + stripped + "\n"
            continue
        showing = False
        if not stripped:
            continue
        pending += without_comment(stripped)
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip() + " "
            continue
        commands.append((pending.strip(), notes, ""))
        pending, notes = "", ""
    return commands


def without_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` inside quotes is kept)."""
    quote = None
    for index, character in enumerate(line):
        if quote:
            quote = None if character == quote else quote
        elif character in "'\"":
            quote = character
        elif character == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line


def shown_json(text: str):
    """A shown response (JSON with ``...`` for what is left out) as a Python literal."""
    return ast.literal_eval(re.sub(r"\b(true|false|null)\b", lambda word: JSON_WORDS[word.group()], text))


SHELL_DOCUMENTS = [path for path in DOCUMENTS if code_blocks(path, "bash")]


class ShellExamples:
    """Runs a document's shell commands in order, in one folder (an export, then its push; a
    served history, then its dump), as a reader would in a terminal. Servers are started, asked
    for ``/healthz`` and stopped; ``curl`` asks a demo server of the task the comments name."""

    def __init__(self, root: Path, environment: Dict[str, str], folder: Path, task: str, commands) -> None:
        self.root, self.environment, self.folder, self.task = root, environment, folder, task
        self.commands = commands
        self.servers: Dict[str, Any] = {}
        self.hub: Any = None
        self.running: Any = None  # the server process the document started last: its port, command, log
        self.ran: List[str] = []
        for name in ("ratings_test.txt",):
            shutil.copy(ROOT / "data" / "demo_reviews" / name, folder / name)
        shutil.copy(ROOT / "data" / "demo_nli" / "klue_nli_dev.json", folder / "klue_nli_dev.json")
        shutil.copytree(DEMO / "image-classification", folder / "my-resnet")
        (folder / "photos").mkdir()
        for name, color in (("cat.jpg", (200, 40, 40)), ("dog.png", (40, 40, 200)), ("photos/a.png", (0, 0, 0)),
                            ("photos/b.jpg", (255, 255, 255))):
            Image.new("RGB", (64, 64), color).save(folder / name)

    def run(self, command: str, notes: str, shown: str) -> None:
        served = SERVED_TASK.search(notes)
        if served:
            self.task = served.group(1)
        if any(marker in command for marker in NOT_RUN_HERE):
            return
        command = command.replace("/gdrive/", f"{self.root}/gdrive/").replace("NGROK_AUTHTOKEN=...",
                                                                               "NGROK_AUTHTOKEN=docs-example-token")
        if re.match(r"^(\w+=\S+ )*python -m demo_app(\.wsgi| serve)", command):
            self._serve(command)
        elif command.startswith("curl "):
            self._ask(command, shown)
        else:
            self._complete(command)
        self.ran.append(command)

    def _environment(self, command: str) -> Dict[str, str]:
        environment = {**self.environment, "HF_HUB_CACHE": str(hub_for_example(self.root, command))}
        if " push " in f" {command} ":  # the hub a Space is pushed to: tests/fake_hub.py
            if self.hub is None:
                self.hub = FakeHub()
            environment.update(HF_ENDPOINT=self.hub.url, HF_TOKEN="hf_write")
            environment.pop("HF_HUB_OFFLINE")
        return environment

    def _shell(self, command: str) -> str:
        return re.sub(r"(^|\s)python ", rf"\1{sys.executable} ", command, count=1)

    def _complete(self, command: str) -> None:
        python = self._python(command)
        if python is None:  # pushing (another hub, online), or not python: as a shell runs it
            run = subprocess.run(["bash", "-c", self._shell(command)], cwd=self.folder,
                                 env=self._environment(command), capture_output=True, text=True, timeout=600)
            assert run.returncode == 0, f"{command}\n{run.stderr[-3000:]}"
            return
        arguments, settings, redirect = python
        output = self.folder / f"command-{len(self.ran)}"
        zygote, environment = self.commands(hub_for_example(self.root, command))
        code = zygote.run(arguments, self.folder, {**environment, **settings}, Path(f"{output}.out"),
                          Path(f"{output}.err"))
        assert code == 0, f"{command}\n{Path(f'{output}.err').read_text(errors='replace')[-3000:]}"
        if redirect:
            shutil.copy(f"{output}.out", self.folder / redirect)

    def _python(self, command: str):
        """``[NAME=VALUE ...] python ARGUMENTS [> FILE]`` as (arguments, settings, FILE), for the
        zygote; None for anything else, and for a push (it talks to another hub, online)."""
        words = shlex.split(command)
        settings = {}
        while words and re.match(r"^\w+=", words[0]):
            name, value = words.pop(0).split("=", 1)
            settings[name] = value
        if not words or words[0] != "python" or "push" in words:
            return None
        redirect = words[words.index(">") + 1] if ">" in words else None
        arguments = words[1:words.index(">")] if redirect else words[1:]
        return arguments, settings, redirect

    def _serve(self, command: str) -> None:
        """Start the server ``command`` names and wait for its ``/healthz``; it keeps serving the
        document's next ``curl`` commands until the next server starts."""
        self._stop_running()
        port = free_port()
        command = command.replace("PORT=8000", f"PORT={port}")
        if "demo_app serve" in command:
            command += f" --port {port}"
        python = self._python(command)
        assert python is not None, command
        arguments, settings, _ = python
        log = self.folder / f"server-{port}"
        zygote, environment = self.commands(hub_for_example(self.root, command))
        pid = zygote.start(arguments, self.folder, {**environment, **settings}, Path(f"{log}.out"), Path(f"{log}.out"))
        self.running = (pid, port, command, log, zygote)
        try:
            wait_until_serving(f"http://127.0.0.1:{port}", ZygoteChild(pid), seconds=300)
        except AssertionError as problem:
            raise AssertionError(f"{command}: {problem}\n{Path(f'{log}.out').read_text(errors='replace')[-3000:]}")
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200, command

    def _stop_running(self) -> None:
        if self.running is not None:
            pid, _, command, log, zygote = self.running
            self.running = None
            os.kill(pid, signal.SIGTERM)
            code = zygote.wait(pid)
            said = Path(f"{log}.out").read_text(errors="replace")[-3000:]
            assert code == 0, f"{command} exited {code} on SIGTERM\n{said}"

    def _ask(self, command: str, shown: str) -> None:
        """``curl`` to the server the document started, else to a demo server of its task."""
        if self.running is not None:
            url = f"http://127.0.0.1:{self.running[1]}"
        else:
            url = self._demo_server()
        self._curl(command.replace("http://127.0.0.1:5000", url), shown)

    def _demo_server(self) -> str:
        if self.task not in self.servers:
            from demo_app import DeployArguments, create_app, load_predictor, serve

            predictor = load_predictor(DeployArguments(task=self.task), verbose=False)
            self.servers[self.task] = serve(create_app(predictor), port=0, quiet=True)
        return self.servers[self.task].url

    def _curl(self, command: str, shown: str) -> None:
        run = subprocess.run(["bash", "-c", command + " --silent --show-error --fail-with-body"], cwd=self.folder,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, f"{command}\n{run.stdout[-2000:]}{run.stderr[-2000:]}"
        if shown:
            answer = json.loads(run.stdout)
            assert matches(shown_json(shown), answer), f"{command}\nshows {shown}\ngave  {answer}"

    def close(self) -> None:
        self._stop_running()
        for server in self.servers.values():
            server.stop()
        if self.hub is not None:
            self.hub.close()


DEFAULT_TASK = {"generation.md": "generation", "chapter-pairs.md": "pair-classification", "chapter-ner.md": "ner",
                "chapter-qa.md": "qa"}  # what the document's curl commands ask when no comment says


@pytest.mark.parametrize("path", SHELL_DOCUMENTS, ids=[path.name for path in SHELL_DOCUMENTS])
def test_every_shell_example_runs(path, world, commands, tmp_path):
    root, environment = world
    shell = ShellExamples(root, environment, tmp_path, DEFAULT_TASK.get(path.name, "classification"), commands)
    try:
        for block in code_blocks(path, "bash"):
            for command, notes, shown in shell_commands(block):
                shell.run(command, notes, shown)
    finally:
        shell.close()
    shown_anywhere = [command for block in code_blocks(path, "bash") for command in shell_commands(block)]
    assert len(shell.ran) == sum(1 for command, _, _ in shown_anywhere
                                 if not any(marker in command for marker in NOT_RUN_HERE))
