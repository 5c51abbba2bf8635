"""Building small real models and writing them in every checkpoint format, for the tests."""

from __future__ import annotations

import glob
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Set

import torch
from lightning_format import checkpoint_filename, lightning_checkpoint, save_lightning_checkpoint
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from demo_app.files import job_board
from demo_app.loading.arguments import DEMO_PRETRAINED_DIR

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED_DIR = DEMO_PRETRAINED_DIR  # a real vocab + config, like beomi/kcbert-base but small
XSS_PAYLOADS = [
    "<img src=x onerror=\"window.__xss='img'\">",
    "<script>window.__xss='script'</script>",
    "\"><svg onload=\"window.__xss='svg'\">",
]
SENTENCES = [
    "이 영화 정말 재밌어요",
    "시간이 아까웠습니다",
    "배우들 연기가 좋았고 음악도 멋졌어요",
    "스토리가 엉성했고 결말도 실망이었습니다 다시는 안 볼 거예요",
    "ㅋㅋㅋ",
]


def job_folders(pid: int) -> Set[str]:
    """The file jobs' folders of the server process ``pid`` (their names hold it; other tests'
    servers make theirs beside them), in the temporary folder conftest gives the processes a
    test starts (TMPDIR)."""
    root = os.environ.get("TMPDIR") or tempfile.gettempdir()
    return set(glob.glob(os.path.join(root, f"{job_board.FOLDER_PREFIX}{pid}-*")))


def tiny_model(num_labels: int = 2, seed: int = 0) -> BertForSequenceClassification:
    """A randomly initialised (seeded) classifier with the demo model's architecture."""
    torch.manual_seed(seed)
    config = BertConfig.from_pretrained(PRETRAINED_DIR, num_labels=num_labels)
    return BertForSequenceClassification(config).eval()


def trained_like_lightning(model: torch.nn.Module) -> Dict[str, object]:
    """A real AdamW step on ``model`` (so the optimizer holds moments), then Lightning's dict."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    tokenizer = AutoTokenizer.from_pretrained(PRETRAINED_DIR)
    model.train()
    inputs = tokenizer(SENTENCES[:2], padding=True, return_tensors="pt")
    model(**inputs, labels=torch.tensor([1, 0])).loss.backward()
    optimizer.step()
    scheduler.step()
    model.eval()
    return lightning_checkpoint(model, optimizer, scheduler, epoch=1, global_step=1,
                                val_loss=0.42, filename=checkpoint_filename(1, 0.42))


def write_lightning(model, directory: Path, epoch: int = 1, val_loss: float = 0.42) -> Path:
    checkpoint = trained_like_lightning(model)
    return save_lightning_checkpoint(checkpoint, Path(directory) / checkpoint_filename(epoch, val_loss))


def tutorial_probabilities(model, tokenizer, sentence: str, max_seq_length: int = 128) -> List[float]:
    """nlpbook's deploy notebook, line for line: pad to max_length, one sentence, fp32."""
    inputs = tokenizer([sentence], max_length=max_seq_length, padding="max_length", truncation=True)
    with torch.no_grad():
        outputs = model(**{k: torch.tensor(v) for k, v in inputs.items()})
        prob = outputs.logits.softmax(dim=1)
    return prob[0].tolist()


def put_in_hub_cache(hub: Path, name: str, folder: Path) -> None:
    """``folder``'s files where huggingface_hub keeps a download of model ``name`` (revision
    "0123abc"): the Hugging Face hub cannot be reached here."""
    import shutil

    repository = hub / f"models--{name.replace('/', '--')}"
    shutil.copytree(folder, repository / "snapshots" / "0123abc")
    (repository / "refs").mkdir()
    (repository / "refs" / "main").write_text("0123abc")


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (closed again before returning)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RunsCode:
    """Pickles into a call of os.system("touch MARKER"): what a malicious checkpoint carries."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class HostileSockets:
    """``idle`` connections that send nothing and ``slow`` ones that trickle request headers
    (slowloris), all to 127.0.0.1:``port``; closed again on leaving the ``with`` block."""

    def __init__(self, port: int, idle: int = 500, slow: int = 100) -> None:
        self.port, self.idle, self.slow = port, idle, slow
        self.sockets: List[socket.socket] = []

    def __enter__(self) -> "HostileSockets":
        for index in range(self.idle + self.slow):
            connection = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            if index >= self.idle:
                connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            self.sockets.append(connection)
        return self

    def trickle(self) -> None:
        """One more header line on every slow connection, as slowloris does every few seconds."""
        for connection in self.sockets[self.idle:]:
            try:
                connection.sendall(b"X-Slow: 1\r\n")
            except OSError:
                pass

    def __exit__(self, *exc_info) -> None:
        for connection in self.sockets:
            connection.close()


def process_usage() -> Dict[str, float]:
    """This process's threads, open file descriptors and resident memory (MB)."""
    import threading

    status = Path("/proc/self/status").read_text()
    return {"threads": threading.active_count(), "fds": len(os.listdir("/proc/self/fd")),
            "rss_mb": int(status.split("VmRSS:")[1].split()[0]) / 1024}


