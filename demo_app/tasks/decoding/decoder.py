"""Every visitor's text written together: one forward pass a step writes a token of each.

This is iteration-level batching, as Orca, Hugging Face TGI and vLLM schedule generation: the rows
being written (one per text, ``num_beams`` per beam search) are read in one batched forward pass
per step, each with its key/value cache kept (``cache.py``); a new text joins between two steps
(its prompt read alone, which writes its first token), and one that ends or whose visitor left
frees its rows at once. On a CPU a GPT-2 step is bound by reading the weights, so eight rows cost
little more than one: measured in ``benchmarks/generation_benchmark.py``.

What joins when is fair and bounded: at most ``max_rows`` rows and ``max_cache_bytes`` of cache
(priced before a text joins, at its longest: prompt and every token it may write), the visitor
holding the fewest rows first, and at most ``MAX_JOINS_PER_STEP`` prompts read in one step, so a
class pressing the button together does not stall the texts already being written. When the
rows are full, a visitor holding less than a fair share still joins at once: texts of visitors
holding more step aside (``_make_room``), so no visitor waits for another's long texts to end.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections import Counter
from typing import Any, Dict, Hashable, List, Optional, Tuple

import torch

from ..fields import FieldError
from .cache import CacheRows
from .streams import BeamStream, SampledStream, Stream

MAX_JOINS_PER_STEP = 8
Entry = Tuple[Hashable, int, Stream]  # a text: whose, which of their items, its stream
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
        self.max_rows, self.max_cache_bytes = max_rows, max_cache_bytes
        self.max_prompt_tokens, self.max_new_tokens = max_prompt_tokens, max_new_tokens
        self.eos = _eos_token_id(model, tokenizer)
        self.positions = _positions(model.config)
        self.token_bytes = _cache_bytes_per_token(model)
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
            self._step_aside(entry)
            self.pending.remove(entry)

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
            entry = self._next_to_join()
            if entry is None:
                return
            self.pending.remove(entry)
            stream = entry[2]
            context = stream.context()
            outputs = self.model(input_ids=torch.tensor(context, device=self.device), use_cache=True)
            scores = outputs.logits[:, -1, :].float()
            copies = stream.rows // len(context)
            stream.choose(scores.expand(stream.rows, -1) if copies > 1 else scores)
            self._report(entry, outcome)
            if stream.done:
                self._settle(entry, outcome)
                continue
            self.cache.add(outputs[self.cache_name], len(context[0]), copies=copies)
            self.running.append(entry)

    def _held(self) -> Counter:
        """Rows held by each visitor (group)."""
        held: Counter = Counter()
        for owner, _, stream in self.running:
            held[self.owners[owner].group] += stream.rows
        return held

    def _next_to_join(self) -> Optional[Entry]:
        """The first pending text, of the visitors holding the fewest rows first (then in the
        order they came), that fits or for which room can be made; None if there is none."""
        held = self._held()
        for entry in sorted(self.pending, key=lambda candidate: held[self.owners[candidate[0]].group]):
            if self._fits(entry[2]) or self._make_room(entry, held):
                return entry
        return None

    def _fits(self, stream: Stream) -> bool:
        rows = self.cache.rows + stream.rows
        longest = max(_longest(s) for s in [stream] + [running for _, _, running in self.running])
        return rows <= self.max_rows and rows * longest * self.token_bytes <= self.max_cache_bytes

    def _make_room(self, entry: Entry, held: Counter) -> bool:
        """Room for ``entry`` if its visitor holds less than a fair share of the rows (the rows
        over the visitors with texts to write): texts of visitors holding more than their share
        step aside, the shortest first, while their visitors hold more than a share. A text that
        steps aside keeps what it wrote; when it joins again its prompt and text are read whole
        (the same scores, up to rounding)."""
        share = max(1, self.max_rows // len({owner.group for owner in self.owners.values()}))
        group = self.owners[entry[0]].group
        if held[group] + entry[2].rows > share:
            return False
        free, left, victims = self.max_rows - self.cache.rows, Counter(held), []
        for candidate in sorted(self.running, key=lambda running: len(running[2].context()[0])):
            if free >= entry[2].rows:
                break
            owner = self.owners[candidate[0]].group
            if left[owner] > share:
                victims.append(candidate)
                left[owner] -= candidate[2].rows
                free += candidate[2].rows
        if free < entry[2].rows:
            return False
        for victim in victims:
            self._step_aside(victim)
        return self._fits(entry[2])

    def _step_aside(self, entry: Entry) -> None:
        """Take ``entry``'s rows out of the batch; it waits to join again."""
        sources: List[int] = []
        row = 0
        for running in self.running:
            if running is not entry:
                sources.extend(range(row, row + running[2].rows))
            row += running[2].rows
        self.running.remove(entry)
        self.cache.keep(sources)
        self.pending.append(entry)

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


def _longest(stream: Stream) -> int:
    """The most tokens a stream's rows may hold: its prompt and every token it may write."""
    return len(stream.prompt_ids) + stream.limit


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
