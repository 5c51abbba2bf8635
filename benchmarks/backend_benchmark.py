"""Which way of running the model is fastest here, at review length: the numbers behind ``auto``.

    python benchmarks/backend_benchmark.py [--task classification|ner|qa] [--rounds 3] [--compile]

Loads one kcbert-base-sized checkpoint (random weights, seeded; written as Lightning writes it)
every way demo_app can run it on this machine's CPU: PyTorch in fp32 and with bf16 matmuls,
OpenVINO in fp32 and bf16 (and, with ``--compile``, PyTorch bf16 under ``torch.compile``). Then,
in rounds that take the paths in turn (so that the machine's drift hits all alike), measures
inputs per second in groups of 16 (what the batcher forms at 16 clients) and the median time of
one input alone, and prints each path's median over the rounds as a ratio to PyTorch fp32 in
the same run. No HTTP: ``serve_benchmark.py`` measures the server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_benchmark import TASK_SETUP, benchmark_bodies, make_kcbert_sized_checkpoint  # noqa: E402

FIELDS = {"pair-classification": ("premise", "hypothesis"), "qa": ("question", "context")}
PATHS = [("torch", "fp32"), ("torch", "bf16"), ("openvino", "fp32"), ("openvino", "bf16")]


def measure(predictor, inputs) -> dict:
    predictor.predict(inputs[:16])
    started = time.perf_counter()
    for start in range(0, 128, 16):
        predictor.predict(inputs[start:start + 16])
    per_second = 128 / (time.perf_counter() - started)
    times = []
    for item in inputs[:30]:
        started = time.perf_counter()
        predictor.predict([item])
        times.append(time.perf_counter() - started)
    return {"per_second": per_second, "one_ms": statistics.median(times) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["classification", "pair-classification", "ner", "qa"],
                        default="classification")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also PyTorch bf16 under torch.compile")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="demo_app-backends-"))
    os.environ["DEMO_APP_CACHE"] = str(work / "cache")
    try:
        return run(options, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(options, work: Path) -> int:
    from demo_app import DeployArguments, load_predictor

    print(f"task: {options.task}; {os.cpu_count()} cores; torch {torch.__version__}", flush=True)
    pretrained, checkpoint = make_kcbert_sized_checkpoint(work, options.task)
    bodies = benchmark_bodies(options.task)
    inputs = [tuple(body[f] for f in FIELDS[options.task]) if options.task in FIELDS else body for body in bodies]
    max_seq_length = TASK_SETUP[options.task][1]
    predictors = {}
    for backend, precision in PATHS:
        args = DeployArguments(pretrained_model_name=str(pretrained), downstream_model_dir=str(checkpoint.parent),
                               task=options.task, backend=backend, precision=precision, max_seq_length=max_seq_length)
        predictors[f"{backend} {precision}"] = load_predictor(args, verbose=False, batching=False)
    if options.compile:
        compiled = load_predictor(DeployArguments(pretrained_model_name=str(pretrained), task=options.task,
                                                  downstream_model_dir=str(checkpoint.parent), backend="torch",
                                                  precision="bf16", max_seq_length=max_seq_length),
                                  verbose=False, batching=False)
        compiled.model = torch.compile(compiled.model, dynamic=True)
        predictors["torch bf16 compiled"] = compiled
    for name, predictor in predictors.items():
        print(f"  {name}: {predictor.backend} {predictor.precision}", flush=True)
    runs = {name: [] for name in predictors}
    for number in range(options.rounds):
        for name, predictor in predictors.items():
            runs[name].append(measure(predictor, inputs))
        print(f"  round {number + 1} of {options.rounds} done", flush=True)
    results = {name: {key: statistics.median(run[key] for run in measured) for key in ("per_second", "one_ms")}
               for name, measured in runs.items()}
    base = results["torch fp32"]
    print()
    print("| path | inputs/s, groups of 16 | ratio | one input, median ms | ratio |")
    print("|---|---|---|---|---|")
    for name, result in results.items():
        print(f"| {name} | {result['per_second']:.1f} | {result['per_second'] / base['per_second']:.2f}x | "
              f"{result['one_ms']:.1f} | {result['one_ms'] / base['one_ms']:.2f}x |")
    print(json.dumps(results), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
