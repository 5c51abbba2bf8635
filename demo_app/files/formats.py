"""Data files in and out: CSV, TSV (NSMC's layout), JSONL and JSON arrays, read as a stream.

Reading. The first line of a CSV or TSV file names its columns. A task's fields are found by
name (``sentence``; ``premise`` and ``hypothesis``; ``question`` and ``context``) or by an alias
(NSMC's ``document``); a ``label`` or ``gold_label`` column holds the gold answer. Each data row
becomes a :class:`Row`: its line number, its values as read, the task's input, and for a row
that cannot be used, the problem (an empty field, a field or line that is too long, a line that
is not text in the file's encoding, a missing column). Blank lines are skipped. Lines longer than
``MAX_LINE_BYTES`` are reported without being held in memory, so memory stays constant however
large the file. The encoding is UTF-8 (a BOM is fine); a file that is not UTF-8 but reads as
CP949 (Korean Excel's default) is read as CP949.

Writing. :class:`RowWriter` writes the input row's columns, then the task's result columns, then
``error`` (empty, or why the row has no prediction), so rows in = rows out.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import itertools
import json
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple, cast

from ..tasks import TASKS, FieldError, Task, training_formats
from ..tasks.fields import check_text, is_valid_unicode

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "json"}
TABLE_FILE_FORMATS = ("csv", "tsv", "jsonl", "json")  # the book's corpus formats come from the tasks
MAX_LINE_BYTES = 1 << 20  # a longer line is a bad row, skipped without being kept in memory
ERROR_COLUMN = "error"
_SNIFF_BYTES = 64 * 1024
_JSON_CHUNK_BYTES = 64 * 1024


class DataFileError(ValueError):
    """The file as a whole cannot be read (its format, its columns); the message says what to fix."""


@dataclasses.dataclass
class Row:
    """One data row. ``line`` is where it starts in the file (its item number in a JSON array);
    ``values`` are its columns as read; ``item`` the task's input (None for a bad row);
    ``gold`` the label its gold column names; ``problem`` why it cannot be used, if it cannot."""

    line: int
    values: Dict[str, Any]
    item: object = None
    gold: Optional[str] = None
    problem: Optional[str] = None


def input_formats() -> Tuple[str, ...]:
    """The formats a data file can be read in: tables, and the book's training corpora."""
    return TABLE_FILE_FORMATS + tuple(training_formats())


def output_format_for(input_format: str) -> str:
    """The format results are written in for an input in ``input_format``: CSV and TSV as they
    came, anything else (JSON, a corpus file) as JSONL."""
    return input_format if input_format in ("csv", "tsv") else "jsonl"


def file_format(name: str, requested: Optional[str] = None) -> str:
    """``csv``, ``tsv``, ``jsonl`` or ``json`` (or a task's corpus format, when ``requested``),
    from ``requested`` or the file name's extension."""
    if requested:
        known = input_formats()
        if requested not in known:
            raise DataFileError(f"unknown file format {requested!r}; choose {', '.join(known)}")
        return requested
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise DataFileError(f"cannot tell the format of {Path(name).name!r} from its extension; "
                            "use .csv, .tsv (or NSMC's .txt), .jsonl or .json")
    return FORMATS[suffix]


