"""Running an encoder (classification, pairs, NER, QA) through OpenVINO on the CPU.

Measured on kcbert-base's shape at review length (benchmarks/README.md): OpenVINO fuses each
layer's attention, LayerNorm and GELU into a few kernels and runs the whole graph in bf16 on a CPU
with bf16 instructions, about 1.7x the throughput of PyTorch's bf16 matmuls and half the latency
of one input, with probabilities within 0.01 of fp32. In fp32 it gives PyTorch's answers to
within rounding, about twice as fast.

The torch model is traced once into OpenVINO's format (``conversion``); the loader keeps that
conversion in a cache keyed by the checkpoint's content (``loading/conversion_cache.py``), so later loads
read it instead of building the torch model. ``OpenVINOModel`` is then called exactly like a
transformers model by the task's ``forward``.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any, Dict

import numpy as np

# demo_app's precision names -> OpenVINO's inference precision hint.
OPENVINO_PRECISIONS = {"fp32": "f32", "bf16": "bf16"}
MODEL_FILE = "model.xml"  # with its weights beside it in model.bin
_TRACING = threading.Lock()  # TorchScript's tracer is one per process: one conversion at a time


def openvino_available() -> bool:
    """True when the ``openvino`` package can be imported (it is in requirements.txt; a platform
    without its wheels runs on PyTorch)."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def conversion(model: Any, example_inputs: Dict[str, Any], directory: Path, precision: str) -> Path:
    """``model`` (fp32, on the CPU) traced with ``example_inputs`` (any batch and length: both
    stay dynamic) and saved as ``directory/model.xml``. For bf16 the weights are stored in 16 bits,
    which halves the file and the memory of a later load; they are multiplied in bf16 anyway."""
    import openvino
    import torch

    example_inputs = {name: torch.as_tensor(value) for name, value in example_inputs.items()}
    with _TRACING, torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # Tracing warns about Python branches on shapes; transformers' encoders take them the
        # same way for every input (checked: the conversion's answers match at other lengths).
        warnings.simplefilter("ignore")
        names = [name for name in model(**example_inputs).keys() if name.endswith("logits")]
        converted = openvino.convert_model(model, example_input=dict(example_inputs))
    # Some OpenVINO versions add numbered names beside the arguments' names: keep only theirs.
    for port in converted.inputs:
        named = port.get_names() & set(example_inputs)
        if named:
            port.get_tensor().set_names(named)
    for port, name in zip(converted.outputs, names):
        port.get_tensor().set_names({name})
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MODEL_FILE
    openvino.save_model(converted, str(path), compress_to_fp16=precision != "fp32")
    return path


class OpenVINOModel:
    """A compiled OpenVINO model called like a transformers model: the encoding's tensors as
    keyword arguments in, ``{"logits": ...}`` (or ``start_logits`` / ``end_logits``) out, as
    fp32 numpy arrays (no torch: ``model_io.py``). ``config`` is the model's config (transformers',
    or ``ModelFacts`` from the conversion's manifest) that the predictor and page read."""

    backend = "openvino"

    def __init__(self, path: Path, config, precision: str) -> None:
        import openvino

        self.config = config
        core = openvino.Core()
        self._compiled = core.compile_model(str(path), "CPU", {
            "INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[precision],
            "PERFORMANCE_HINT": "LATENCY",  # one stream on all cores: one batch at a time, soonest
        })
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()  # an infer request runs one call at a time
        self.input_names = [port.get_any_name() for port in self._compiled.inputs]
        self.output_names = [port.get_any_name() for port in self._compiled.outputs]

    def __call__(self, **inputs: Any) -> Dict[str, np.ndarray]:
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise TypeError(f"the converted model needs {', '.join(missing)}")
        feed = {name: np.asarray(inputs[name]) for name in self.input_names}
        with self._lock:
            results = self._request.infer(feed)
            # The request reuses its output buffers on the next call: copy them out first.
            return {name: results[port].copy()
                    for name, port in zip(self.output_names, self._compiled.outputs)}

    def parameters(self):
        """No torch parameters: the weights live in the compiled model."""
        return iter(())
