"""The items of a JSON array read one at a time from text in pieces, so that a large JSON data
file is never held in memory whole: each item is decoded by the standard library's
``json.JSONDecoder.raw_decode`` as soon as it is complete, and an item may be at most
``MAX_LINE_BYTES`` long.

Why not ijson: its ``items()`` builds each item whole whatever its size, so the per-item bound
would need its event API and byte counting around it, and it adds a compiled dependency to
every student's install; the standard library's decoder does the parsing here, and this module
only finds where items start and end.
"""

from __future__ import annotations

import json
from typing import Iterator

from .formats import MAX_LINE_BYTES, DataFileError


def json_array_items(chunks: Iterator[str], name: str) -> Iterator[object]:
    """The items of the JSON array that ``chunks`` spell, decoded one at a time."""
    decoder = json.JSONDecoder()
    buffer, position, ended = "", 0, False

    def read_more() -> bool:
        nonlocal buffer, position, ended
        chunk = next(chunks, None)
        if chunk is None:
            ended = True
            return False
        buffer, position = buffer[position:] + chunk, 0
        return True

    def next_char() -> str:
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n":
                position += 1
            if position < len(buffer) or not read_more():
                return buffer[position] if position < len(buffer) else ""

    if next_char() != "[":
        raise DataFileError(f"{name} must hold a JSON list of objects, one per row")
    position += 1
    if next_char() == "]":
        return
    while True:
        next_char()
        try:
            value, end = decoder.raw_decode(buffer, position)
            if end == len(buffer) and not ended:  # a number or the like may go on in the next chunk
                raise json.JSONDecodeError("incomplete", buffer, end)
        except json.JSONDecodeError as error:
            if len(buffer) - position > MAX_LINE_BYTES:
                raise DataFileError(f"{name} has an item longer than {MAX_LINE_BYTES} bytes") from None
            if read_more():
                continue
            what = "ends in the middle of an item" if error.pos >= len(buffer) else f"is not valid JSON ({error.msg})"
            raise DataFileError(f"{name} {what}") from None
        except RecursionError:
            raise DataFileError(f"{name} is JSON nested too deeply") from None
        position = end
        yield value
        separator = next_char()
        position += 1
        if separator == "]":
            return
        if separator != ",":
            raise DataFileError(f"{name} is not a JSON file (expected ',' or ']' after an item)")


__all__ = ["json_array_items"]