def wait_until_serving(url: str, process, seconds: float = 90) -> None:
    """Poll ``url``/healthz until a server subprocess answers; fail if it exits or takes too long."""
    import time

    import requests

    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(url + "/healthz", timeout=2)
            return
        except requests.RequestException:
            assert process.poll() is None, "the server exited before it served"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)


def medium_bert(task: str, directory: Path, seed: int = 0) -> Dict[str, str]:
    """A randomly initialised (seeded) BERT four times wider and twice deeper than the demo
    models (hidden 256, 4 layers), for ``task`` "qa" or "ner", written as ratsnlp writes it under
    ``directory``: slow enough that queued work shows as seconds. Returns DeployArguments fields."""
    import json
    import shutil

    from transformers import BertConfig, BertForQuestionAnswering, BertForTokenClassification

    demo = Path(__file__).resolve().parent.parent / "demo_app" / "demo_model"
    pretrained = directory / "pretrained"
    shutil.copytree(demo / f"pretrained-{task}", pretrained)
    config = json.loads((pretrained / "config.json").read_text())
    config.update(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
    (pretrained / "config.json").write_text(json.dumps(config))
    checkpoints = directory / f"checkpoint-{task}"
    torch.manual_seed(seed)
    if task == "ner":
        labels = (demo / "checkpoint-ner" / "label_map.txt").read_text(encoding="utf-8")
        model = BertForTokenClassification(BertConfig(**config, num_labels=len(labels.split())))
        checkpoints.mkdir(parents=True)
        (checkpoints / "label_map.txt").write_text(labels, encoding="utf-8")
    else:
        model = BertForQuestionAnswering(BertConfig(**config))
    checkpoint = lightning_checkpoint(model.eval(), torch.optim.SGD(model.parameters(), lr=0.1), epoch=0,
                                      global_step=0, val_loss=1.0, filename=checkpoint_filename(0, 1.0),
                                      dirpath=checkpoints.name)
    save_lightning_checkpoint(checkpoint, checkpoints / checkpoint_filename(0, 1.0))
    return {"pretrained_model_name": str(pretrained), "downstream_model_dir": str(checkpoints)}


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 300) -> "subprocess.CompletedProcess[str]":
    """``python -m demo_app ARGS`` in a process of its own, as a student types it, with this
    checkout's demo_app first on the path: forked from a zygote that imported the libraries once
    (tests/zygote.py), a couple of seconds sooner than a fresh Python each time."""
    import tempfile

    from zygote import zygote_for

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory(prefix="demo_app-cli-") as folder:
        output, errors = Path(folder) / "out", Path(folder) / "err"
        code = zygote_for(env).run(["-m", "demo_app", *args], Path(cwd), env, output, errors, timeout)
        return subprocess.CompletedProcess([sys.executable, "-m", "demo_app", *args], code,
                                           output.read_text(encoding="utf-8", errors="replace"),
                                           errors.read_text(encoding="utf-8", errors="replace"))


def wait_until_done(url: str, status_url: str, timeout: float = 120) -> dict:
    """Poll a file job's status (``url`` + ``status_url``) until it is no longer running."""
    import time

    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = requests.get(url + status_url, timeout=30).json()
        if answer["status"] != "running":
            return answer
        time.sleep(0.3)
    raise AssertionError("the job did not finish")


def worker_processes(master) -> list:
    """The pids of gunicorn's workers (the master's children), from /proc."""
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    return [int(pid) for pid in children]
