"""demo_app against the nlpbook tutorial's server, on a kcbert-base-sized model, in one run.

    python benchmarks/serve_benchmark.py [--duration 10] [--clients 1 4 16]   (or: make benchmark)
    python benchmarks/serve_benchmark.py --task pair-classification   (nlpbook's NLI chapter)
    python benchmarks/serve_benchmark.py --task ner    (named entities; --task qa: question answering)
    python benchmarks/serve_benchmark.py --inputs short   (the fixture's one-sentence reviews, ~9 tokens)
    python benchmarks/serve_benchmark.py --device cuda    (demo_app on the GPU; the book's code runs on the CPU)
    python benchmarks/serve_benchmark.py --backend torch  (demo_app without OpenVINO)

1. Writes a kcbert-base-sized checkpoint the way Lightning writes it (random weights, seed 0,
   AdamW moments included: about 1.3 GB) and a pretrained dir (config + 30000-token vocab).
2. Cold start and peak RSS of both load paths, each in a fresh process.
3. Starts the tutorial's server (Flask dev server, pad to 128, one sentence per request) and
   demo_app's (`python -m demo_app serve`, default settings), drives both with wrk at 1, 4 and 16
   concurrent clients with the same Korean reviews, and prints req/s, p50, p99 and the
   demo_app / tutorial ratios. Only 127.0.0.1 is contacted.
4. The model alone, without HTTP, loaded as each server loads it (``model_only.py``): inputs per
   second in groups of 16 and the time for one input, so the server's share is visible.
The reviews are real review length by default: 4 to 9 of the held-out NSMC sentences joined
(seeded), as long as NSMC's reviews are; the tokens per input are printed.
With ``--task pair-classification`` the model has 3 classes in a ``checkpoint-paircls`` folder,
both servers read at most 64 tokens (the book's setting), and the requests are the premise /
hypothesis pairs of ``data/demo_nli/klue_nli_dev.json``. With ``--task ner``: a token-classification
head over ratsnlp's ``label_map.txt`` of the fixture checkpoint, 64 tokens, the sentences of
``data/demo_ner/val.txt``. With ``--task qa``: a ``qa_outputs`` head, 128 tokens, the questions
and contexts of ``data/demo_qa/KorQuAD_v1.0_dev.json`` (the book cuts contexts at 128 tokens,
demo_app reads all of each context in overlapping windows, so it does more work per request).
Needs wrk (Debian package `wrk`; `make benchmark` installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # the Lightning checkpoint writer the demo models use
from lightning_format import checkpoint_filename, lightning_checkpoint, save_lightning_checkpoint  # noqa: E402

SENTENCES_FILE = ROOT / "data" / "demo_reviews" / "ratings_test.txt"
PAIRS_FILE = ROOT / "data" / "demo_nli" / "klue_nli_dev.json"
NER_FILE = ROOT / "data" / "demo_ner" / "val.txt"
NER_LABEL_MAP = ROOT / "tests" / "fixtures" / "ratsnlp-1.0.53" / "checkpoint-ner" / "label_map.txt"
QA_FILE = ROOT / "data" / "demo_qa" / "KorQuAD_v1.0_dev.json"


REVIEWS = 256  # review-length inputs made for the benchmark


def benchmark_bodies(task: str, inputs: str = "real") -> list:
    """What each chapter's page posts to ``POST /api``, one body per request. The other chapters'
    data sets are real length already; for reviews ``inputs="short"`` gives the one-sentence
    fixture (about 9 tokens) and ``"real"`` joins 4 to 9 of its sentences (NSMC's length)."""
    if task == "pair-classification":
        return [{"premise": row["premise"], "hypothesis": row["hypothesis"]}
                for row in json.loads(PAIRS_FILE.read_text(encoding="utf-8"))]
    if task == "ner":
        return [line.split("\u241e")[0] for line in NER_FILE.read_text(encoding="utf-8").splitlines() if line]
    if task == "qa":
        articles = json.loads(QA_FILE.read_text(encoding="utf-8"))["data"]
        return [{"question": qa["question"], "context": paragraph["context"]}
                for article in articles for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    sentences = [line.split("\t")[1] for line in SENTENCES_FILE.read_text(encoding="utf-8").splitlines()[1:]]
    if inputs == "short":
        return sentences
    rng = random.Random(0)
    return [" ".join(rng.sample(sentences, rng.randint(4, 9))) for _ in range(REVIEWS)]


def tokens_per_input(pretrained: Path, bodies: list, task: str, max_seq_length: int) -> dict:
    """Mean tokens of an input as the model reads it (special tokens included), and read at
    most ``max_seq_length`` (what the book pads every input to)."""
    from transformers import BertTokenizerFast

    tokenizer = BertTokenizerFast.from_pretrained(str(pretrained), do_lower_case=False)
    fields = {"pair-classification": ("premise", "hypothesis"), "qa": ("question", "context")}.get(task)
    lengths = [len(tokenizer(*(body[f] for f in fields))["input_ids"]) if fields else len(tokenizer(body)["input_ids"])
               for body in bodies]
    return {"mean": sum(lengths) / len(lengths),
            "mean_read": sum(min(n, max_seq_length) for n in lengths) / len(lengths)}


# Per task: the checkpoint folder ratsnlp writes, the book's max_seq_length, the tutorial's flag.
TASK_SETUP = {
    "classification": ("checkpoint-doccls", 128, []),
    "pair-classification": ("checkpoint-paircls", 64, ["--pair"]),
    "ner": ("checkpoint-ner", 64, ["--ner"]),
    "qa": ("checkpoint-qa", 128, ["--qa"]),
}
KCBERT_BASE = dict(vocab_size=30000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                   intermediate_size=3072, max_position_embeddings=300, type_vocab_size=2)


def make_kcbert_sized_checkpoint(directory: Path, task: str = "classification") -> tuple[Path, Path]:
    from transformers import (
        BertConfig,
        BertForQuestionAnswering,
        BertForSequenceClassification,
        BertForTokenClassification,
    )

    folder = TASK_SETUP[task][0]

    pretrained, checkpoints = directory / "pretrained", directory / folder
    pretrained.mkdir(parents=True, exist_ok=True)
    demo_vocab = (ROOT / "demo_app" / "demo_model" / "pretrained" / "vocab.txt").read_text(encoding="utf-8").split()
    vocab = demo_vocab + [f"[unused{i}]" for i in range(KCBERT_BASE["vocab_size"] - len(demo_vocab))]
    (pretrained / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (pretrained / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "model_max_length": 300}))
    BertConfig(**KCBERT_BASE).save_pretrained(pretrained)
    torch.manual_seed(0)
    if task == "ner":  # ratsnlp writes label_map.txt beside the checkpoint; reuse the fixture's
        checkpoints.mkdir(parents=True, exist_ok=True)
        shutil.copy(NER_LABEL_MAP, checkpoints / "label_map.txt")
        labels = NER_LABEL_MAP.read_text(encoding="utf-8").split()
        model = BertForTokenClassification(BertConfig(**KCBERT_BASE, num_labels=len(labels)))
    elif task == "qa":
        model = BertForQuestionAnswering(BertConfig(**KCBERT_BASE))
    else:
        num_labels = 3 if task == "pair-classification" else 2
        model = BertForSequenceClassification(BertConfig(**KCBERT_BASE, num_labels=num_labels))
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    for parameter in model.parameters():
        parameter.grad = torch.randn_like(parameter) * 1e-3
    optimizer.step()  # fills exp_avg / exp_avg_sq: the ~870 MB a real checkpoint carries
    checkpoint = lightning_checkpoint(model, optimizer, None, epoch=2, global_step=3000, val_loss=0.31,
                                      filename=checkpoint_filename(2, 0.31), dirpath=folder)
    path = save_lightning_checkpoint(checkpoint, checkpoints / checkpoint_filename(2, 0.31))
    return pretrained, path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, body: bytes, timeout: float = 180) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stdout.read() if process.stdout else ''}")
        try:
            request = urllib.request.Request(url + "/api", data=body, headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=30).read()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up")


