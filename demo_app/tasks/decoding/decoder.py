"""Every visitor's text written together: one forward pass a step writes a token of each.

This is iteration-level batching, as Orca, Hugging Face TGI and vLLM schedule generation: the rows
being written (one per text, ``num_beams`` per beam search) are read in one batched forward pass
per step, each with its key/value cache kept (``cache.py``); a new text joins between two steps
(its prompt read alone, which writes its first token), and one that ends or whose visitor left
frees its rows at once. On a CPU a GPT-2 step is bound by reading the weights, so eight rows cost
little more than one: measured in ``benchmarks/generation_benchmark.py``.

What joins when is fair and bounded (``admission.py``): at most ``max_rows`` rows and
``max_cache_bytes`` of cache, priced before a text joins; a visitor holding less than a fair
share of the rows joins at once, others' texts stepping aside, so no visitor waits for another's
long texts to end. At most ``MAX_JOINS_PER_STEP`` prompts are read in one step, so a class
pressing the button together does not stall the texts already being written.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Dict, Hashable, List, Optional, Tuple

import torch

from ..fields import FieldError
from .admission import Entry, FairAdmission
from .cache import CacheRows
from .streams import BeamStream, SampledStream, Stream

MAX_JOINS_PER_STEP = 8
MAX_CACHE_BYTES = 512 * 1024 * 1024


@dataclasses.dataclass
class StepOutcome:
    """What one step made: text pieces (``{"item": i, "text": piece}``) and finished owners'
    results, each with the owner it belongs to."""

    events: List[Tuple[Hashable, Dict[str, Any]]] = dataclasses.field(default_factory=list)
    finished: List[Tuple[Hashable, List[Dict[str, Any]]]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Owner:
    """A caller's texts (a request's prompts): their results, and how many are still written."""

    group: str
    results: List[Any]  # a result dict per item, None until it is written
    unfinished: int


class BatchedDecoder:
    """The texts being written by one model, stepped together. Not thread-safe: one thread (the
    inference thread, or a caller writing alone) calls it."""

    def __init__(self, model, tokenizer, device: torch.device, *, max_rows: int = 32,
                 max_cache_bytes: int = MAX_CACHE_BYTES, max_prompt_tokens: int = 64,
                 max_new_tokens: int = 128) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, torch.device(device)
        self.max_prompt_tokens, self.max_new_tokens = max_prompt_tokens, max_new_tokens
        self.eos = _eos_token_id(model, tokenizer)
        self.positions = _positions(model.config)
        self.token_bytes = _cache_bytes_per_token(model)
        self.admission = FairAdmission(max_rows, max_cache_bytes, self.token_bytes)
        self.cache_name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self.cache = CacheRows()
        self.running: List[Entry] = []  # owner, item index, stream: in row order
        self.pending: List[Entry] = []
        self.owners: Dict[Hashable, _Owner] = {}

    # -- callers ----------------------------------------------------------------------------

    def add(self, owner: Hashable, items: List[Any], group: str = "") -> None:
        """Queue ``items`` (checked prompts) to be written for ``owner`` (``group``: who asks,
        for fair shares); a FieldError, before anything is queued, for a prompt that is too long."""
        streams = [self._stream(item) for item in items]
        self.owners[owner] = _Owner(group, [None] * len(streams), len(streams))
        for index, stream in enumerate(streams):
            self.pending.append((owner, index, stream))

    def drop(self, owner: Hashable) -> None:
        """Forget ``owner``'s texts (its caller left): their rows are free at once."""
        self.owners.pop(owner, None)
        self.pending = [entry for entry in self.pending if entry[0] != owner]
        for entry in [entry for entry in self.running if entry[0] == owner]:
            self._take_out(entry)

    def clear(self) -> None:
        """Forget everything (after a failed step: its caches cannot be trusted)."""
        self.running, self.pending, self.owners, self.cache = [], [], {}, CacheRows()

    @property
    def busy(self) -> bool:
        return bool(self.owners)

    def step(self) -> StepOutcome:
        """One token of every running text, then the prompts of those that join (their first
        token); the pieces of text made, and the owners whose texts are all written."""
        outcome = StepOutcome()
        with torch.inference_mode():
            self._finish_empty(outcome)
            if self.running:
                self._decode(outcome)
            self._join(outcome)
        return outcome

    # -- the work of a step -------------------------------------------------------------------

    def _stream(self, item) -> Stream:
        ids = self.tokenizer(item.text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise FieldError("the prompt has no tokens: write a few words")
        if len(ids) > self.max_prompt_tokens:
            raise FieldError(f"the prompt is {len(ids)} tokens long; the limit is {self.max_prompt_tokens}")
        settings = item.settings
        wanted = settings["max_new_tokens"] or settings["max_length"] - len(ids)
        limit = max(0, min(wanted, self.max_new_tokens, self.positions - len(ids)))
        kind = BeamStream if settings["num_beams"] > 1 else SampledStream
        return kind(item, ids, limit, self.eos, self.tokenizer, self.device)

    def _finish_empty(self, outcome: StepOutcome) -> None:
        """Texts with nothing to write (the prompt already fills ``max_length``) end at once."""
        for entry in [entry for entry in self.pending if entry[2].done]:
            self.pending.remove(entry)
            self._settle(entry, outcome)

    def _decode(self, outcome: StepOutcome) -> None:
        tokens = [token for _, _, stream in self.running for token in stream.next_tokens()]
        mask, positions = self.cache.step_inputs()
        outputs = self.model(input_ids=torch.tensor(tokens, device=self.device).unsqueeze(1), attention_mask=mask,
                             position_ids=positions, use_cache=True, **{self.cache_name: self.cache.model_cache()})
        self.cache.stepped(outputs[self.cache_name], mask)
        scores = outputs.logits[:, -1, :].float()
        kept: List[Entry] = []
        sources: List[int] = []
        row = 0
        for entry in self.running:
            stream = entry[2]
            continued = stream.choose(scores[row:row + stream.rows])
            self._report(entry, outcome)
            if stream.done:
                self._settle(entry, outcome)
            else:
                kept.append(entry)
                sources.extend(row + source for source in continued)
            row += stream.rows
        self.running = kept
        self.cache.keep(sources)

    def _join(self, outcome: StepOutcome) -> None:
        for _ in range(MAX_JOINS_PER_STEP):
            entry, aside = self.admission.next(self.pending, self.running, self._group)
            if entry is None:
                return
            for other in aside:
                self._step_aside(other)
            self.pending.remove(entry)
            stream = entry[2]
            context = stream.context()
            outputs = self.model(input_ids=torch.tensor(context, device=self.device), use_cache=True)
            scores = outputs.logits[:, -1, :].float()
            copies = stream.rows // len(context)
            continued = stream.choose(scores.expand(stream.rows, -1) if copies > 1 else scores)
            self._report(entry, outcome)
            if stream.done:
                self._settle(entry, outcome)
                continue
            # a beam search that stepped aside rejoins with its beams read whole: they continue
            # from the rows its step chose; read once at first, they are alike
            order = None if copies > 1 else continued
            self.cache.add(outputs[self.cache_name], len(context[0]), copies=copies, order=order)
            self.running.append(entry)

    def _group(self, entry: Entry) -> str:
        return self.owners[entry[0]].group

    def _step_aside(self, entry: Entry) -> None:
        """``entry`` waits to join again: it keeps what it wrote, and when it rejoins its prompt
        and text are read whole (the same scores, up to rounding)."""
        self._take_out(entry)
        self.pending.append(entry)

    def _take_out(self, entry: Entry) -> None:
        """Take ``entry``'s rows out of the batch."""
        sources: List[int] = []
        row = 0
        for running in self.running:
            if running is not entry:
                sources.extend(range(row, row + running[2].rows))
            row += running[2].rows
        self.running.remove(entry)
        self.cache.keep(sources)

    def _report(self, entry: Entry, outcome: StepOutcome) -> None:
        piece = entry[2].new_text()
        if piece:
            outcome.events.append((entry[0], {"item": entry[1], "text": piece}))

    def _settle(self, entry: Entry, outcome: StepOutcome) -> None:
        owner_id, index, stream = entry
        owner = self.owners.get(owner_id)
        if owner is None:
            return
        owner.results[index] = stream.result()
        owner.unfinished -= 1
        if not owner.unfinished:
            del self.owners[owner_id]
            outcome.finished.append((owner_id, owner.results))


def _eos_token_id(model, tokenizer) -> Optional[int]:
    """The end-of-text token generate stops at: the model's generation config's, else its config's."""
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    if eos is None:
        eos = getattr(model.config, "eos_token_id", None)
    if isinstance(eos, (list, tuple)):
        eos = eos[0] if eos else None
    return eos if eos is not None else tokenizer.eos_token_id


def _positions(config) -> int:
    """The longest text (prompt included) the model has position embeddings for."""
    return getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None) or 1024


def _cache_bytes_per_token(model) -> int:
    """What one token of one row costs in the cache: keys and values of every layer."""
    config = model.config
    layers: int = getattr(config, "n_layer", None) or getattr(config, "num_hidden_layers", None) or 12
    width: int = getattr(config, "n_embd", None) or getattr(config, "hidden_size", None) or 768
    # the activations' type: fp32 on the CPU even when the layers multiply in bf16
    element: int = model.get_input_embeddings().weight.element_size()
    return 2 * layers * width * element


__all__ = ["BatchedDecoder", "MAX_CACHE_BYTES", "StepOutcome"]
