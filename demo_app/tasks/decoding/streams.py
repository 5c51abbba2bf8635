"""One prompt's text being written: which token comes next, from the model's scores for its rows.

A :class:`SampledStream` is one row: greedy or sampled, as transformers' ``generate`` writes it
with ``num_beams=1``. A :class:`BeamStream` is ``num_beams`` rows: beam search as ``generate``
runs it (its beam scorer's rules, written out so that each token is one step shared with other
visitors' rows). Each keeps its own settings, logits processors and random generator, so a text
is the same whoever else is being written beside it.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Dict, List, Optional, Tuple

import torch

BEAM_START = -1e9  # generate's first-step score of every beam but the first: they start alike


class Stream:
    """What every stream keeps: the prompt, the new tokens, the text shown so far."""

    rows = 1

    def __init__(self, item: Any, prompt_ids: List[int], limit: int, eos: Optional[int], tokenizer,
                 device: torch.device) -> None:
        self.item, self.settings = item, item.settings
        self.prompt_ids, self.limit, self.eos, self.tokenizer = prompt_ids, limit, eos, tokenizer
        self.device = device
        self.started = time.perf_counter()
        self.new_ids: List[int] = []
        self.stopped = "length"
        self.done = limit == 0
        self.shown = ""
        self.prompt_text = tokenizer.decode(prompt_ids, skip_special_tokens=True)
        self.processors = _processors(self.settings, eos)
        seed = self.settings["seed"]
        self.generator = torch.Generator(device=device).manual_seed(
            secrets.randbits(63) if seed is None else seed)

    def choose(self, scores: torch.Tensor) -> List[int]:
        """Take the model's next-token scores for this stream's rows (``[rows, vocabulary]``,
        fp32); returns which of its rows each of its rows continues (a beam search reorders)."""
        raise NotImplementedError

    def next_tokens(self) -> List[int]:
        """The tokens its rows read at the next step."""
        raise NotImplementedError

    def context(self) -> List[List[int]]:
        """What its rows have read and chosen so far, to be read whole when it (re)joins the
        batch: the prompt alone at first (one row, whatever its number of rows)."""
        raise NotImplementedError

    def new_text(self) -> str:
        """The text of the new tokens not yet shown, held back while a character is unfinished.
        They are decoded after the prompt, as ``result`` is: decoded alone, the first one loses
        its space where the tokenizer drops a text's leading space (KoGPT2's ``▁``)."""
        whole = self.tokenizer.decode(self.prompt_ids + self.certain_ids(), skip_special_tokens=True)
        if whole.startswith(self.prompt_text):
            text = whole[len(self.prompt_text):]
        else:  # the prompt's last character joined with the first new one: decode them alone
            text = self.tokenizer.decode(self.certain_ids(), skip_special_tokens=True)
        if text.endswith("\ufffd") or not text.startswith(self.shown):
            return ""
        piece, self.shown = text[len(self.shown):], text
        return piece

    def certain_ids(self) -> List[int]:
        """The new tokens that will be in the result whatever comes next."""
        return self.new_ids

    def result(self) -> Dict[str, Any]:
        ids = self.prompt_ids + self.new_ids
        return {
            "result": self.tokenizer.decode(ids),  # as the book decodes: special tokens kept
            "prompt": self.item.text,
            "generated": self.tokenizer.decode(self.new_ids, skip_special_tokens=True),
            "tokens": len(self.new_ids),
            "prompt_tokens": len(self.prompt_ids),  # max_length counts them, as the book's does
            "seconds": round(time.perf_counter() - self.started, 3),
            "stopped": self.stopped,
            "settings": self.settings,
        }

    def _sequences(self, rows: List[List[int]]) -> torch.Tensor:
        return torch.tensor([self.prompt_ids + row for row in rows], device=self.device)


class SampledStream(Stream):
    """One row, one token a step: greedy (``do_sample=False``, or ``top_k=1``) or sampled."""

    def choose(self, scores: torch.Tensor) -> List[int]:
        scores = self.processors(self._sequences([self.new_ids]), scores)
        # top_k=1 (the book's greedy setting) leaves one token to draw: the likeliest, without
        # a draw over the whole vocabulary (at 32 rows, a quarter of a KoGPT2-sized step)
        if self.settings["do_sample"] and self.settings["top_k"] != 1:
            chosen = int(torch.multinomial(scores.softmax(dim=-1), 1, generator=self.generator))
        else:
            chosen = int(scores.argmax(dim=-1))
        self.new_ids.append(chosen)
        if chosen == self.eos:
            self.stopped, self.done = "eos", True
        elif len(self.new_ids) >= self.limit:
            self.done = True
        return [0]

    def next_tokens(self) -> List[int]:
        return self.new_ids[-1:]

    def context(self) -> List[List[int]]:
        return [self.prompt_ids + self.new_ids]


class BeamStream(Stream):
    """``num_beams`` rows. Each step every beam's continuations are scored (log-probabilities,
    processed, plus the beam's score so far), the best ``2 × num_beams`` are taken in order, and
    those ending the text become finished hypotheses (scored per new token) while the rest, up to
    ``num_beams``, are the next beams; done when no running beam can beat the worst of
    ``num_beams`` finished ones, or at the length limit, when the running beams count too. These
    are the rules of transformers' ``BeamSearchScorer`` (length_penalty 1, early_stopping False)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rows = self.settings["num_beams"]
        self.beams: List[List[int]] = [[] for _ in range(self.rows)]
        self.scores = torch.full((self.rows,), BEAM_START, device=self.device)
        self.scores[0] = 0.0
        self.finished: List[Tuple[float, List[int]]] = []  # (score per new token, ids), at most num_beams

    def choose(self, scores: torch.Tensor) -> List[int]:
        vocabulary = scores.shape[-1]
        scores = self.processors(self._sequences(self.beams), scores.log_softmax(dim=-1))
        totals = (scores + self.scores[:, None]).view(-1)
        if self.settings["do_sample"]:  # beam sampling: draw the candidates, best first
            drawn = torch.multinomial(totals.softmax(dim=-1), 2 * self.rows, generator=self.generator)
            candidates, order = totals[drawn].sort(descending=True)
            indices = drawn[order]
        else:
            candidates, indices = totals.topk(2 * self.rows)
        sources, tokens, kept = [], [], []
        for rank, (score, index) in enumerate(zip(candidates.tolist(), indices.tolist())):
            beam, token = divmod(index, vocabulary)
            if token == self.eos:
                if rank < self.rows:
                    self._finish(self.beams[beam], score, len(self.beams[beam]) + 1)
                continue
            sources.append(beam)
            tokens.append(token)
            kept.append(score)
            if len(sources) == self.rows:
                break
        self.beams = [self.beams[beam] + [token] for beam, token in zip(sources, tokens)]
        self.scores = torch.tensor(kept, device=self.device)
        generated = len(self.beams[0])
        if self._cannot_improve(candidates.max().item(), generated):
            self.done = True
        elif generated >= self.limit:
            for beam, score in zip(self.beams, kept):
                self._finish(beam, score, generated)
            self.done = True
        if self.done:
            self._settle()
        return sources

    def next_tokens(self) -> List[int]:
        return [beam[-1] for beam in self.beams]

    def context(self) -> List[List[int]]:
        if not self.beams[0]:
            return [self.prompt_ids]  # the beams start alike: read once
        return [self.prompt_ids + beam for beam in self.beams]

    def certain_ids(self) -> List[int]:
        """What every running beam and finished hypothesis begins with: the result begins so."""
        if self.done:
            return self.new_ids
        texts = self.beams + [ids for _, ids in self.finished]
        common = 0
        for column in zip(*texts):
            if any(token != column[0] for token in column):
                break
            common += 1
        return texts[0][:common]

    def _finish(self, ids: List[int], score: float, generated: int) -> None:
        """A finished hypothesis, kept if it is among the best ``num_beams``."""
        normalised = score / generated
        if len(self.finished) < self.rows or normalised > min(s for s, _ in self.finished):
            self.finished.append((normalised, ids))
            if len(self.finished) > self.rows:
                self.finished.remove(min(self.finished, key=lambda hypothesis: hypothesis[0]))

    def _cannot_improve(self, best: float, generated: int) -> bool:
        return len(self.finished) >= self.rows and min(s for s, _ in self.finished) >= best / generated

    def _settle(self) -> None:
        """The result: the best hypothesis, with the end-of-text token when it ended so."""
        score, ids = sorted(self.finished, key=lambda hypothesis: hypothesis[0])[-1]  # ties: the last added
        ended = len(ids) < self.limit
        self.new_ids = ids + ([self.eos] if ended and self.eos is not None else [])
        self.stopped = "eos" if ended else "length"


def _processors(settings: Dict[str, Any], eos: Optional[int]):
    """transformers' own logits processors, in the order ``generate`` applies them."""
    from transformers import (
        LogitsProcessorList,
        MinLengthLogitsProcessor,
        NoRepeatNGramLogitsProcessor,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    processors = LogitsProcessorList()
    if settings["repetition_penalty"] != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(penalty=float(settings["repetition_penalty"])))
    if settings["no_repeat_ngram_size"] > 0:
        processors.append(NoRepeatNGramLogitsProcessor(settings["no_repeat_ngram_size"]))
    if settings["min_length"] > 0 and eos is not None:
        processors.append(MinLengthLogitsProcessor(settings["min_length"], eos))
    if settings["do_sample"]:
        if settings["temperature"] != 1.0:
            processors.append(TemperatureLogitsWarper(float(settings["temperature"])))
        if settings["top_k"] != 0:
            processors.append(TopKLogitsWarper(top_k=settings["top_k"]))
        if settings["top_p"] < 1.0:
            processors.append(TopPLogitsWarper(top_p=float(settings["top_p"])))
    return processors


__all__ = ["BeamStream", "SampledStream", "Stream"]
