"""What the tasks compute on a model's outputs, in numpy.

A task's ``preprocess`` gives numpy arrays and its ``postprocess`` reads fp32 numpy arrays, so a
model served through OpenVINO (numpy in, numpy out) runs without importing torch at all
(``inference/model_io.py`` turns them into a PyTorch model's tensors and back).
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Probabilities from ``logits`` along ``axis``, as ``torch.softmax`` computes them (the
    largest logit subtracted first, so that no exponent overflows; -inf gives 0)."""
    exponents = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return exponents / exponents.sum(axis=axis, keepdims=True)
