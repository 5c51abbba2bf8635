"""Generation's decoding: the texts being written, stepped together (``decoder.py``), each
text's choice of its next token (``streams.py``) and the rows' key/value cache (``cache.py``)."""

from .decoder import MAX_CACHE_BYTES, BatchedDecoder, StepOutcome

__all__ = ["BatchedDecoder", "MAX_CACHE_BYTES", "StepOutcome"]
