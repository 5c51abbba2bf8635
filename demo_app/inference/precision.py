"""Choosing how the model runs: the backend (PyTorch or OpenVINO) and the numeric precision.

Measured on kcbert-base's shape (benchmarks/README.md): on a CPU with native bf16 instructions
(AVX512-BF16 or AMX), storing the Linear layers' weights in bf16 and multiplying in bf16 while
everything between them (residual stream, LayerNorm, softmax) stays fp32 is about 3x faster than
fp32, and probabilities move by under 0.001. Casting the whole model to bf16 is no faster and
moves them by up to 0.1, so that is not what "bf16" means on CPU here. A CPU without those
instructions emulates bf16 slowly, so ``auto`` keeps fp32 there, and so it does for small
models (the demo model, hidden size 64), where the casts cost more than the matmuls save.
On CUDA, ``auto`` is bf16 where the GPU has it (Ampere and later) and fp16 before (a T4).

On the CPU, an encoder of that size runs faster still through OpenVINO (``openvino_model.py``),
in the same precision: ``auto`` picks it when the package is installed.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..tasks.arrays import softmax

PRECISIONS = ("fp32", "bf16", "fp16")
BACKENDS = ("torch", "openvino")
# kcbert-base (768) runs 3x faster with bf16 matmuls; the demo model (64) runs slower.
MIN_HIDDEN_SIZE_FOR_BF16 = 512


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU has bf16 matrix instructions (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no cheap way to tell, so stay with fp32
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def device_type(device: Any) -> str:
    """``"cpu"`` or ``"cuda"`` for a device given as a string (``"cuda:1"``) or a ``torch.device``."""
    return str(device).split(":")[0]


def choose_precision(device: Any, requested: str = "auto", hidden_size: int = 768) -> str:
    """The precision to run in: ``requested`` checked against the device, or the auto choice."""
    if requested not in ("auto",) + PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {PRECISIONS}, got {requested!r}")
    if requested == "fp16" and device_type(device) != "cuda":
        raise ValueError("precision='fp16' needs a CUDA device; on CPU use 'bf16' or 'fp32'")
    if requested != "auto":
        return requested
    if device_type(device) == "cuda":
        import torch  # a CUDA device: torch is what runs the model

        # Ampere (compute capability 8) and later multiply bf16 natively; a T4 (7.5) only emulates it.
        return "bf16" if torch.cuda.get_device_capability(device)[0] >= 8 else "fp16"
    if hidden_size >= MIN_HIDDEN_SIZE_FOR_BF16 and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def choose_backend(device: Any, requested: str = "auto", *, convertible: bool = True,
                   hidden_size: int = 768, precision: str = "fp32") -> str:
    """``"openvino"`` or ``"torch"``: ``requested`` checked against the device and the task, or
    the auto choice (OpenVINO for a model big enough to gain, on the CPU, when installed)."""
    from .openvino_model import OPENVINO_PRECISIONS, openvino_available

    if requested not in ("auto",) + BACKENDS:
        raise ValueError(f"backend must be 'auto' or one of {BACKENDS}, got {requested!r}")
    if requested == "openvino":
        if device_type(device) != "cpu":
            raise ValueError("backend='openvino' runs on the CPU; use backend='torch' on CUDA")
        if not convertible:
            raise ValueError("backend='openvino' runs the encoder tasks (classification, pairs, NER, QA); "
                             "use backend='torch' for this one")
        if precision not in OPENVINO_PRECISIONS:
            raise ValueError(f"backend='openvino' runs in {' or '.join(OPENVINO_PRECISIONS)}, not {precision}")
        if not openvino_available():
            raise ValueError("backend='openvino' needs the openvino package: pip install openvino")
        return "openvino"
    if requested == "torch" or device_type(device) != "cpu" or not convertible:
        return "torch"
    if hidden_size >= MIN_HIDDEN_SIZE_FOR_BF16 and openvino_available():
        return "openvino"
    return "torch"


# The accuracy guard: a faster precision is used only if, on the task's examples, it moves no
# probability by more than this and changes no answer that fp32 gives with a clear margin.
PROBABILITY_BOUND = 0.01
DECIDED_MARGIN = 0.02


def disagreement(exact: Dict[str, np.ndarray], fast: Dict[str, np.ndarray]) -> Optional[str]:
    """Why ``fast`` (one input's logits per output name, fp32 arrays) is not the same answer as
    ``exact`` (fp32's): a probability moved more than ``PROBABILITY_BOUND`` or a decided answer
    changed. None when they agree. Every position counts (a token's tag, a span's start)."""
    for name, logits in exact.items():
        expected, got = softmax(logits), softmax(fast[name])
        moved = float(np.abs(expected - got).max())
        if moved > PROBABILITY_BOUND:
            return f"a probability moved by {moved:.3f} ({name})"
        if expected.shape[-1] > 1:
            top_two = np.sort(expected, axis=-1)[..., -2:]
            decided = top_two[..., 1] - top_two[..., 0] > DECIDED_MARGIN
            if not np.array_equal(expected.argmax(-1)[decided], got.argmax(-1)[decided]):
                return f"an answer changed ({name})"
    return None
