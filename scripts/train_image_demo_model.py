"""Train the bundled image-classification demo model: a tiny ResNet that tells five shapes apart.

    python scripts/train_image_demo_model.py

The images are drawn here (seeded, no downloads): a circle, square, triangle, star or cross in a
random colour, size, place and rotation on a random background, with noise, 96x96 pixels. 3,000
are drawn, 2,400 train the model and 600 are held out; the script prints the held-out accuracy.
The model is saved as transformers saves one, with ``save_pretrained`` (config.json,
model.safetensors, preprocessor_config.json), plus an ``imagenet_class_index.json`` in the
PyTorch recipe's format giving each class an id and a name, to
``demo_app/demo_model/image-classification``. It is a toy for trying the tools: it knows drawn
shapes, not photos.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "demo_app" / "demo_model" / "image-classification"
CLASSES = ("circle", "square", "triangle", "star", "cross")
SIZE = 96
SEED = 0


def draw_shape(kind: str, rng: random.Random):
    """One picture of ``kind``, drawn with Pillow."""
    from PIL import Image, ImageDraw, ImageFilter

    background = tuple(rng.randrange(256) for _ in range(3))
    while True:  # a colour that stands out from the background
        colour = tuple(rng.randrange(256) for _ in range(3))
        if sum(abs(a - b) for a, b in zip(colour, background)) > 200:
            break
    picture = Image.new("RGB", (SIZE, SIZE), background)
    draw = ImageDraw.Draw(picture)
    radius = rng.uniform(0.18, 0.42) * SIZE
    cx = rng.uniform(radius, SIZE - radius)
    cy = rng.uniform(radius, SIZE - radius)
    turn = rng.uniform(0, 2 * math.pi)

    def polygon(corners, inner=None):
        points = []
        for i in range(corners * (2 if inner else 1)):
            r = radius if not inner or i % 2 == 0 else radius * inner
            angle = turn + i * math.pi * 2 / (corners * (2 if inner else 1))
            points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
        draw.polygon(points, fill=colour)

    if kind == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    elif kind == "square":
        polygon(4)
    elif kind == "triangle":
        polygon(3)
    elif kind == "star":
        polygon(5, inner=0.45)
    else:  # a cross: two bars
        width = radius * 0.35
        for angle in (turn, turn + math.pi / 2):
            dx, dy = math.cos(angle), math.sin(angle)
            px, py = -dy * width, dx * width
            ends = [(cx - dx * radius, cy - dy * radius), (cx + dx * radius, cy + dy * radius)]
            draw.polygon([(ends[0][0] + px, ends[0][1] + py), (ends[1][0] + px, ends[1][1] + py),
                          (ends[1][0] - px, ends[1][1] - py), (ends[0][0] - px, ends[0][1] - py)], fill=colour)
    noise = Image.frombytes("L", (SIZE, SIZE), rng.randbytes(SIZE * SIZE)).convert("RGB")  # seeded
    picture = Image.blend(picture, noise, rng.uniform(0.03, 0.15))
    return picture.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))


def dataset(count: int, rng: random.Random):
    return [(draw_shape(CLASSES[i % len(CLASSES)], rng), i % len(CLASSES)) for i in range(count)]


def main() -> int:
    from transformers import ResNetConfig, ResNetForImageClassification, ViTImageProcessor

    random.seed(SEED)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    examples = dataset(3000, rng)
    rng.shuffle(examples)
    train, held_out = examples[:2400], examples[2400:]
    processor = ViTImageProcessor(size={"height": 64, "width": 64}, image_mean=[0.5, 0.5, 0.5],
                                  image_std=[0.5, 0.5, 0.5])
    config = ResNetConfig(num_channels=3, embedding_size=16, hidden_sizes=[16, 32, 64, 64],
                          depths=[1, 1, 1, 1], layer_type="basic", num_labels=len(CLASSES),
                          id2label=dict(enumerate(CLASSES)),
                          label2id={name: i for i, name in enumerate(CLASSES)},
                          architectures=["ResNetForImageClassification"])
    model = ResNetForImageClassification(config)

    def tensors(batch):
        pixels = processor(images=[picture for picture, _ in batch], return_tensors="pt")["pixel_values"]
        return pixels, torch.tensor([label for _, label in batch])

    train_pixels, train_labels = tensors(train)
    held_pixels, held_labels = tensors(held_out)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    epochs = 12
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * 38)
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train_labels), generator=generator)
        for start in range(0, len(order), 64):
            index = order[start:start + 64]
            pixels = train_pixels[index]
            if torch.rand(1, generator=generator).item() < 0.5:  # flips: shapes do not care
                pixels = pixels.flip(-1)
            loss = model(pixel_values=pixels, labels=train_labels[index]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        with torch.no_grad():
            predicted = model(pixel_values=held_pixels).logits.argmax(-1)
        accuracy = (predicted == held_labels).float().mean().item()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, held-out accuracy {accuracy:.3f}", flush=True)

    OUTPUT.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(OUTPUT, safe_serialization=True)
    processor.save_pretrained(OUTPUT)
    index = {str(i): [f"shape-{name}", name] for i, name in enumerate(CLASSES)}
    (OUTPUT / "imagenet_class_index.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    print(f"held-out accuracy: {accuracy:.3f} ({len(held_labels)} images); saved to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
