"""demo_app's sentence generation against the nlpbook deploy code, on a KoGPT2-sized model, in one run.

    python benchmarks/generation_benchmark.py [--requests 3] [--clients 1 8 32] [--new-tokens 32]

1. Writes a GPT-2 the size of skt/kogpt2-base-v2 (12 layers, 768 wide, 12 heads, 51,200 tokens,
   1024 positions: 125M parameters; random weights, seed 0) the way Lightning writes it, and a
   pretrained dir: its config and the demo model's tokenizer, padded to 51,200 tokens.
2. Starts the book's server (``tutorial_server.py --generation``: Flask's threaded development
   server, ``model.generate`` per request, the whole text in one answer) and demo_app's
   (``python -m demo_app serve``, default settings).
3. Each of 1, then 8, then 32 concurrent visitors (a class; each its own address, sent to
   demo_app as a proxy's ``X-Forwarded-For``) asks for ``--requests`` texts of ``--new-tokens`` new
   tokens (top_k=1, min_length = max_length, so both write the same number of tokens): the book's
   ``POST /api``, demo_app's ``POST /predict/stream``. Prints, for each: the median time to the
   first text (the book's page shows nothing before the whole text), the median time to the whole
   text, and tokens/s for everyone together; and the demo_app / book ratios. Only 127.0.0.1 is
   contacted.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import torch
from serve_benchmark import ROOT, free_port

sys.path.insert(0, str(ROOT / "scripts"))  # the Lightning checkpoint writer the demo models use
from lightning_format import checkpoint_filename, lightning_checkpoint, save_lightning_checkpoint  # noqa: E402

DEMO_TOKENIZER = ROOT / "demo_app" / "demo_model" / "pretrained-generation"
KOGPT2 = dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024, vocab_size=51200, bos_token_id=0,
              eos_token_id=1, pad_token_id=3)
PROMPTS = ["긍정 아 정말", "부정 스토리가", "긍정 배우들 연기가", "부정 이 영화", "긍정 오늘 본 영화는", "부정 시간이"]


def write_kogpt2_sized(directory: Path):
    """(pretrained dir, checkpoint dir) of a random KoGPT2-sized GPT-2."""
    from transformers import GPT2Config, GPT2LMHeadModel

    pretrained = directory / "pretrained"
    shutil.copytree(DEMO_TOKENIZER, pretrained)
    tokenizer = json.loads((pretrained / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = tokenizer["model"]["vocab"]
    for index in range(len(vocab), KOGPT2["vocab_size"]):  # entries no merge produces: KoGPT2's count
        vocab[f"<unused{index}>"] = index
    (pretrained / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    config = GPT2Config(**KOGPT2)
    config.save_pretrained(pretrained)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config).eval()
    checkpoints = directory / "checkpoint-generation"
    checkpoint = lightning_checkpoint(model, torch.optim.SGD(model.parameters(), lr=0.1), epoch=0, global_step=0,
                                      val_loss=1.0, filename=checkpoint_filename(0, 1.0), dirpath=checkpoints.name)
    save_lightning_checkpoint(checkpoint, checkpoints / checkpoint_filename(0, 1.0))
    return pretrained, checkpoints


def start(command, url):
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            requests.post(url + "/api", json={"prompt": "긍정", "min_length": "3", "max_length": "3",
                                              "top_p": "", "top_k": "1", "repetition_penalty": "",
                                              "no_repeat_ngram_size": "", "temperature": ""}, timeout=60)
            return process
        except requests.RequestException:
            time.sleep(1)
    process.kill()
    raise RuntimeError(f"{command[1]} did not start")


def book_request(url, prompt, length, visitor):
    started = time.monotonic()
    # Every field filled in: the book's inference_fn answers "" (an empty field) with its error text.
    body = {"prompt": prompt, "min_length": str(length), "max_length": str(length), "top_p": "1.0", "top_k": "1",
            "repetition_penalty": "1.0", "no_repeat_ngram_size": "0", "temperature": "1.0"}
    answer = requests.post(url + "/api", json=body, timeout=600)
    answer.raise_for_status()
    assert answer.json()["result"].startswith(prompt), answer.text[:200]
    total = time.monotonic() - started
    return total, total  # the book's page shows the text when it is all there


def streamed_request(url, prompt, length, visitor):
    started, first = time.monotonic(), None
    with requests.post(url + "/predict/stream", timeout=600, stream=True, headers={"X-Forwarded-For": visitor},
                       json={"prompt": prompt, "min_length": length, "max_length": length, "top_k": 1}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith(b"data: ") and first is None:
                first = time.monotonic() - started
    return first, time.monotonic() - started


def run_clients(ask, url, clients, per_client, lengths):
    timings, lock = [], threading.Lock()

    def client(number):
        for request in range(per_client):
            prompt, length = lengths[(number + request) % len(lengths)]
            result = ask(url, prompt, length, f"198.51.100.{number + 1}")
            with lock:
                timings.append(result)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    return timings, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3, help="texts each visitor asks for")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--new-tokens", type=int, default=32)
    options = parser.parse_args()
    from transformers import PreTrainedTokenizerFast

    work = Path(tempfile.mkdtemp(prefix="demo_app-generation-bench-"))
    try:
        pretrained, checkpoints = write_kogpt2_sized(work)
        tokenizer = PreTrainedTokenizerFast.from_pretrained(pretrained, eos_token="</s>")
        lengths = [(prompt, len(tokenizer.encode(prompt)) + options.new_tokens) for prompt in PROMPTS]
        checkpoint = next(checkpoints.glob("*.ckpt"))
        book_port, ours_port = free_port(), free_port()
        book_url, ours_url = f"http://127.0.0.1:{book_port}", f"http://127.0.0.1:{ours_port}"
        print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads; KoGPT2-sized GPT-2, {options.new_tokens} new tokens a text",
              flush=True)
        rows = []
        for name, command, url, ask in (
                ("book", [sys.executable, "benchmarks/tutorial_server.py", str(pretrained), str(checkpoint),
                          str(book_port), "--generation"], book_url, book_request),
                ("demo_app", [sys.executable, "-m", "demo_app", "serve", "--pretrained", str(pretrained),
                              "--checkpoint-dir", str(checkpoints), "--port", str(ours_port),
                              "--forwarded-hops", "1"], ours_url,
                 streamed_request)):
            process = start(command, url)
            try:
                for clients in options.clients:
                    timings, wall = run_clients(ask, url, clients, options.requests, lengths)
                    first = statistics.median(t[0] for t in timings)
                    whole = statistics.median(t[1] for t in timings)
                    tokens = len(timings) * options.new_tokens  # min_length = max_length: exactly so many
                    rows.append((name, clients, first, whole, tokens / wall))
                    print(f"{name:8} {clients:2} visitors: first text {first:6.2f} s, whole text {whole:6.2f} s, "
                          f"{tokens / wall:6.1f} tokens/s", flush=True)
            finally:
                process.terminate()
                process.wait(30)
        print("\nratios demo_app / book (time: lower is better; tokens/s: higher is better)")
        for clients in options.clients:
            book = next(r for r in rows if r[0] == "book" and r[1] == clients)
            ours = next(r for r in rows if r[0] == "demo_app" and r[1] == clients)
            print(f"{clients:2} visitors: first text {ours[2] / book[2]:.2f}x, whole text {ours[3] / book[3]:.2f}x, "
                  f"tokens/s {ours[4] / book[4]:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
