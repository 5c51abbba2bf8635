"""Putting a PyTorch model into the precision it will run in (``precision.py`` chooses which).

On the CPU, "bf16" means the Linear layers' weights stored in bf16 and multiplied in bf16, with
everything between them in fp32 (``Bf16Linear``); on CUDA, the whole model cast to fp16 or bf16.
Kept apart from the choice so that choosing never imports torch: a model served through OpenVINO
does not need it (``model_io.py``).
"""

from __future__ import annotations

from typing import Any, Tuple

import torch
import torch.nn.functional as F

from .precision import device_type


class Bf16Linear(torch.nn.Module):
    """A Linear layer with bf16 weights that takes and returns fp32 activations."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.weight = torch.nn.Parameter(linear.weight.detach().to(torch.bfloat16), requires_grad=False)
        self.bias = None if linear.bias is None else torch.nn.Parameter(
            linear.bias.detach().float(), requires_grad=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        output = F.linear(hidden.to(torch.bfloat16), self.weight).to(hidden.dtype)
        return output if self.bias is None else output + self.bias

    @classmethod
    def from_conv1d(cls, conv) -> "Bf16Linear":
        """GPT-2's layers: transformers' ``Conv1D`` is a Linear layer with its weight transposed."""
        linear = torch.nn.Linear(conv.weight.shape[0], conv.weight.shape[1], device="meta")
        linear.weight = torch.nn.Parameter(conv.weight.detach().t(), requires_grad=False)
        linear.bias = torch.nn.Parameter(conv.bias.detach(), requires_grad=False)
        return cls(linear)


def apply_precision(model: torch.nn.Module, precision: str, device: Any,
                    output_heads: Tuple[str, ...] = ()) -> torch.nn.Module:
    """``model`` converted for ``precision`` on ``device`` (fp32 weights in, any dtype); on the
    CPU the Linear layers named ``output_heads`` (the task's head) stay fp32."""
    model = model.float()
    if precision == "fp32":
        return model
    if device_type(device) == "cuda":
        return model.to(torch.float16 if precision == "fp16" else torch.bfloat16)
    from transformers.pytorch_utils import Conv1D  # GPT-2's layers

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            # The output heads stay fp32: tiny for classifiers, and a language model's picks
            # every token (and is tied to the input embedding).
            if name in output_heads:
                continue
            if isinstance(child, torch.nn.Linear):
                setattr(module, name, Bf16Linear(child))
            elif isinstance(child, Conv1D):
                setattr(module, name, Bf16Linear.from_conv1d(child))
    return model


