"""Running a loaded model: the predictor (a task + a model), the micro-batcher that gives it one
inference thread, and the numeric precision it runs in."""

from .batching import Abandoned, MicroBatcher, Overloaded
from .predictor import PredictionError, Predictor, make_inference_fn

__all__ = ["Abandoned", "MicroBatcher", "Overloaded", "PredictionError", "Predictor", "make_inference_fn"]