WRK_SCRIPT = """
local sentences = {%s}
local i = 0
request = function()
  i = i %% #sentences + 1
  return wrk.format("POST", "/api", {["Content-Type"] = "application/json"}, sentences[i])
end
"""


def run_wrk(url: str, clients: int, duration: int, script: Path) -> dict:
    command = ["wrk", "-t", str(min(clients, 4)), "-c", str(clients), "-d", f"{duration}s",
               "--timeout", "30s", "--latency", "-s", str(script), url + "/api"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    def seconds(text):
        value, unit = float(re.match(r"([\d.]+)(\w+)", text).group(1)), re.match(r"[\d.]+(\w+)", text).group(1)
        return value * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]
    latency = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)", output, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "p50_ms": seconds(latency["50"]) * 1000, "p99_ms": seconds(latency["99"]) * 1000,
            "errors": int(errors.group(1)) if errors else 0,
            "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0}


def cold_start(command: list[str]) -> dict:
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    fields = dict(re.findall(r"(\w+)=([\d.]+)", output.strip().splitlines()[-1]))
    return {"seconds": float(fields["cold_start_s"]), "peak_mb": float(fields["peak_rss_mb"])}


def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def print_cold_starts(cold: dict, first_load: dict, starts: Optional[dict] = None) -> None:
    """The cold-start table: the medians, demo_app's first load and the ratios (and each run)."""
    print()
    print("| load path | cold start to first prediction s | peak RSS MB |")
    print("|---|---|---|")
    for name in ("tutorial", "demo_app"):
        print(f"| {name} | {cold[name]['seconds']:.2f} | {cold[name]['peak_mb']:.0f} |")
    print(f"| demo_app's first load (makes its OpenVINO conversion, when it uses one) | "
          f"{first_load['seconds']:.2f} | {first_load['peak_mb']:.0f} |")
    print(f"| ratio demo_app / tutorial | {cold['demo_app']['seconds'] / cold['tutorial']['seconds']:.2f}x | "
          f"{cold['demo_app']['peak_mb'] / cold['tutorial']['peak_mb']:.2f}x |")
    for name, runs in (starts or {}).items():
        print(f"{name} runs: " + ", ".join(f"{run['seconds']:.2f} s / {run['peak_mb']:.0f} MB" for run in runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--cold-start-runs", type=int, default=3)
    parser.add_argument("--task", choices=list(TASK_SETUP), default="classification")
    parser.add_argument("--inputs", choices=["real", "short"], default="real",
                        help="reviews of NSMC's length (default) or the fixture's single sentences")
    parser.add_argument("--device", default="auto", help="demo_app's --device (the book's code runs on the CPU)")
    parser.add_argument("--backend", default="auto", help="demo_app's --backend")
    parser.add_argument("--cold-start-only", action="store_true", help="stop after the cold starts (no wrk)")
    options = parser.parse_args()
    _, max_seq_length, tutorial_flags = TASK_SETUP[options.task]
    if not shutil.which("wrk") and not options.cold_start_only:
        print("wrk is not installed: apt-get install wrk (or run `make benchmark`)", file=sys.stderr)
        return 1

    print(f"task: {options.task}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.processor() or 'cpu'}; python {platform.python_version()}, torch {torch.__version__}")
    work = Path(tempfile.mkdtemp(prefix="demo_app-bench-"))
    try:
        print("writing a kcbert-base-sized Lightning checkpoint ...", flush=True)
        pretrained, checkpoint = make_kcbert_sized_checkpoint(work, options.task)
        print(f"  {checkpoint.name}: {checkpoint.stat().st_size / 1e9:.2f} GB", flush=True)

        python = sys.executable
        # demo_app's OpenVINO conversion is made at the first load and cached: both figures are shown.
        os.environ["DEMO_APP_CACHE"] = str(work / "cache")
        demo_app_flags = ["--max-seq-length", str(max_seq_length), "--device", options.device,
                          "--backend", options.backend]
        tutorial_once = [python, "benchmarks/tutorial_server.py", str(pretrained), str(checkpoint), "0", "--once",
                         *tutorial_flags]
        ours_once = [python, "benchmarks/cold_start_demo_app.py", str(pretrained), str(checkpoint.parent),
                     *demo_app_flags]
        first_load = cold_start(ours_once)
        starts = {"tutorial": [], "demo_app": []}
        for _ in range(options.cold_start_runs):  # alternate, so drift hits both alike
            starts["tutorial"].append(cold_start(tutorial_once))
            starts["demo_app"].append(cold_start(ours_once))
        cold = {name: {key: median([run[key] for run in runs]) for key in ("seconds", "peak_mb")}
                for name, runs in starts.items()}
        if options.cold_start_only:
            print_cold_starts(cold, first_load, starts)
            return 0

        bodies = benchmark_bodies(options.task, options.inputs)
        tokens = tokens_per_input(pretrained, bodies, options.task, max_seq_length)
        print(f"inputs: {len(bodies)}, {tokens['mean']:.1f} tokens each on average "
              f"({tokens['mean_read']:.1f} read at max_seq_length {max_seq_length})", flush=True)
        bodies_file = work / "bodies.json"
        bodies_file.write_text(json.dumps(bodies, ensure_ascii=False), encoding="utf-8")
        script = work / "post.lua"
        script.write_text(WRK_SCRIPT % ", ".join(json.dumps(json.dumps(b, ensure_ascii=False), ensure_ascii=False)
                                                  for b in bodies), encoding="utf-8")
        results = {}
        servers = {
            "tutorial": lambda port: [python, "benchmarks/tutorial_server.py", str(pretrained), str(checkpoint),
                                      str(port), *tutorial_flags],
            "demo_app": lambda port: [python, "-m", "demo_app", "serve", "--pretrained", str(pretrained),
                                      "--checkpoint-dir", str(checkpoint.parent), "--port", str(port),
                                      *demo_app_flags],
        }
        for name, command in servers.items():
            port = free_port()
            process = subprocess.Popen(command(port), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                url = f"http://127.0.0.1:{port}"
                wait_until_serving(url, process, json.dumps(bodies[0], ensure_ascii=False).encode())
                run_wrk(url, 1, 2, script)  # warm-up
                for clients in options.clients:
                    print(f"  {name}: {clients} clients ...", flush=True)
                    results[(name, clients)] = run_wrk(url, clients, options.duration, script)
            finally:
                process.terminate()
                process.wait(timeout=30)

        model_only = {}
        for name in ("tutorial", "demo_app"):
            print(f"  {name}: the model alone ...", flush=True)
            command = [python, "benchmarks/model_only.py", name, str(pretrained), str(checkpoint), str(bodies_file),
                       options.task, *(demo_app_flags if name == "demo_app" else [])]
            output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
            model_only[name] = json.loads(output.strip().splitlines()[-1])

        print()
        print("| clients | tutorial req/s | demo_app req/s | ratio | tutorial p50 ms | demo_app p50 ms | ratio "
              "| tutorial p99 ms | demo_app p99 ms | errors (tutorial / demo_app) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for clients in options.clients:
            t, o = results[("tutorial", clients)], results[("demo_app", clients)]
            print(f"| {clients} | {t['rps']:.1f} | {o['rps']:.1f} | {o['rps'] / t['rps']:.1f}x | {t['p50_ms']:.0f} | "
                  f"{o['p50_ms']:.1f} | {o['p50_ms'] / t['p50_ms']:.2f}x | {t['p99_ms']:.0f} | {o['p99_ms']:.1f} | "
                  f"{t['errors'] + t['socket_errors']} / {o['errors'] + o['socket_errors']} |")
        t, o = model_only["tutorial"], model_only["demo_app"]
        print()
        print("| the model alone (no HTTP) | tutorial | demo_app | ratio |")
        print("|---|---|---|---|")
        print(f"| inputs/s, groups of 16 (tutorial: one at a time) | {t['per_second']:.1f} | {o['per_second']:.1f} | "
              f"{o['per_second'] / t['per_second']:.1f}x |")
        print(f"| one input, median ms | {t['one_input_ms']:.1f} | {o['one_input_ms']:.1f} | "
              f"{o['one_input_ms'] / t['one_input_ms']:.2f}x |")
        print_cold_starts(cold, first_load)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
