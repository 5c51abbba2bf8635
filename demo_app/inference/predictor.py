"""The predictor: a task + a model + its tokenizer and labels, batched inference, ``inference_fn``.

One request, as in a transformers pipeline: ``task.check_inputs`` -> ``task.preprocess``
(dynamic padding) -> ``task.forward`` (the model's forward pass) -> ``task.postprocess``.
Everything that differs between tasks lives in the task module; this file is the same for all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..tasks import Task, get_task
from .batching import MicroBatcher


MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask", "pixel_values")


class PredictionError(RuntimeError):
    """The model could not give a usable answer; the message is safe to show a visitor."""


class Predictor:
    """Owns a task, a model, its tokenizer, its device and its class labels.

    ``source`` is the checkpoint it was loaded from and ``demo_model`` whether that is a bundled
    demo model: the page and ``/healthz`` say which model is served. ``predict`` runs batches padded to their longest input and truncated at ``max_seq_length``
    tokens, under ``torch.inference_mode``. With ``batching=True`` (the default) every call, from
    any thread, goes through one inference thread that batches concurrent callers together.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        *,
        labels: Sequence[str],
        task: "Task | str | None" = None,
        device: torch.device | str = "cpu",
        max_seq_length: int = 128,
        batch_size: int = 32,
        batching: bool = True,
        max_wait_ms: float = 0.0,
        max_queue: int = 256,
        precision: str = "fp32",
        source: Optional[str] = None,
        demo_model: bool = False,
    ) -> None:
        if len(labels) != model.config.num_labels:
            raise ValueError(f"{len(labels)} labels for a model with {model.config.num_labels} classes")
        self.task = get_task(task)
        self.model = model
        self.tokenizer = tokenizer
        self.labels: Tuple[str, ...] = tuple(labels)
        self.device = torch.device(device)
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.precision = precision
        self.source = source  # the checkpoint file or directory served, when known
        self.demo_model = demo_model  # a bundled demo model, not the student's
        self.batcher: Optional[MicroBatcher] = (
            MicroBatcher(self._predict_now, max_batch_size=batch_size, max_wait_ms=max_wait_ms,
                         max_queue=max_queue)
            if batching
            else None
        )

    def predict(self, inputs: Sequence, timeout: Optional[float] = None) -> List[object]:
        """One result per input (sentences, (premise, hypothesis) pairs, images: as the task
        takes them), in the task's own form: a ``Prediction`` for classifiers, a dict for NER
        and QA; ``task.to_dict`` turns each into ratsnlp's dict. Raises ``TypeError`` /
        ``ValueError`` saying which input is wrong, and ``batching.Overloaded`` when the
        request queue is full."""
        items = self.task.check_inputs(inputs)
        if self.batcher is None:
            return self._predict_now(items)
        return self.batcher(items, timeout=timeout)

    def describe(self) -> Dict[str, object]:
        """Facts about the loaded model, for ``/healthz``, the page and logs."""
        return {
            "task": self.task.name,
            "checkpoint": _shown_source(self.source),
            "demo_model": self.demo_model,
            "model_type": self.model.config.model_type,
            "labels": list(self.labels),
            "device": str(self.device),
            "precision": self.precision,
            "max_seq_length": self.max_seq_length,
            "batch_size": self.batch_size,
        }

    def _predict_now(self, items: List) -> List[object]:
        # Sorting by length keeps inputs of similar length in one batch: less padding.
        order = sorted(range(len(items)), key=lambda i: _length(items[i]))
        results: List[object] = [None] * len(items)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            batch = [items[i] for i in chunk]
            encoding = self.task.preprocess(self.tokenizer, batch, self.max_seq_length)
            outputs = self._forward(encoding)
            for i, result in zip(chunk, self.task.postprocess(batch, encoding, outputs, self.labels)):
                results[i] = result
        return results

    def _forward(self, encoding) -> Dict[str, torch.Tensor]:
        """The task's forward pass over the model's own inputs (the encoding may also carry
        offsets), which must give finite numbers."""
        inputs = {name: encoding[name].to(self.device) for name in MODEL_INPUTS if name in encoding}
        if "pixel_values" in inputs:  # in the model's own precision (bf16 / fp16 when so loaded)
            inputs["pixel_values"] = inputs["pixel_values"].to(next(self.model.parameters()).dtype)
        with torch.inference_mode():
            tensors = self.task.forward(self.model, inputs)
        if not all(torch.isfinite(value).all() for value in tensors.values()):
            raise PredictionError("the model's outputs are not numbers (NaN or infinity): its "
                                  "weights are broken; load a checkpoint from a healthy training run")
        return tensors


def make_inference_fn(predictor: Predictor) -> Callable[..., Dict[str, object]]:
    """ratsnlp's ``inference_fn`` for the predictor's task, with the book's signature and keys:
    ``inference_fn(sentence)`` for classification, ``inference_fn(premise, hypothesis)`` for
    pairs. Each result also carries ``probabilities``: ``[{label, probability, width}]``."""
    inference_fn = predictor.task.inference_fn(predictor)
    inference_fn.predictor = predictor  # lets create_app() batch through the same predictor
    inference_fn.classifier = predictor  # the name earlier versions used
    return inference_fn


def _shown_source(source: Optional[str]) -> Optional[str]:
    """The checkpoint's file name; for a save_pretrained folder (model.safetensors), with its
    folder's name, which is the part that tells models apart."""
    if not source:
        return None
    path = Path(source)
    return f"{path.parent.name}/{path.name}" if path.name.startswith("model.") else path.name


def _length(item) -> int:
    """Characters of a text input (for sorting a batch by length); 0 for an image."""
    if isinstance(item, str):
        return len(item)
    return sum(len(text) for text in item) if isinstance(item, tuple) else 0
