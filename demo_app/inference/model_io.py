"""A model's inputs and outputs, between the task's numpy arrays and the model's own form.

A task's ``preprocess`` gives numpy arrays and its ``postprocess`` reads them, so a model served
through OpenVINO (numpy in, numpy out) runs without importing torch at all: a cached kcbert-base
starts in about half the time and 200 MB less memory (``benchmarks/serve_benchmark.py``). For a
PyTorch model the arrays become tensors on its device here, and its outputs fp32 arrays again.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np


def forward_arrays(pipeline: Any, model: Any, arrays: Dict[str, Any], device: Any) -> Dict[str, np.ndarray]:
    """The task pipeline's forward pass over ``arrays`` (numpy arrays or tensors), as fp32 numpy
    arrays: an OpenVINO model reads the arrays; a PyTorch model reads them as tensors on
    ``device``, under ``torch.inference_mode``."""
    if getattr(model, "backend", "torch") == "openvino":
        return output_arrays(pipeline.forward(model, {name: np.asarray(value) for name, value in arrays.items()}))
    import torch

    with torch.inference_mode():
        inputs = {name: torch.as_tensor(value).to(device) for name, value in arrays.items()}
        return output_arrays(pipeline.forward(model, inputs))


def output_arrays(outputs: Dict[str, Any]) -> Dict[str, np.ndarray]:
    """A model's outputs (tensors on any device and in any precision, or arrays) as fp32 numpy arrays."""
    return {name: value.astype(np.float32, copy=False) if isinstance(value, np.ndarray)
            else value.detach().float().cpu().numpy() for name, value in outputs.items()}
