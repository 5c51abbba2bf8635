"""A data file's bytes as text: its encoding sniffed (UTF-8, a BOM allowed, or CP949, Korean
Excel's default), its lines decoded one at a time with the byte offset of each row's end kept,
so that memory stays constant however large the file and ``--resume`` can cut a half-written
output back to its last whole row. A line that is too long or does not decode is recorded as a
bad line (its row reports it) and never held in memory.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from typing import IO, Dict, Iterator, cast

from .formats import MAX_LINE_BYTES, DataFileError

_SNIFF_BYTES = 64 * 1024
_CHUNK_BYTES = 64 * 1024


class TextSource:
    """The text of a binary ``stream`` (``name``: how messages call the file).

    ``head`` is its first bytes (read without consuming them); ``bad_lines`` maps line numbers to
    why they cannot be read; ``end_offset`` is the byte offset just past the last row marked
    (``mark_row_end``) and ``last_row_complete`` whether that row ended with a newline."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self.stream = stream
        self.name = name
        self.head = self._head()
        self.encoding = self._sniff_encoding(self.head)
        self.line_number = 0
        self.bad_lines: Dict[int, str] = {}
        self.end_offset = 0
        self.last_row_complete = True
        self._offset = 0
        self._line_ended = True

    def lines(self) -> Iterator[str]:
        """Decoded lines, line endings kept; a line that is too long or does not decode is
        recorded in ``bad_lines`` and stands as an empty line."""
        first = True
        while True:
            raw = self.stream.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            self.line_number += 1
            self._offset += len(raw)
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                self._offset += self._skip_to_line_end()
                self.bad_lines[self.line_number] = f"line {self.line_number} is longer than {MAX_LINE_BYTES} bytes"
                self._line_ended = True
                yield "\n"
                continue
            self._line_ended = raw.endswith(b"\n")
            if first and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            first = False
            try:
                yield raw.decode(self.encoding)
            except UnicodeDecodeError:
                self.bad_lines[self.line_number] = (
                    f"line {self.line_number} is not {self.encoding.upper()} text; save the file as UTF-8")
                yield "\n"

    def chunks(self) -> Iterator[str]:
        """The text in pieces of any length (for a JSON array, whose items span lines)."""
        decoder = codecs.getincrementaldecoder(self.python_encoding)()
        while True:
            raw = self.stream.read(_CHUNK_BYTES)
            self._offset += len(raw)
            self.end_offset = self._offset
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError:
                raise DataFileError(f"{self.name} is not {self.encoding.upper()} text; save it as UTF-8") from None
            if text:
                yield text
            if not raw:
                return

    def text_stream(self) -> io.TextIOWrapper:
        """The whole text as a file (for a book corpus, which its task reads); ``detach()`` it
        after use, so that the binary stream stays open."""
        return io.TextIOWrapper(cast(io.BufferedReader, self.stream), encoding=self.python_encoding, newline="")

    @property
    def python_encoding(self) -> str:
        return "utf-8-sig" if self.encoding == "utf-8" else self.encoding  # a BOM is fine

    def mark_row_end(self) -> None:
        """The row read last ends here (for ``end_offset`` and ``last_row_complete``)."""
        self.end_offset = self._offset
        self.last_row_complete = self._line_ended

    def _sniff_encoding(self, head: bytes) -> str:
        if b"\x00" in head[:8192]:
            raise DataFileError(f"{self.name} is not a text file (it holds NUL bytes); send CSV, TSV "
                                "or JSONL text")
        if b"\r" in head and b"\n" not in head and len(head.split(b"\r")) > 2:
            raise DataFileError(f"{self.name} ends its lines with CR only (old Mac style); save it "
                                "with Windows or Unix line endings")
        if not _decodes(head, "utf-8") and _decodes(head, "cp949"):
            return "cp949"
        return "utf-8"

    def _head(self) -> bytes:
        """The first bytes of the file (up to 64 KiB), without consuming them."""
        if self.stream.seekable():
            start = self.stream.tell()
            head = self.stream.read(_SNIFF_BYTES)
            self.stream.seek(start)
            return head
        peek = getattr(self.stream, "peek", None)
        return peek(_SNIFF_BYTES)[:_SNIFF_BYTES] if peek is not None else b""

    def _skip_to_line_end(self) -> int:
        skipped = 0
        while True:
            chunk = self.stream.readline(MAX_LINE_BYTES)
            skipped += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                return skipped


def _decodes(head: bytes, encoding: str) -> bool:
    """Whether ``head`` is text in ``encoding``; a character cut at the sample's end is fine."""
    try:
        head.decode(encoding)
    except UnicodeDecodeError as error:
        return error.start >= len(head) - 3
    return True


def count_lines(path: Path) -> int:
    """Lines in the file, a last one without a newline included (a fast estimate of its rows,
    for progress and limits)."""
    count, last = 0, b"\n"
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def buffered(stream: IO[bytes]) -> io.BufferedReader:
    """``stream`` with ``peek`` (for the encoding sniff), wrapping it if it has none."""
    return cast(io.BufferedReader, stream) if hasattr(stream, "peek") else io.BufferedReader(stream)  # type: ignore[arg-type]


__all__ = ["TextSource", "buffered", "count_lines"]
