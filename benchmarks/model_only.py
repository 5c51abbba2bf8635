"""The model alone, without HTTP: what the server's share of the serve benchmark's figures is.

    python benchmarks/model_only.py tutorial|demo_app PRETRAINED CHECKPOINT BODIES_JSON TASK [DEMO_APP_FLAGS...]

Loads the model as that server does, then predicts the benchmark's inputs (the ``POST /api``
bodies in BODIES_JSON): in groups of 16 as they come (what demo_app's batcher forms at 16
clients; the tutorial predicts one at a time), and one at a time for the latency of one input.
Prints one JSON line: ``{"per_second": ..., "one_input_ms": ...}`` (the median of one-input times).
"""

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

FIELDS = {"pair-classification": ("premise", "hypothesis"), "qa": ("question", "context")}
GROUP = 16


def as_input(body, task):
    return tuple(body[field] for field in FIELDS[task]) if task in FIELDS else body


def tutorial_predict(pretrained, checkpoint, task):
    import tutorial_server

    loader = {"classification": tutorial_server.load, "pair-classification": tutorial_server.load_pair,
              "ner": tutorial_server.load_ner, "qa": tutorial_server.load_qa}[task]
    inference_fn = loader(pretrained, checkpoint)
    return lambda inputs: [inference_fn(*item) if isinstance(item, tuple) else inference_fn(item) for item in inputs]


def demo_app_predict(pretrained, checkpoint, task, flags):
    from demo_app import DeployArguments, load_predictor

    options = dict(zip(flags[::2], flags[1::2]))
    args = DeployArguments(pretrained_model_name=pretrained, downstream_model_dir=str(Path(checkpoint).parent),
                           task=task, max_seq_length=int(options.get("--max-seq-length", 128)),
                           device=options.get("--device", "auto"), backend=options.get("--backend", "auto"))
    predictor = load_predictor(args, verbose=False, batching=False)
    return predictor.predict


def main():
    server, pretrained, checkpoint, bodies_file, task, *flags = sys.argv[1:]
    inputs = [as_input(body, task) for body in json.loads(Path(bodies_file).read_text(encoding="utf-8"))]
    predict = (tutorial_predict(pretrained, checkpoint, task) if server == "tutorial"
               else demo_app_predict(pretrained, checkpoint, task, flags))
    predict(inputs[:GROUP])  # warm-up
    count = min(len(inputs), 128 if server == "demo_app" else 32)
    started = time.perf_counter()
    for start in range(0, count, GROUP):
        predict(inputs[start:start + GROUP])
    per_second = count / (time.perf_counter() - started)
    times = []
    for item in inputs[:40]:
        started = time.perf_counter()
        predict([item])
        times.append(time.perf_counter() - started)
    print(json.dumps({"per_second": per_second, "one_input_ms": statistics.median(times) * 1000}))


if __name__ == "__main__":
    main()
