"""Why the model answered so: integrated gradients over the word embeddings, summed to words.

Integrated gradients (Sundararajan et al., 2017) moves the input's word embeddings from a
baseline (every word piece replaced by ``[PAD]``, the special tokens kept) to the input in
``steps`` points, and adds up the gradient of the explained score along the way: each word
piece's attribution is its embedding's change times the average gradient. They add up to
``score(input) - score(baseline)``, up to the error of the sum (``convergence_delta``, reported with
every answer: how far their sum is from that difference). The points are Gauss-Legendre nodes,
which reach a given error with far fewer steps than the even spacing of a Riemann sum.

Word pieces are summed into the words the visitor typed (spans of non-space characters, with
their character offsets), so the page can tint the text as it was written.

Why not Captum, PyTorch's attribution library: its ``LayerIntegratedGradients`` computes the same
sum, but in one call over all steps; here the steps are rows the inference thread runs a batch
at a time between other visitors' requests (``Predictor.explain``), and Captum would add
matplotlib to what a Colab student installs.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Generator, List, Optional, Sequence, Tuple

import numpy

from ..tasks import ExplanationTarget
from ..tasks.fields import whole_number

if TYPE_CHECKING:  # imported when an explanation runs: serving needs no torch (model_io.py)
    import torch

MAX_STEPS = 128
METHOD = "integrated gradients"
WORD = re.compile(r"\S+")


class GradientModel:
    """The PyTorch model explanations differentiate: the one served, or, for a model served
    through OpenVINO (its compiled graph has no gradients), one ``build()`` reads again from the
    checkpoint when an explanation first asks for it (seconds, and its memory from then on)."""

    def __init__(self, model: Any = None, build: Optional[Callable[[], Any]] = None) -> None:
        self._model, self._build = model, build
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._model is None:
                assert self._build is not None
                self._model = self._build()
            return self._model


@dataclasses.dataclass
class ExplanationJob:
    """One explanation a visitor asked for: the input, its target and the number of steps."""

    item: Any
    target: Any
    steps: int


def check_steps(steps: Any) -> int:
    """``steps`` as an integer from 2 to MAX_STEPS, or a ValueError naming the range."""
    number = whole_number(steps)
    if number is None or not 2 <= number <= MAX_STEPS:
        raise ValueError(f"steps must be an integer from 2 to {MAX_STEPS}, got {steps!r}")
    return number


Attributions = Tuple[List[float], float, float]  # each word piece's, score(input), score(baseline)


def attribution_steps(model, tokenizer, target: ExplanationTarget, steps: int, rows_per_pass: int,
                      device: Any) -> Generator[None, None, Attributions]:
    """The word pieces' attributions, ``score(input)`` and ``score(baseline)``: a generator that
    yields after each forward and backward pass of at most ``rows_per_pass`` points."""
    import torch

    inputs = {name: torch.as_tensor(value).to(device) for name, value in target.encoding.items()
              if name != "offset_mapping"}
    ids = inputs.pop("input_ids")
    embeddings = model.get_input_embeddings()
    # the baseline keeps the tokens every input has ([CLS], [SEP]); [UNK] is a word, replaced
    special = [getattr(tokenizer, name) for name in ("cls_token_id", "sep_token_id", "bos_token_id",
                                                     "eos_token_id", "pad_token_id")]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    kept = torch.isin(ids, torch.tensor([token for token in special if token is not None], device=device))
    with torch.inference_mode(False), torch.no_grad():
        actual = embeddings(ids).detach().float()
        baseline = embeddings(torch.where(kept, ids, torch.full_like(ids, pad_id))).detach().float()
        ends = _scores(model, target, torch.cat([actual, baseline]), inputs, 2)
    nodes, weights = numpy.polynomial.legendre.leggauss(steps)
    alphas = torch.tensor((nodes + 1) / 2, dtype=torch.float32, device=device)
    weights_01 = torch.tensor(weights / 2, dtype=torch.float32, device=device)
    total = torch.zeros_like(actual[0])
    for start in range(0, steps, rows_per_pass):
        if start:
            yield None  # another visitor's work may run here
        alpha = alphas[start:start + rows_per_pass]
        with torch.inference_mode(False), torch.enable_grad():
            points = (baseline + alpha[:, None, None] * (actual - baseline)).requires_grad_(True)
            scores = _scores(model, target, points, inputs, len(alpha))
            gradients, = torch.autograd.grad(scores.sum(), points)
        total += (weights_01[start:start + rows_per_pass, None, None] * gradients.float()).sum(0)
    attributions = ((actual - baseline)[0] * total).sum(-1)
    return attributions.tolist(), float(ends[0]), float(ends[1])


def _scores(model, target: ExplanationTarget, embedded: "torch.Tensor", inputs: Dict[str, "torch.Tensor"],
            rows: int) -> "torch.Tensor":
    """The explained score for each row of ``embedded`` (the word embeddings of ``rows`` points)."""
    expanded = {name: value.expand(rows, -1) for name, value in inputs.items()}
    dtype = model.get_input_embeddings().weight.dtype
    outputs = model(inputs_embeds=embedded.to(dtype), **expanded)
    return target.score({name: value.float() for name, value in outputs.items() if name.endswith("logits")})


def words_of(fields: Sequence[Tuple[str, str]], target: ExplanationTarget,
             attributions: Sequence[float]) -> List[Dict[str, Any]]:
    """The words of each field (``(name, text)``), each with the sum of its word pieces'
    attributions (0.0 for words cut off by ``max_seq_length``)."""
    words: List[Dict[str, Any]] = [
        {"field": name, "text": match.group(), "start": match.start(), "end": match.end(), "attribution": 0.0}
        for name, text in fields for match in WORD.finditer(text)]
    offsets = target.encoding["offset_mapping"][0].tolist()
    for position, (start, end) in enumerate(offsets):
        field = target.sequence_ids[position]
        if field is None or end <= start or field >= len(fields):
            continue
        word = _word_at(words, fields[field][0], start)
        if word is not None:
            word["attribution"] += attributions[position]
    for word in words:
        word["attribution"] = round(word["attribution"], 6)
    return words


def _word_at(words: List[Dict[str, Any]], field: str, offset: int) -> Optional[Dict[str, Any]]:
    for word in words:
        if word["field"] == field and word["start"] <= offset < word["end"]:
            return word
    return None


__all__ = ["ExplanationJob", "GradientModel", "MAX_STEPS", "METHOD", "attribution_steps", "check_steps", "words_of"]
