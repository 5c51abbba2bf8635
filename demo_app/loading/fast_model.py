"""Putting a checked fp32 model into the precision and backend it will run in, guarded.

A faster precision (bf16 on the CPU, fp16 / bf16 on CUDA, through PyTorch or OpenVINO) is kept
only if, on the task's examples, its answers are fp32's (``precision.disagreement``: no
probability moved by more than 0.01, no clear answer changed). Otherwise the model runs in fp32
and the page and ``/healthz`` say why. Measured on kcbert-base's shape, bf16 keeps every answer;
small or unusual models may not, and then exact beats fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..inference.model_io import forward_arrays
from ..inference.precision import disagreement
from ..tasks import Task

if TYPE_CHECKING:  # a model converted here is a PyTorch one; serving from the cache needs no torch
    import torch

Encoding = Dict[str, Any]  # numpy arrays (generation's: tensors)
Outputs = Dict[str, np.ndarray]


def example_encodings(task: Task, tokenizer, max_seq_length: int) -> List[Encoding]:
    """The model's inputs for each of the task's examples, one at a time (no padding)."""
    encodings = []
    for item in task.page.example_items():
        encoding = task.pipeline.preprocess(tokenizer, task.inputs.check_inputs([item]), max_seq_length)
        encodings.append({name: encoding[name] for name in task.pipeline.model_inputs if name in encoding})
    return encodings


def batch_of(encodings: List[Encoding], pad_token_id: int) -> Encoding:
    """The examples as one padded batch (what a conversion is traced with)."""
    longest = max(encoding["input_ids"].shape[1] for encoding in encodings)
    batch = {}
    for name in encodings[0]:
        fill = pad_token_id if name == "input_ids" else 0
        padding = [((0, 0), (0, longest - encoding[name].shape[1])) for encoding in encodings]
        batch[name] = np.concatenate([np.pad(np.asarray(encoding[name]), pad, constant_values=fill)
                                      for encoding, pad in zip(encodings, padding)])
    return batch


def outputs_for(model, task: Task, encodings: List[Encoding], device: Any) -> List[Outputs]:
    """The model's outputs (logits, fp32 arrays) for each encoding."""
    return [forward_arrays(task.pipeline, model, encoding, device) for encoding in encodings]


def first_disagreement(reference: List[Outputs], outputs: List[Outputs]) -> Optional[str]:
    """The first way ``outputs`` differ from fp32's ``reference``, or None."""
    for exact, fast in zip(reference, outputs):
        problem = disagreement(exact, fast)
        if problem:
            return problem
    return None


def fell_back_warning(precision: str, problem: str) -> str:
    return (f"{precision} changed this model's answers on the task's examples ({problem}), so it runs "
            "in fp32: exact, but slower")


def torch_model_in_precision(model: "torch.nn.Module", rebuild: Callable[[], "torch.nn.Module"], task: Task,
                             precision: str, device: Any, encodings: List[Encoding],
                             say: Callable[[str], None]) -> Tuple["torch.nn.Module", str, Optional[str]]:
    """``model`` (fp32, CPU) converted for ``precision`` on ``device``, with a warning when the
    accuracy guard sent it back to fp32 (``rebuild()`` makes the fp32 model again: converting
    is done in place)."""
    from ..inference.bf16_layers import apply_precision

    guarded = precision != "fp32" and encodings  # none for a task whose answers cannot be compared
    reference = outputs_for(model, task, encodings, "cpu") if guarded else None
    fast = apply_precision(model, precision, device, task.checkpoints.heads_kept_in_fp32()).to(device).eval()
    if not guarded:
        return fast, precision, None
    problem = first_disagreement(reference or [], outputs_for(fast, task, encodings, device))
    if problem is None:
        return fast, precision, None
    warning = fell_back_warning(precision, problem)
    say(f"warning: {warning}")
    del fast
    return apply_precision(rebuild(), "fp32", device).to(device).eval(), "fp32", warning
