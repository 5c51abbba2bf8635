"""Image classification (PyTorch's Flask REST recipe, done on this app): a picture -> classes.

The model is any transformers ``AutoModelForImageClassification`` saved with ``save_pretrained``
(ResNet, ConvNeXt, ViT, Swin, EfficientNet, ...) with its image processor. Labels come from
``config.id2label``, or from an ``imagenet_class_index.json`` / ``index_to_name.json`` beside
the model (``{"0": ["n01440764", "tench"], ...}``), which also gives each class its ``class_id``
(the WordNet id). Answers keep the recipe's keys, ``class_id`` and ``class_name``, and add the
top-5 ``probabilities`` as bars.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .arrays import softmax
from .classification import basis_points, format_percent
from .contract import DEMO_MODEL_DIR, StateDict, Task, TaskCheckpoints, TaskData, TaskInputs, TaskPage, TaskPipeline
from .image_decoding import MAX_IMAGE_BYTES, ImageError, decode_image, to_rgb

if TYPE_CHECKING:  # images run on PyTorch, imported when the model is loaded
    import torch

INDEX_FILES = ("imagenet_class_index.json", "index_to_name.json")
TOP_K = 5
MAX_IMAGES = 8  # images in one request


class ClassLabel(str):
    """A class name that also carries its ``class_id`` (a WordNet id such as 'n02124075', or the
    class index as text when the model has no index file)."""

    class_id: str

    def __new__(cls, name: str, class_id: str) -> "ClassLabel":
        label = super().__new__(cls, name)
        label.class_id = class_id
        return label


def labels_for(config, model_dir: Optional[Path]) -> Tuple[ClassLabel, ...]:
    """The model's class names and ids: from an index file beside the model, else id2label."""
    for name in INDEX_FILES:
        path = model_dir / name if model_dir is not None else None
        if path is not None and path.is_file():
            index = json.loads(path.read_text(encoding="utf-8"))
            if len(index) != config.num_labels:
                raise ValueError(f"{path} names {len(index)} classes but the model has "
                                 f"{config.num_labels}: it belongs to another model")
            entries = [index[str(i)] for i in range(config.num_labels)]
            return tuple(ClassLabel(str(entry[-1]), str(entry[0])) if isinstance(entry, list)
                         else ClassLabel(str(entry), str(i)) for i, entry in enumerate(entries))
    id2label = {int(key): value for key, value in (config.id2label or {}).items()}
    return tuple(ClassLabel(str(id2label.get(i, f"class {i}")), str(i)) for i in range(config.num_labels))


class ImageInputs(TaskInputs):
    """A picture: an upload's bytes, a path or a PIL image, decoded to RGB when checked."""

    fields = ("image",)
    item_name, item_example = "image", "[image]"
    takes_files = True
    file_suffixes = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")  # a folder's files that are inputs
    max_file_bytes = MAX_IMAGE_BYTES
    max_items = MAX_IMAGES
    max_body_bytes = 32 * 1024 * 1024  # several photos in one request; each at most MAX_IMAGE_BYTES

    def read_upload(self, data: bytes, name: str) -> Any:
        return decode_image(data, name)

    def check_item(self, image, index: int):
        """Bytes of an image file, a path to one (``pathlib.Path``) or a ``PIL.Image``, as RGB."""
        from PIL import Image

        if isinstance(image, Image.Image):
            return to_rgb(image)
        if isinstance(image, os.PathLike):
            image = Path(image).read_bytes()
        if isinstance(image, (bytes, bytearray, memoryview)):
            return decode_image(bytes(image), f"image {index}")
        raise TypeError(f"image {index} is {type(image).__name__}: pass the image file's bytes "
                        "(open(path, 'rb').read()), a pathlib.Path or a PIL image")

    def input_record(self, item) -> Dict[str, Any]:
        """The history keeps the picture's size, not the picture."""
        return {"image": f"{item.width}x{item.height} image"}

    def read_file_item(self, value: str, directory: Path):
        """A data file's ``image`` column: a path, relative to the data file's folder, decoded."""
        path = Path(value)
        path = path if path.is_absolute() else directory / path
        if not path.is_file():
            raise ValueError(f"no such image file: {value}")
        return decode_image(path.read_bytes(), value)