class RowReader:
    """Iterates over the :class:`Row` s of a data file opened in binary mode.

    ``labels`` are the model's classes (to read the gold column); ``max_chars`` the longest
    field in characters (the task's own limits win). After iterating, ``end_offset`` is the byte
    offset just past the last row read and ``last_row_complete`` whether that row ended with a
    newline: ``--resume`` uses them to cut a half-written output back to its last whole row.
    """

    def __init__(self, stream: IO[bytes], name: str, task: Task, labels: Sequence[str] = (),
                 max_chars: int = 2000, format: Optional[str] = None,
                 max_columns: Optional[int] = None) -> None:
        self.stream = stream
        self.name = Path(name).name
        self.task = task
        self.labels = tuple(labels)
        self.max_chars = max_chars
        self.max_columns = max_columns
        self.format = file_format(name, format)
        head = self._head()
        self.encoding = self._sniff_encoding(head)
        if format is None:
            self.format = self._corpus_format(head) or self.format
        self.columns: List[str] = []
        self.field_columns: Dict[str, str] = {}
        self.gold_column: Optional[str] = None
        self.end_offset = 0
        self.last_row_complete = True
        self._offset = 0
        self._line_number = 0
        self._line_ended = True
        self._bad_lines: Dict[int, str] = {}

    def start(self) -> Iterator[Row]:
        """The rows, with the header already read (so ``columns`` is known); raises
        :class:`DataFileError` at once for a file that cannot be read at all."""
        rows = iter(self)
        first = next(rows, None)
        return rows if first is None else itertools.chain([first], rows)

    def __iter__(self) -> Iterator[Row]:
        if self.format == self.task.data.training_format:
            yield from self._corpus_rows()
        elif self.format == "json":
            yield from self._json_rows()
        elif self.format == "jsonl":
            yield from self._jsonl_rows()
        else:
            yield from self._table_rows("\t" if self.format == "tsv" else ",")

    # -- the formats ----------------------------------------------------------------------

    def _table_rows(self, delimiter: str) -> Iterator[Row]:
        lines = self._text_lines()
        try:
            header = next(csv.reader(lines, delimiter=delimiter), None)
        except csv.Error as error:
            raise DataFileError(f"{self.name}'s header line cannot be read ({error})") from None
        if header is None or self._bad_lines.get(self._line_number):
            raise DataFileError(f"{self.name} has no header line naming its columns")
        self._use_columns([name.strip() for name in header])
        self._mark_row_end()
        csv.field_size_limit(MAX_LINE_BYTES)
        while True:
            reader = csv.reader(lines, delimiter=delimiter)
            previous_end = self._line_number
            try:
                for values in reader:
                    row = self._table_row(previous_end + 1, values)
                    previous_end = self._line_number
                    self._mark_row_end()
                    if row is not None:
                        yield row
                return
            except csv.Error as error:  # a broken quote: report it, go on at the next line
                self._mark_row_end()
                yield Row(self._line_number, {}, problem=f"line {self._line_number}: {error}")

    def _table_row(self, line: int, values: List[str]) -> Optional[Row]:
        if line in self._bad_lines:
            return Row(line, {}, problem=self._bad_lines.pop(line))
        if not values or (len(values) == 1 and not values[0].strip()):
            return None  # a blank line
        if len(values) != len(self.columns):
            return Row(line, dict(zip(self.columns, values)),
                       problem=f"line {line} has {len(values)} columns; the header has {len(self.columns)}")
        return self._row(line, dict(zip(self.columns, values)))

    def _jsonl_rows(self) -> Iterator[Row]:
        for text in self._text_lines():
            line = self._line_number
            if line in self._bad_lines:
                self._mark_row_end()
                yield Row(line, {}, problem=self._bad_lines.pop(line))
                continue
            if not text.strip():
                self._mark_row_end()
                continue
            try:
                values = json.loads(text)
            except ValueError as error:
                values, problem = {}, f"line {line} is not valid JSON ({getattr(error, 'msg', error)})"
            except RecursionError:
                values, problem = {}, f"line {line} is JSON nested too deeply"
            else:
                problem = None if isinstance(values, dict) else f"line {line} is not a JSON object"  # type: ignore[assignment]
            if problem is None and self.max_columns and len(values) > self.max_columns:
                values, problem = {}, (f"line {line} has {len(values)} fields; the limit is "
                                       f"{self.max_columns} (max_file_columns)")
            if not self.columns and problem is None:
                self._use_columns(list(values))
            self._mark_row_end()
            yield (Row(line, values if isinstance(values, dict) else {}, problem=problem) if problem
                   else self._row(line, values))

    def _corpus_rows(self) -> Iterator[Row]:
        """A file in the book's corpus format of the task (NER's corpus, KorQuAD), read by it."""
        text = io.TextIOWrapper(self.stream, encoding="utf-8-sig" if self.encoding == "utf-8" else self.encoding,
                                newline="")
        try:
            for index, values in enumerate(self.task.data.read_training_data(text), start=1):
                if not self.columns:
                    self._use_columns(list(values))
                yield self._row(index, values)
        except (ValueError, UnicodeDecodeError) as error:
            raise DataFileError(f"{self.name}: {error}") from None
        finally:
            text.detach()
        if not self.columns:
            raise DataFileError(f"{self.name} holds no {self.task.data.training_format} examples")

    def _corpus_format(self, head: bytes) -> Optional[str]:
        """The book's corpus format the file whose first bytes are ``head`` is in, when it is one
        (and, for another task's, a DataFileError naming that task)."""
        text = head[:4096].decode(self.encoding, "replace")
        suffix = Path(self.name).suffix.lower()
        for task in TASKS.values():
            if task.data.training_format and task.data.is_training_file(text, suffix):
                if task is not self.task:
                    raise DataFileError(f"{self.name} is a {task.data.training_format} file, the {task.name} "
                                        f"task's corpus: predict it with --task {task.name}")
                return task.data.training_format
        return None

    def _json_rows(self) -> Iterator[Row]:
        """A JSON array of objects, read one item at a time (memory stays bounded: an item may
        be at most ``MAX_LINE_BYTES`` long)."""
        for index, values in enumerate(_json_array_items(self._text_chunks(), self.name), start=1):
            if not isinstance(values, dict):
                raise DataFileError(f"{self.name} must hold a JSON list of objects, one per row "
                                    f"(item {index} is not an object)")
            if self.max_columns and len(values) > self.max_columns:
                yield Row(index, {}, problem=f"item {index} has {len(values)} fields; the limit is "
                                             f"{self.max_columns} (max_file_columns)")
                continue
            if not self.columns:
                self._use_columns(list(values))
            yield self._row(index, values)
        if not self.columns:
            self._use_columns([])  # an empty list: says which columns were expected

    def _text_chunks(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8-sig" if self.encoding == "utf-8" else self.encoding)()
        while True:
            raw = self.stream.read(_JSON_CHUNK_BYTES)
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

    # -- one row ----------------------------------------------------------------------------

    def _use_columns(self, columns: List[str]) -> None:
        if self.max_columns and len(columns) > self.max_columns:
            raise DataFileError(f"{self.name} has {len(columns)} columns; the limit is {self.max_columns} "
                                "(max_file_columns): keep the task's columns and a label")
        self.columns = columns
        lowered = {column.lower(): column for column in columns}
        aliases = {alias: field for alias, field in self.task.data.column_aliases.items()}
        for field in self.task.inputs.fields:
            names = [field] + [alias for alias, target in aliases.items() if target == field]
            found = next((lowered[name] for name in names if name in lowered), None)
            if found is None:
                also = f" (or {', '.join(repr(n) for n in names[1:])})" if len(names) > 1 else ""
                raise DataFileError(
                    f"{self.name} has the columns {', '.join(repr(c) for c in columns) or '(none)'}; "
                    f"the {self.task.name} task needs a {field!r} column{also}")
            self.field_columns[field] = found
        self.gold_column = next((lowered[name] for name in self.task.data.gold_columns if name in lowered), None)

    def _row(self, line: int, values: Dict[str, Any]) -> Row:
        for column, value in values.items():
            if isinstance(value, str) and not is_valid_unicode(value):
                return Row(line, values, problem=f"line {line}: {column!r} is not valid text")
        texts = []
        for field, column in self.field_columns.items():
            value = values.get(column)
            if value is None:
                return Row(line, values, problem=f"line {line} has no {column!r}")
            try:
                limit = self.task.inputs.max_chars(field, self.max_chars)
                texts.append(check_text(value, f"line {line}: {column!r}", limit))
            except FieldError as error:
                return Row(line, values, problem=str(error))
        try:
            row = Row(line, values, item=self.task.inputs.make_item(texts, values, f"line {line}"))
        except FieldError as error:
            return Row(line, values, problem=str(error))
        if self.gold_column is not None:
            gold = values.get(self.gold_column)
            if gold is not None and str(gold).strip():
                try:
                    row.gold = self.task.data.read_gold(gold, self.labels)
                except ValueError as error:
                    return Row(line, values, problem=f"line {line}: {error}")
        return row

    # -- lines ------------------------------------------------------------------------------

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
        return self.stream.peek(_SNIFF_BYTES)[:_SNIFF_BYTES] if hasattr(self.stream, "peek") else b""

    def _text_lines(self) -> Iterator[str]:
        """Decoded lines, line endings kept; a line that is too long or does not decode is
        recorded in ``_bad_lines`` and stands as an empty line."""
        first = True
        while True:
            raw = self.stream.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            self._line_number += 1
            self._offset += len(raw)
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                self._offset += self._skip_to_line_end()
                self._bad_lines[self._line_number] = (f"line {self._line_number} is longer than "
                                                      f"{MAX_LINE_BYTES} bytes")
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
                self._bad_lines[self._line_number] = (
                    f"line {self._line_number} is not {self.encoding.upper()} text; save the file "
                    "as UTF-8")
                yield "\n"

    def _skip_to_line_end(self) -> int:
        skipped = 0
        while True:
            chunk = self.stream.readline(MAX_LINE_BYTES)
            skipped += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                return skipped

    def _mark_row_end(self) -> None:
        self.end_offset = self._offset
        self.last_row_complete = self._line_ended


class FolderReader:
    """The input files in a folder (and its subfolders; an image task's pictures), in name order,
    as rows with a column named after the task's field (``image``: the path inside the folder).
    A subfolder named after a class is the gold ``label``, as in torchvision's ImageFolder layout
    (``cat/1.jpg``, ``dog/2.jpg``)."""

    format = "csv"

    def __init__(self, directory: Path, task: Task, labels: Sequence[str] = ()) -> None:
        self.directory = Path(directory)
        self.task = task
        self.labels = tuple(labels)
        self.max_chars = 0
        self.column = task.inputs.fields[0]  # "image"
        suffixes = task.inputs.file_suffixes
        self.files = sorted(p for p in self.directory.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        if not self.files:
            raise DataFileError(f"{self.directory} holds no {self.column} files ({', '.join(suffixes)})")
        self.nested = any(p.parent != self.directory for p in self.files)
        self.columns = [self.column, "label"] if self.nested else [self.column]
        self.field_columns = {self.column: self.column}

    def start(self) -> Iterator[Row]:
        for number, path in enumerate(self.files, start=1):
            name = path.relative_to(self.directory).as_posix()
            row = Row(number, {self.column: name}, item=name)
            if self.nested:
                folder = path.parent.name if path.parent != self.directory else ""
                row.values["label"] = folder
                try:
                    row.gold = self.task.data.gold_label(folder, self.labels) if folder else None
                except ValueError:
                    pass  # a folder that is not named after a class: no gold label
            yield row


def _json_array_items(chunks: Iterator[str], name: str) -> Iterator[object]:
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


def _decodes(head: bytes, encoding: str) -> bool:
    """Whether ``head`` is text in ``encoding``; a character cut at the sample's end is fine."""
    try:
        head.decode(encoding)
    except UnicodeDecodeError as error:
        return error.start >= len(head) - 3
    return True


def safe_text(value: object) -> object:
    """``value`` with any lone surrogate (from a JSON escape such as \\ud800) replaced, so
    that the row can be written as UTF-8."""
    if isinstance(value, str) and not is_valid_unicode(value):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


class RowWriter:
    """Writes output rows: the input's columns, then ``result_columns``, then ``error``."""

    def __init__(self, stream: IO[str], format: str, input_columns: Sequence[str],
                 result_columns: Sequence[str], write_header: bool = True) -> None:
        self.stream = stream
        self.format = output_format_for(format)
        self.columns = [*input_columns, *[c for c in result_columns if c not in input_columns]]
        if ERROR_COLUMN not in self.columns:
            self.columns.append(ERROR_COLUMN)
        self._csv = None
        if self.format in ("csv", "tsv"):
            self._csv = csv.writer(stream, delimiter="\t" if self.format == "tsv" else ",",
                                   lineterminator="\n")
            if write_header:
                self._csv.writerow(self.columns)

    def write(self, row: Row, result_columns: Optional[Dict[str, Any]]) -> None:
        values = {key: safe_text(value) for key, value in row.values.items()}
        if self._csv is not None:  # a list (KorQuAD's answers) or an object in a cell: as JSON
            values = {key: json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value
                      for key, value in values.items()}
        values.update(result_columns or {})
        values[ERROR_COLUMN] = row.problem or ""
        if self._csv is not None:
            self._csv.writerow(["" if values.get(c) is None else values.get(c) for c in self.columns])
        else:
            self.stream.write(json.dumps({c: values.get(c) for c in self.columns}, ensure_ascii=False) + "\n")


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


__all__ = ["DataFileError", "FolderReader", "Row", "RowReader", "RowWriter", "file_format", "count_lines", "buffered",
           "ERROR_COLUMN", "MAX_LINE_BYTES"]

