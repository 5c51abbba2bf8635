"""Images per second: demo_app's batching server against one image at a time, in one run.

    python benchmarks/image_benchmark.py [--model resnet-50|demo] [--images 64] [--clients 8]

The baseline is PyTorch's Flask REST recipe as written: Flask's development server, one image
per request, the model called on each alone. demo_app serves the same model with
``python -m demo_app serve --task image-classification``: its inference thread batches the
requests that arrive together. Both get the same JPEG photos-to-be (drawn shapes, 224x224) from
the same number of concurrent clients, posted as the recipe's client posts them
(``requests.post(url, files={"file": ...})``). ``--model resnet-50`` (the default) writes a
ResNet-50-sized model (random weights, 1000 classes, no downloads) with ``save_pretrained``;
``demo`` uses the bundled shape classifier. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from serve_benchmark import ROOT, free_port  # also puts scripts/ on the path
from train_image_demo_model import CLASSES, draw_shape  # noqa: E402

RECIPE_SERVER = '''
import io, sys, torch
from flask import Flask, jsonify, request
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForImageClassification

model = AutoModelForImageClassification.from_pretrained(sys.argv[1]).eval()
processor = AutoImageProcessor.from_pretrained(sys.argv[1])
app = Flask(__name__)

def get_prediction(image_bytes):  # the recipe's transform + forward, one image at a time
    tensor = processor(images=Image.open(io.BytesIO(image_bytes)).convert("RGB"), return_tensors="pt")
    with torch.no_grad():
        outputs = model(**tensor)
    index = outputs.logits.argmax(-1).item()
    return str(index), model.config.id2label[index]

@app.route("/predict", methods=["POST"])
def predict():
    class_id, class_name = get_prediction(request.files["file"].read())
    return jsonify({"class_id": class_id, "class_name": class_name})

app.run(host="127.0.0.1", port=int(sys.argv[2]), threaded=True)
'''


def make_resnet50(directory: Path) -> Path:
    import torch
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification

    torch.manual_seed(0)
    config = ResNetConfig(num_labels=1000, architectures=["ResNetForImageClassification"])  # ResNet-50
    ResNetForImageClassification(config).save_pretrained(directory)
    ConvNextImageProcessor(size={"shortest_edge": 224}).save_pretrained(directory)
    return directory


def photos(count: int):
    rng = random.Random(0)
    out = []
    for i in range(count):
        buffer = io.BytesIO()
        draw_shape(CLASSES[i % len(CLASSES)], rng).resize((224, 224)).save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def drive(url: str, images, clients: int) -> float:
    """Images per second with ``clients`` threads posting the images between them."""
    errors = []
    lock = threading.Lock()
    queue = list(enumerate(images))

    def client():
        with requests.Session() as session:
            while True:
                with lock:
                    if not queue:
                        return
                    index, data = queue.pop()
                response = session.post(url + "/predict", files={"file": (f"{index}.jpg", data)}, timeout=120)
                if response.status_code != 200:
                    errors.append(response.status_code)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests: {errors[:5]}")
    return len(images) / (time.perf_counter() - started)


def wait_for(url: str, process, data: bytes) -> None:
    deadline = time.monotonic() + 180
    while True:
        try:
            requests.post(url + "/predict", files={"file": ("warm.jpg", data)}, timeout=60).raise_for_status()
            return
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["resnet-50", "demo"], default="resnet-50")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--clients", type=int, default=8)
    options = parser.parse_args()
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}, "
          f"torch {torch.__version__}; model: {options.model}; {options.images} images, {options.clients} clients")
    work = Path(tempfile.mkdtemp(prefix="demo_app-image-bench-"))
    try:
        model = (make_resnet50(work / "resnet-50") if options.model == "resnet-50"
                 else ROOT / "demo_app" / "demo_model" / "image-classification")
        images = photos(options.images)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        rates = {}
        commands = {
            "recipe (one image per forward pass)": lambda port: [sys.executable, "-c", RECIPE_SERVER, str(model),
                                                                 str(port)],
            "demo_app (batched)": lambda port: [sys.executable, "-m", "demo_app", "serve", "--task",
                                                "image-classification", "--pretrained", str(model),
                                                "--port", str(port)],
        }
        for name, command in commands.items():
            port = free_port()
            process = subprocess.Popen(command(port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            try:
                url = f"http://127.0.0.1:{port}"
                wait_for(url, process, images[0])
                print(f"  {name} ...", flush=True)
                rates[name] = drive(url, images, options.clients)
            finally:
                process.terminate()
                process.wait(timeout=30)
        baseline = next(iter(rates.values()))
        print()
        print("| server | images/s | ratio |")
        print("|---|---|---|")
        for name, rate in rates.items():
            print(f"| {name} | {rate:.1f} | {rate / baseline:.1f}x |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