class ImagePipeline(TaskPipeline):
    model_inputs = ("pixel_values",)
    convertible = False  # convolutions, loaded their own way (loading/image_model.py)

    def preprocess(self, processor: Any, items: List[Any], max_seq_length: int) -> Any:
        return processor(images=items, return_tensors="pt")

    def forward(self, model: "torch.nn.Module", inputs: Dict[str, "torch.Tensor"]) -> Dict[str, "torch.Tensor"]:
        """The pixels in the model's own precision (bf16 / fp16 when so loaded), then its logits."""
        pixels = inputs["pixel_values"].to(next(model.parameters()).dtype)
        return super().forward(model, {**inputs, "pixel_values": pixels})

    def postprocess(self, items: List, encoding, outputs: Dict[str, np.ndarray],
                    labels: Sequence[str]) -> List[dict]:
        results = []
        for row in softmax(outputs["logits"]).tolist():
            widths = basis_points(row)
            order = sorted(range(len(row)), key=row.__getitem__, reverse=True)
            results.append({"best": labels[order[0]], "probability": row[order[0]],
                            "top": [(labels[i], row[i], format_percent(widths[i])) for i in order[:TOP_K]]})
        return results

    def to_dict(self, result: dict) -> Dict[str, Any]:
        """The recipe's ``class_id`` and ``class_name``, plus ``prediction`` (the class name),
        ``probability`` and the top-5 ``probabilities`` ``[{label, class_id, probability, width}]``."""
        best = result["best"]
        return {
            "class_id": getattr(best, "class_id", None),
            "class_name": str(best),
            "prediction": str(best),
            "probability": round(result["probability"], 4),
            "probabilities": [{"label": str(label), "class_id": getattr(label, "class_id", None),
                               "probability": round(p, 4), "width": width}
                              for label, p, width in result["top"]],
        }

    def inference_fn(self, predictor) -> Callable[[object], Dict[str, Any]]:
        def inference_fn(image) -> Dict[str, Any]:
            return self.to_dict(predictor.predict([image])[0])

        return inference_fn


class ImageCheckpoints(TaskCheckpoints):
    model_class = "AutoModelForImageClassification"
    loader = "image"
    head_description = "an image-classification model"
    demo_pretrained_dir = DEMO_MODEL_DIR / "image-classification"
    demo_checkpoint_dir = DEMO_MODEL_DIR / "image-classification"
    demo_description = "a small shape classifier"

    def has_head(self, state_dict: StateDict) -> bool:
        """Never recognised from weights alone: image models come as ``save_pretrained`` folders
        (``recognises_config``) or with ``--task image-classification``."""
        return False

    def recognises_config(self, config: Dict[str, Any]) -> bool:
        """A ``save_pretrained`` folder of an ``...ForImageClassification`` model."""
        return any(str(name).endswith("ForImageClassification") for name in config.get("architectures") or [])

    def save_beside_model(self, folder: Path, labels: Sequence[str], source: Optional[Path]) -> None:
        """The class index file (WordNet ids) the served model had, when it had one."""
        directory = source if source is None or source.is_dir() else source.parent
        for name in INDEX_FILES:
            if directory is not None and (directory / name).is_file():
                shutil.copy(directory / name, folder / name)


class ImagePage(TaskPage):
    form = "image"
    renderer = "image"
    field_labels = {"image": "이미지 (image)"}
    title = "이미지 분류 데모 (Image classification demo)"
    lead = "사진을 올리거나 찍으면 모델이 무엇인지 분류합니다. "
    lead_en = "Upload or take a photo; the model says what it shows."

    def smoke_input(self):
        from PIL import Image

        return Image.new("RGB", (32, 32), (128, 128, 128))


class ImageData(TaskData):
    output_columns = ("class_id", "class_name", "probability")
    column_aliases = {"path": "image", "file": "image", "filename": "image"}  # a CSV of image paths
    has_gold_labels = True
    label_column = "class_name"

    def gold_label(self, value: str, labels: Sequence[str]) -> Optional[str]:
        """A class index, class id (WordNet id) or class name."""
        text = value.strip()
        if text.isdigit() and int(text) < len(labels):
            return labels[int(text)]
        for label in labels:
            if text in (str(label), getattr(label, "class_id", None)):
                return label
        raise ValueError(f"label {value!r} is none of this model's classes")


IMAGE_CLASSIFICATION = Task("image-classification", ImageInputs(), ImagePipeline(), ImageCheckpoints(),
                            ImagePage(), ImageData())


__all__ = ["IMAGE_CLASSIFICATION", "ClassLabel", "labels_for", "ImageError", "INDEX_FILES"]
