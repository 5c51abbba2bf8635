"""The names earlier versions used: ``Classifier`` is the :class:`~demo_app.inference.Predictor`,
``prediction_to_dict`` the document-classification dict, ``validate_sentences`` its input check.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

from .inference import PredictionError, Predictor, make_inference_fn
from .tasks import Prediction
from .tasks.classification import DocumentClassification

Classifier = Predictor
_DOCUMENT = DocumentClassification()


def prediction_to_dict(prediction: Prediction) -> Dict[str, object]:
    """The ratsnlp ``inference_fn`` dict (plus ``probabilities``) for one sentence's Prediction."""
    return _DOCUMENT.to_dict(prediction)


def validate_sentences(sentences: Sequence[str]) -> List[str]:
    """``sentences`` as a list, or a TypeError/ValueError that says what is wrong."""
    return _DOCUMENT.check_inputs(sentences)


__all__ = ["Classifier", "Prediction", "PredictionError", "make_inference_fn", "prediction_to_dict",
           "validate_sentences"]
