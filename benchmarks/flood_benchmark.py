"""The QA flood of issue #28 at kcbert-base size: innocent latency, peak memory, and SIGTERM mid-work.

    python benchmarks/flood_benchmark.py [--seconds 20] [--sigterm-tries 5]

1. Writes a kcbert-base-sized QA checkpoint as ratsnlp's Lightning code does (random weights, seed 0).
2. Serves it with ``python -m demo_app serve`` (its defaults: OpenVINO in bf16 where the CPU has
   bf16, waitress with 32 threads) behind one proxy hop (``DEMO_APP_FORWARDED_HOPS=1``).
3. Floods it with 48 concurrent 20,000-character contexts from 4 visitors (12 each), then with
   96 (three times the threads), while another visitor loads the page and asks a short question
   every 0.25 s. Reported: that visitor's latencies against the same requests on the idle server
   (a ratio, same run), what the attackers got, and the server's peak RSS (VmHWM) from its start.
4. ``--sigterm-tries`` times: a fresh server, 12 long contexts in flight, SIGTERM; reported: the
   exit status, whether it said "Stopped.", and the seconds it took.

Only 127.0.0.1; the attackers' X-Forwarded-For addresses stand for other hosts.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from serve_benchmark import ROOT, free_port, make_kcbert_sized_checkpoint

QUESTION = "누리식품 본사가 있는 도시는?"
SHORT_CONTEXT = "누리식품은 1977년에 장보고가 세운 회사다. 본사는 목포에 있으며 직원은 약 8000명이다."
LONG_CONTEXT = ((SHORT_CONTEXT + " ") * 400)[:20_000]  # the README's limit; --context-chars to change
INNOCENT = "198.51.100.9"
ATTACKERS = [f"203.0.113.{n}" for n in range(1, 5)]


def start_server(pretrained: Path, checkpoints: Path) -> tuple[subprocess.Popen, str]:
    """The server, its output going to a file (a pipe nobody reads would fill and stop its logging threads)."""
    port = free_port()
    environment = {**os.environ, "DEMO_APP_FORWARDED_HOPS": "1"}
    log = tempfile.NamedTemporaryFile("w+", prefix="demo_app-flood-server-", suffix=".log", delete=False)
    process = subprocess.Popen([sys.executable, "-m", "demo_app", "serve", "--port", str(port), "--max-seq-length",
                                "128", "--pretrained", str(pretrained), "--checkpoint-dir", str(checkpoints)],
                               cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, text=True)
    process.log = log.name  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited: {Path(log.name).read_text()[-2000:]}")
        try:
            if requests.get(url + "/healthz", timeout=5).status_code == 200:
                return process, url
        except requests.RequestException:
            time.sleep(0.5)
    raise SystemExit("the server did not start")


def peak_rss_mb(process: subprocess.Popen) -> float:
    status = Path(f"/proc/{process.pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def ask(url: str, context: str, visitor: str, timeout: float = 120) -> requests.Response:
    return requests.post(url + "/predict", json={"question": QUESTION, "context": context}, timeout=timeout,
                         headers={"X-Forwarded-For": visitor})


def innocent_round(url: str) -> tuple[float, float]:
    """Seconds for the page, then for a short question."""
    started = time.perf_counter()
    page = requests.get(url + "/", headers={"X-Forwarded-For": INNOCENT}, timeout=120)
    page_s = time.perf_counter() - started
    started = time.perf_counter()
    answer = ask(url, SHORT_CONTEXT, INNOCENT)
    assert page.status_code == 200, page.status_code
    assert answer.status_code == 200, answer.text[:200]
    return page_s, time.perf_counter() - started


def flood(url: str, concurrent: int, seconds: float) -> dict:
    stop = threading.Event()
    outcomes: collections.Counter = collections.Counter()
    visitors = itertools.cycle(ATTACKERS)

    def attacker(visitor: str) -> None:
        while not stop.is_set():
            try:
                outcomes[ask(url, LONG_CONTEXT, visitor).status_code] += 1
            except requests.RequestException as error:
                outcomes[type(error).__name__] += 1

    threads = [threading.Thread(target=attacker, args=(next(visitors),)) for _ in range(concurrent)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the flood is under way
    pages, questions = [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page_s, question_s = innocent_round(url)
        pages.append(page_s)
        questions.append(question_s)
        time.sleep(0.25)
    stop.set()
    for thread in threads:
        thread.join(300)
    return {"pages": pages, "questions": questions, "outcomes": dict(outcomes)}


def sigterm_try(pretrained: Path, checkpoints: Path) -> dict:
    process, url = start_server(pretrained, checkpoints)
    threads = [threading.Thread(target=lambda v=v: _quietly(ask, url, LONG_CONTEXT, v), daemon=True)
               for v in itertools.islice(itertools.cycle(ATTACKERS), 12)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)  # mid-work
    started = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)
    output = Path(process.log).read_text()  # type: ignore[attr-defined]
    return {"exit": process.returncode, "stopped": "Stopped." in output,
            "seconds": round(time.perf_counter() - started, 2),
            "errors": [line for line in output.splitlines() if "Traceback" in line or "RuntimeError" in line][:3]}


def _quietly(function, *args) -> None:
    try:
        function(*args)
    except requests.RequestException:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="seconds of each flood")
    parser.add_argument("--sigterm-tries", type=int, default=5)
    parser.add_argument("--context-chars", type=int, default=20_000,
                        help="each attack's context (20,000 may be refused at once where the model is slow; "
                             "a shorter one is admitted and waits for the model)")
    options = parser.parse_args()
    global LONG_CONTEXT
    LONG_CONTEXT = ((SHORT_CONTEXT + " ") * 400)[:options.context_chars]
    work = Path(tempfile.mkdtemp(prefix="demo_app-flood-"))
    os.environ["DEMO_APP_CACHE"] = str(work / "cache")
    print("writing a kcbert-base-sized QA checkpoint ...", flush=True)
    pretrained, checkpoint = make_kcbert_sized_checkpoint(work, "qa")
    start_server(pretrained, checkpoint.parent)[0].terminate()  # the first start makes the OpenVINO conversion

    process, url = start_server(pretrained, checkpoint.parent)
    try:
        idle = [innocent_round(url) for _ in range(5)]
        idle_page, idle_question = max(p for p, _ in idle), max(q for _, q in idle)
        started = time.perf_counter()
        alone = ask(url, LONG_CONTEXT, ATTACKERS[0])
        alone_s = time.perf_counter() - started
        print(f"idle: page {idle_page * 1000:.0f} ms, short question {idle_question * 1000:.0f} ms; one "
              f"{len(LONG_CONTEXT):,}-character context alone: {alone.status_code} in {alone_s:.1f} s", flush=True)
        print("| concurrent long contexts | innocent page, worst (x idle) | innocent question, worst (x idle) "
              "| attackers got | server peak RSS MB |\n|---|---|---|---|---|")
        for concurrent in (48, 96):
            result = flood(url, concurrent, options.seconds)
            print(f"| {concurrent} | {max(result['pages']) * 1000:.0f} ms ({max(result['pages']) / idle_page:.1f}x) "
                  f"| {max(result['questions']) * 1000:.0f} ms ({max(result['questions']) / idle_question:.1f}x) "
                  f"| {result['outcomes']} | {peak_rss_mb(process):.0f} |", flush=True)
    finally:
        process.terminate()
        process.wait(60)

    print("\n| SIGTERM try (12 long contexts in flight) | exit status | said Stopped. | seconds | errors |\n"
          "|---|---|---|---|---|")
    for number in range(1, options.sigterm_tries + 1):
        result = sigterm_try(pretrained, checkpoint.parent)
        print(f"| {number} | {result['exit']} | {result['stopped']} | {result['seconds']} | {result['errors']} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
