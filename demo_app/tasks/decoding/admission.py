"""Which waiting text joins the batch next, and whose texts step aside to make room for it.

The rows of the batch are shared between the visitors with texts to write (a visitor is a
``group``: the address that asks). A text joins if it fits (``max_rows`` rows, and the cache
priced at the longest text's length for every row within ``max_cache_bytes``); visitors holding
the fewest rows come first, then texts in the order they came, and a text that cannot join does
not block the next one. When the rows are full, a visitor holding less than a fair share (the
rows over the visitors) still joins at once: texts of visitors holding more than their share
step aside, the shortest first (the cheapest to read again when they rejoin).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Hashable, List, Optional, Sequence, Tuple

from .streams import Stream

Entry = Tuple[Hashable, int, Stream]  # a text: whose, which of their items, its stream


class FairAdmission:
    def __init__(self, max_rows: int, max_cache_bytes: int, token_bytes: int) -> None:
        self.max_rows, self.max_cache_bytes, self.token_bytes = max_rows, max_cache_bytes, token_bytes

    def next(self, pending: Sequence[Entry], running: Sequence[Entry],
             group_of: Callable[[Entry], str]) -> Tuple[Optional[Entry], List[Entry]]:
        """The pending text to join next (None: none can), and the running texts that must
        step aside first."""
        held: Counter = Counter()
        for entry in running:
            held[group_of(entry)] += entry[2].rows
        groups = {group_of(entry) for entry in [*pending, *running]}
        share = max(1, self.max_rows // max(1, len(groups)))
        for entry in sorted(pending, key=lambda candidate: held[group_of(candidate)]):
            if self.fits(entry[2], running):
                return entry, []
            if held[group_of(entry)] + entry[2].rows <= share:
                aside = self._room(entry, running, held, share, group_of)
                if aside is not None:
                    return entry, aside
        return None, []

    def fits(self, stream: Stream, running: Sequence[Entry]) -> bool:
        """Whether ``stream`` fits beside ``running``: rows, and the cache at its longest."""
        rows = stream.rows + sum(entry[2].rows for entry in running)
        longest = max(_longest(other) for other in [stream, *(entry[2] for entry in running)])
        return rows <= self.max_rows and rows * longest * self.token_bytes <= self.max_cache_bytes

    def _room(self, entry: Entry, running: Sequence[Entry], held: Counter, share: int,
              group_of: Callable[[Entry], str]) -> Optional[List[Entry]]:
        """The running texts of over-share visitors whose stepping aside lets ``entry`` fit, or
        None if theirs are not enough."""
        left = Counter(held)
        aside: List[Entry] = []
        staying = list(running)
        for candidate in sorted(running, key=lambda other: len(other[2].context()[0])):
            if self.fits(entry[2], staying):
                return aside
            if left[group_of(candidate)] > share:
                aside.append(candidate)
                staying.remove(candidate)
                left[group_of(candidate)] -= candidate[2].rows
        return aside if self.fits(entry[2], staying) else None


def _longest(stream: Stream) -> int:
    """The most tokens a stream's rows may hold: its prompt and every token it may write."""
    return len(stream.prompt_ids) + stream.limit


__all__ = ["Entry", "FairAdmission"]
