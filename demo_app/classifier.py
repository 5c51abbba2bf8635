"""The predictor: tokenizer + model + labels, batched inference, and ratsnlp's ``inference_fn``."""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .batching import MicroBatcher


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One sentence's result: the predicted label and every class's probability, in label order."""

    sentence: str
    label: str
    probabilities: Dict[str, float]


class Classifier:
    """Owns a tokenizer, a sequence-classification model, its device and its class labels.

    ``predict`` tokenizes with dynamic padding (each batch is padded to its longest sentence and
    truncated at ``max_seq_length`` tokens), runs under ``torch.inference_mode`` and returns
    probabilities. With ``batching=True`` (the default) every call, from any thread, goes through
    one inference thread that batches concurrent callers together.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        *,
        labels: Sequence[str],
        device: torch.device | str = "cpu",
        max_seq_length: int = 128,
        batch_size: int = 32,
        batching: bool = True,
        max_wait_ms: float = 0.0,
        max_queue: int = 256,
        precision: str = "fp32",
    ) -> None:
        if len(labels) != model.config.num_labels:
            raise ValueError(f"{len(labels)} labels for a model with {model.config.num_labels} classes")
        self.model = model
        self.tokenizer = tokenizer
        self.labels: Tuple[str, ...] = tuple(labels)
        self.device = torch.device(device)
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.precision = precision
        self.batcher: Optional[MicroBatcher] = (
            MicroBatcher(self._predict_now, max_batch_size=batch_size, max_wait_ms=max_wait_ms,
                         max_queue=max_queue)
            if batching
            else None
        )

    def predict(self, sentences: Sequence[str], timeout: Optional[float] = None) -> List[Prediction]:
        """Classify ``sentences`` (a list of non-empty strings); one Prediction per sentence.

        Text longer than ``max_seq_length`` tokens is truncated, as in training. Raises
        ``TypeError``/``ValueError`` for anything but a non-empty list of non-blank strings, and
        ``batching.Overloaded`` when the request queue is full.
        """
        sentences = validate_sentences(sentences)
        if self.batcher is None:
            return self._predict_now(sentences)
        return self.batcher(sentences, timeout=timeout)

    def describe(self) -> Dict[str, object]:
        """Facts about the loaded model, for ``/healthz`` and logs."""
        return {
            "model_type": self.model.config.model_type,
            "labels": list(self.labels),
            "device": str(self.device),
            "precision": self.precision,
            "max_seq_length": self.max_seq_length,
            "batch_size": self.batch_size,
        }

    def _predict_now(self, sentences: List[str]) -> List[Prediction]:
        # Sorting by length keeps sentences of similar length in one batch: less padding.
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        results: List[Optional[Prediction]] = [None] * len(sentences)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            probabilities = self._probabilities([sentences[i] for i in chunk])
            for i, row in zip(chunk, probabilities):
                results[i] = self._prediction(sentences[i], row)
        return results  # type: ignore[return-value]

    def _probabilities(self, sentences: List[str]) -> List[List[float]]:
        inputs = self.tokenizer(
            sentences,
            padding="longest",
            truncation=True,
            max_length=self.max_seq_length,
            return_tensors="pt",
        )
        inputs = {name: tensor.to(self.device) for name, tensor in inputs.items()}
        with torch.inference_mode():
            logits = self.model(**inputs).logits
        return logits.float().softmax(dim=-1).tolist()

    def _prediction(self, sentence: str, row: List[float]) -> Prediction:
        best = max(range(len(row)), key=row.__getitem__)
        return Prediction(sentence, self.labels[best], dict(zip(self.labels, row)))


def validate_sentences(sentences: Sequence[str]) -> List[str]:
    """``sentences`` as a list, or a TypeError/ValueError that says what is wrong."""
    if isinstance(sentences, str):
        raise TypeError("predict() takes a list of sentences; wrap one sentence in a list: [sentence]")
    if not isinstance(sentences, (list, tuple)):
        raise TypeError(f"predict() takes a list of sentences, got {type(sentences).__name__}")
    if not sentences:
        raise ValueError("predict() got an empty list; give at least one sentence")
    for index, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            raise TypeError(f"sentence {index} is {type(sentence).__name__}, not a string")
        if not sentence.strip():
            raise ValueError(f"sentence {index} is empty or only whitespace")
    return list(sentences)


# -- ratsnlp's inference_fn ------------------------------------------------------------------


def make_inference_fn(classifier: Classifier) -> Callable[[str], Dict[str, object]]:
    """ratsnlp's ``inference_fn``: one sentence in, the dict the tutorial's page expects out.

    Keys: ``sentence``, ``prediction``, and for two-class models ``positive_data``,
    ``negative_data``, ``positive_width``, ``negative_width`` (class 1 is "positive", class 0
    "negative", as in ratsnlp), plus ``probabilities``: ``[{label, probability, width}]`` for
    every class, which is all that N-class models get.
    """

    def inference_fn(sentence: str) -> Dict[str, object]:
        return prediction_to_dict(classifier.predict([sentence])[0])

    inference_fn.classifier = classifier  # lets create_app() batch through the same classifier
    return inference_fn


def prediction_to_dict(prediction: Prediction) -> Dict[str, object]:
    """The ratsnlp ``inference_fn`` dict (plus ``probabilities``) for one Prediction."""
    labels = list(prediction.probabilities)
    probabilities = list(prediction.probabilities.values())
    rounded = [round(p, 4) for p in probabilities]  # the tutorial shows 4 decimals
    widths = [_format_percent(bp) for bp in _basis_points(probabilities)]
    result: Dict[str, object] = {"sentence": prediction.sentence, "prediction": prediction.label}
    if len(labels) == 2:
        result.update(
            positive_data=f"{_short_label(labels[1])} {rounded[1]}",
            negative_data=f"{_short_label(labels[0])} {rounded[0]}",
            positive_width=widths[1],
            negative_width=widths[0],
        )
    result["probabilities"] = [
        {"label": label, "probability": p, "width": width}
        for label, p, width in zip(labels, rounded, widths)
    ]
    return result


def _basis_points(probabilities: List[float]) -> List[int]:
    """Probabilities in hundredths of a percent that add up to exactly 10000 (largest remainder)."""
    exact = [p * 10000 for p in probabilities]
    floors = [int(x) for x in exact]
    shortfall = 10000 - sum(floors)
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - floors[i], reverse=True)
    for i in by_remainder[:max(shortfall, 0)]:
        floors[i] += 1
    return floors


def _format_percent(basis_points: int) -> str:
    whole, hundredths = divmod(basis_points, 100)
    return f"{whole}.{hundredths:02d}%"


def _short_label(label: str) -> str:
    """'긍정 (positive)' -> '긍정', as the tutorial's '긍정 0.8599'."""
    return label.split(" (")[0]
