"""Choosing the numeric precision the model runs in, per device.

``auto`` picks a lower precision only where the hardware runs it natively and it was measured to
be faster (see benchmarks/README.md): bf16 weights on CPUs with AVX512-BF16 or AMX, fp16 on CUDA.
Anywhere else it stays fp32, which is never slower. Softmax always runs in fp32.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU has bf16 matrix instructions (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no cheap way to tell, so stay with fp32
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def choose_precision(device: torch.device, requested: str = "auto") -> str:
    if requested not in ("auto",) + PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {PRECISIONS}, got {requested!r}")
    if requested == "fp16" and device.type != "cuda":
        raise ValueError("precision='fp16' needs a CUDA device; on CPU use 'bf16' or 'fp32'")
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def apply_precision(model: torch.nn.Module, precision: str) -> torch.nn.Module:
    return model.to(_DTYPES[precision])
