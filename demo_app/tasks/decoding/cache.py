"""The key/value cache of every row being written, as one batch the model reads in one pass.

Each row (a visitor's text, or one beam of a beam search) has its own length. The rows are kept
right-aligned to one common length, padded on the left, with an attention mask that hides the
padding and position ids that count each row's own tokens; this is how transformers' ``generate``
writes a batch of prompts of different lengths. The tensors are copied only when the rows change
(a text joins, ends, or a beam search reorders its beams), not at every step, and leading
columns that are padding in every row are cut off then, so a long text that ended frees its
length at once.

Why not paged or per-row caches (vLLM's PagedAttention): they need attention kernels of their
own; transformers' GPT-2 reads one dense cache, and on this CPU a step is bound by reading the
weights, not the cache.

transformers changed the cache's form: a tuple of ``(key, value)`` per layer (4.36, GPT-2), then
``DynamicCache`` (its ``key_cache`` lists, later its ``layers``). ``layers_of`` and ``cache_like``
read and write each form; the rest works on plain tensors.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import torch

Layer = Tuple[torch.Tensor, torch.Tensor]  # keys, values: [rows, heads, length, head size]


def layers_of(cache: Any) -> List[Layer]:
    """The ``(keys, values)`` of each layer of a model's cache, whatever its form."""
    if isinstance(cache, (tuple, list)):
        return [(layer[0], layer[1]) for layer in cache]
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


def cache_like(layers: List[Layer], template: Any) -> Any:
    """``layers`` in the form of the model's own cache ``template``."""
    if isinstance(template, (tuple, list)):
        return tuple(layers)
    kind = type(template)
    if hasattr(kind, "from_legacy_cache"):
        return kind.from_legacy_cache(tuple(layers))
    return kind(layers)


class CacheRows:
    """The rows' key/value cache, attention mask and lengths (their own tokens so far)."""

    def __init__(self) -> None:
        self.layers: List[Layer] = []
        self.mask: Optional[torch.Tensor] = None  # [rows, columns]: 1 for a row's own token
        self.lengths: List[int] = []
        self._cache: Any = None  # the model's own cache object, rebuilt when the rows change
        self._template: Any = None

    @property
    def rows(self) -> int:
        return len(self.lengths)

    @property
    def columns(self) -> int:
        return 0 if self.mask is None else self.mask.shape[1]

    def model_cache(self) -> Any:
        """The cache to give the model for the next step."""
        if self._cache is None:
            self._cache = cache_like(self.layers, self._template)
        return self._cache

    def step_inputs(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The attention mask (with a column for the new token) and the new token's positions."""
        assert self.mask is not None
        mask = torch.cat([self.mask, self.mask.new_ones((self.rows, 1))], dim=1)
        positions = torch.tensor(self.lengths, device=mask.device).unsqueeze(1)
        return mask, positions

    def stepped(self, cache: Any, mask: torch.Tensor) -> None:
        """After a step: the model's grown cache and the mask it was given."""
        self._cache, self.mask = cache, mask
        self.layers = layers_of(cache)
        self.lengths = [length + 1 for length in self.lengths]

    def add(self, cache: Any, length: int, copies: int = 1, order: Optional[Sequence[int]] = None) -> None:
        """Append rows just read (a model's cache of rows of ``length`` columns each), each
        ``copies`` times (a beam search's beams start alike), or taken in ``order`` (a beam
        search that reordered its beams as it read them)."""
        layers = layers_of(cache)
        if order is not None and list(order) != list(range(len(order))):
            index = torch.tensor(list(order), device=layers[0][0].device)
            layers = [(keys.index_select(0, index), values.index_select(0, index)) for keys, values in layers]
        if copies > 1:
            layers = [(keys.expand(copies, -1, -1, -1), values.expand(copies, -1, -1, -1)) for keys, values in layers]
        rows = layers[0][0].shape[0]
        mask = torch.ones((rows, length), dtype=torch.long, device=layers[0][0].device)
        if not self.lengths:
            self.layers, self.mask, self._template = [(k.clone(), v.clone()) for k, v in layers], mask, cache
        else:
            width = max(self.columns, length)
            self.layers = [(torch.cat([_left_pad(k, width), _left_pad(new_k, width)]),
                            torch.cat([_left_pad(v, width), _left_pad(new_v, width)]))
                           for (k, v), (new_k, new_v) in zip(self.layers, layers)]
            assert self.mask is not None
            self.mask = torch.cat([_left_pad(self.mask, width), _left_pad(mask, width)])
        self.lengths.extend([length] * rows)
        self._cache = None

    def keep(self, sources: Sequence[int]) -> None:
        """Keep the rows ``sources`` (indices of the current rows, in their new order; a beam may
        appear twice), and cut the columns that are padding in all of them."""
        if list(sources) == list(range(self.rows)):
            return
        self.lengths = [self.lengths[source] for source in sources]
        if not sources:
            self.layers, self.mask, self._cache = [], None, None
            return
        assert self.mask is not None
        index = torch.tensor(list(sources), device=self.mask.device)
        cut = self.columns - max(self.lengths)  # leading columns no kept row uses
        self.layers = [(keys.index_select(0, index)[:, :, cut:], values.index_select(0, index)[:, :, cut:])
                       for keys, values in self.layers]
        self.mask = self.mask.index_select(0, index)[:, cut:]
        self._cache = None


def _left_pad(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """``tensor`` with zero columns on the left up to ``width`` (its length: dim 2 of a cache
    layer, dim 1 of a mask)."""
    dim = 2 if tensor.dim() == 4 else 1
    missing = width - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


__all__ = ["CacheRows", "cache_like", "layers_of"]
