"""Rows per second for a whole file: demo_app's file paths against one request per row, one run.

    python benchmarks/file_benchmark.py [--rows 2000] [--model kcbert-base|demo]

The baseline is what a student writes without a file path: a loop that posts each row of an
NSMC-format file to ``POST /api`` of a running ``python -m demo_app serve`` and collects the
answers. Against it, on the same model and machine, in the same run:
1. ``predict_file`` (what ``python -m demo_app predict --input`` runs), timed from the first row
   to the last (the model is loaded before the clock starts, as the server's is);
2. ``POST /predict/file`` to the same server, from the upload to the finished job.
``--model kcbert-base`` (the default) writes a kcbert-base-sized checkpoint as serve_benchmark.py
does (about 1.3 GB, random weights, no downloads); ``demo`` uses the bundled demo model.
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from serve_benchmark import free_port, make_kcbert_sized_checkpoint

ROOT = Path(__file__).resolve().parent.parent

REVIEWS = ROOT / "data" / "demo_reviews" / "ratings_test.txt"
PREDICT_FILE = """
import sys, time
from demo_app import DeployArguments, load_predictor, predict_file
args = DeployArguments(pretrained_model_name=sys.argv[3] or None, downstream_model_dir=sys.argv[4] or None)
predictor = load_predictor(args, verbose=False, batching=False)
started = time.perf_counter()
report = predict_file(predictor, sys.argv[1], sys.argv[2], progress=False)
print(report.rows, time.perf_counter() - started)
"""


def write_nsmc(path: Path, rows: int) -> None:
    reviews = [line.split("\t") for line in REVIEWS.read_text(encoding="utf-8").splitlines()[1:]]
    with open(path, "w", encoding="utf-8") as out:
        out.write("id\tdocument\tlabel\n")
        for i, (_, document, label) in zip(range(rows), itertools.cycle(reviews)):
            out.write(f"{i}\t{document}\t{label}\n")


def one_request_per_row(url: str, path: Path) -> float:
    sentences = [line.split("\t")[1] for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    with requests.Session() as session:
        started = time.perf_counter()
        for sentence in sentences:
            session.post(url + "/api", json=sentence, timeout=60).raise_for_status()
        return len(sentences) / (time.perf_counter() - started)


def uploaded(url: str, path: Path) -> float:
    started = time.perf_counter()
    with open(path, "rb") as stream:
        answer = requests.post(url + "/predict/file", files={"file": (path.name, stream)}, timeout=600).json()
    while answer["status"] == "running":
        time.sleep(0.2)
        answer = requests.get(f"{url}/{answer['status_url']}", timeout=30).json()
    assert answer["status"] == "done", answer
    return answer["rows"] / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--model", choices=["kcbert-base", "demo"], default="kcbert-base")
    options = parser.parse_args()
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}, "
          f"torch {torch.__version__}; model: {options.model}; {options.rows} rows")
    work = Path(tempfile.mkdtemp(prefix="demo_app-file-bench-"))
    try:
        pretrained, checkpoint_dir = "", ""
        if options.model == "kcbert-base":
            print("writing a kcbert-base-sized Lightning checkpoint ...", flush=True)
            pretrained_path, checkpoint = make_kcbert_sized_checkpoint(work)
            pretrained, checkpoint_dir = str(pretrained_path), str(checkpoint.parent)
        source = work / "ratings_test.txt"
        write_nsmc(source, options.rows)
        env = dict(os.environ, PYTHONPATH=str(ROOT))

        port = free_port()
        model_flags = ["--pretrained", pretrained, "--checkpoint-dir", checkpoint_dir] if pretrained else []
        server = subprocess.Popen([sys.executable, "-m", "demo_app", "serve", "--port", str(port), *model_flags],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    requests.post(url + "/api", json="준비", timeout=30).raise_for_status()
                    break
                except requests.RequestException:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the server did not start")
                    time.sleep(0.5)
            print("  one request per row ...", flush=True)
            baseline = one_request_per_row(url, source)
            print("  POST /predict/file ...", flush=True)
            upload = uploaded(url, source)
        finally:
            server.terminate()
            server.wait(timeout=30)
        print("  predict_file (the CLI's --input) ...", flush=True)
        out = subprocess.run([sys.executable, "-c", PREDICT_FILE, str(source), str(work / "out.tsv"),
                              pretrained, checkpoint_dir], capture_output=True, text=True, cwd=ROOT,
                             env=env, check=True).stdout.split()
        cli = int(out[0]) / float(out[1])

        print()
        print("| way | rows/s | ratio to one request per row |")
        print("|---|---|---|")
        for name, rate in (("one POST /api per row (baseline)", baseline), ("POST /predict/file", upload),
                           ("predict --input (predict_file)", cli)):
            print(f"| {name} | {rate:.1f} | {rate / baseline:.1f}x |")
        print(json.dumps({"baseline": baseline, "upload": upload, "cli": cli}))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
