"""Explanations (``POST /explain``): are they faithful, and what do they cost, in one run.

    python benchmarks/explain_benchmark.py [--k 1 2 3] [--runs 5]

1. Deletion test, on the bundled demo classifier and the held-out reviews
   (``data/demo_reviews/ratings_test.txt``, each of at least four words): remove the k words
   with the largest attributions towards the predicted class, and separately k words chosen at
   random (seeded); how much the predicted class's probability drops each way, on average, and
   how often the attributed words' removal drops it more. Faithful attributions point at the
   words the model's answer rests on, so removing them costs more than removing random ones.
2. Cost, at kcbert-base's size (a Lightning checkpoint with random weights, PyTorch backend as
   ``/explain`` runs it, default precision and fp32): one explanation (the default 12 steps) of a review of
   NSMC's length (4 to 9 held-out sentences joined), against one prediction of it; medians of
   ``--runs``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from serve_benchmark import SENTENCES_FILE, benchmark_bodies, make_kcbert_sized_checkpoint

from demo_app import DeployArguments, load_predictor


def deletion_test(ks, seed: int = 0) -> None:
    predictor = load_predictor(DeployArguments(precision="fp32"), verbose=False)
    reviews = [line.split("\t")[1] for line in SENTENCES_FILE.read_text(encoding="utf-8").splitlines()[1:]]
    reviews = [review for review in reviews if len(review.split()) >= 4]
    rng = random.Random(seed)
    drops = {k: {"attributed": [], "random": []} for k in ks}
    for review in reviews:
        explanation = predictor.explain(review)
        label = explanation["target"]
        before = predictor.predict([review])[0].probabilities[label]
        words = [word["text"] for word in explanation["words"]]
        ranked = sorted(range(len(words)), key=lambda i: explanation["words"][i]["attribution"], reverse=True)
        for k in ks:
            for kind, removed in (("attributed", set(ranked[:k])), ("random", set(rng.sample(range(len(words)), k)))):
                kept = " ".join(word for i, word in enumerate(words) if i not in removed)
                drops[k][kind].append(before - predictor.predict([kept])[0].probabilities[label])
    print(f"deletion test: {len(reviews)} held-out reviews, demo classifier, predicted class's probability")
    print("| words removed | drop, top attributed | drop, random | attributed drop larger |")
    print("|---|---|---|---|")
    for k in ks:
        attributed, chosen = drops[k]["attributed"], drops[k]["random"]
        larger = sum(a > r for a, r in zip(attributed, chosen)) / len(attributed)
        print(f"| {k} | {statistics.mean(attributed):.3f} | {statistics.mean(chosen):.3f} | {larger:.0%} |")


def cost_at_kcbert_size(runs: int) -> None:
    review = benchmark_bodies("classification")[0]
    with tempfile.TemporaryDirectory(prefix="demo_app-explain-bench-") as work:
        print("writing a kcbert-base-sized Lightning checkpoint ...", flush=True)
        pretrained, checkpoint = make_kcbert_sized_checkpoint(Path(work))
        print("| precision | one prediction, s | one explanation (12 steps), s | ratio |")
        print("|---|---|---|---|")
        for precision in ("auto", "fp32"):
            predictor = load_predictor(DeployArguments(pretrained_model_name=str(pretrained), backend="torch",
                                                       downstream_model_dir=str(checkpoint.parent),
                                                       precision=precision), verbose=False)
            predictor.explain(review)  # warm-up
            predictions, explanations = [], []
            for _ in range(runs):
                started = time.perf_counter()
                predictor.predict([review])
                predictions.append(time.perf_counter() - started)
                started = time.perf_counter()
                predictor.explain(review)
                explanations.append(time.perf_counter() - started)
            one, why = statistics.median(predictions), statistics.median(explanations)
            print(f"| {predictor.precision} | {one:.3f} | {why:.3f} | {why / one:.1f}x |", flush=True)
            predictor.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 3], help="words removed")
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    deletion_test(options.k)
    cost_at_kcbert_size(options.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
