"""Reading a data file as rows for a task: the first line of a CSV or TSV file names its columns;
a task's fields are found by name (``sentence``; ``premise`` and ``hypothesis``; ``question`` and
``context``) or by an alias (NSMC's ``document``); a ``label`` or ``gold_label`` column holds the
gold answer. Each data row becomes a :class:`~demo_app.files.formats.Row`; a row that cannot be
used says why (an empty field, a field or line that is too long, a line that is not text in the
file's encoding, a missing column). Blank lines are skipped. The bytes, encodings and offsets
are ``text_source.py``'s; a folder of input files (an image task's pictures) is a
:class:`FolderReader`.
"""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence

from ..tasks import TASKS, FieldError, Task
from ..tasks.fields import check_text, closest_name, is_valid_unicode
from .formats import MAX_LINE_BYTES, DataFileError, Row, file_format
from .json_array import json_array_items
from .text_source import TextSource


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
        self.name = Path(name).name
        self.task = task
        self.labels = tuple(labels)
        self.max_chars = max_chars
        self.max_columns = max_columns
        self.format = file_format(name, format)
        self.text = TextSource(stream, self.name)
        if format is None:
            self.format = self._corpus_format(self.text.head) or self.format
        self.columns: List[str] = []
        self.field_columns: Dict[str, str] = {}
        self.gold_column: Optional[str] = None

    @property
    def end_offset(self) -> int:
        """The byte offset just past the last row read (``--resume`` cuts an output there)."""
        return self.text.end_offset

    @property
    def last_row_complete(self) -> bool:
        """Whether the last row read ended with a newline."""
        return self.text.last_row_complete

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
        lines = self.text.lines()
        try:
            header = next(csv.reader(lines, delimiter=delimiter), None)
        except csv.Error as error:
            raise DataFileError(f"{self.name}'s header line cannot be read ({error})") from None
        if header is None or self.text.bad_lines.get(self.text.line_number):
            raise DataFileError(f"{self.name} has no header line naming its columns")
        self._use_columns([name.strip() for name in header])
        self.text.mark_row_end()
        csv.field_size_limit(MAX_LINE_BYTES)
        while True:
            reader = csv.reader(lines, delimiter=delimiter)
            previous_end = self.text.line_number
            try:
                for values in reader:
                    row = self._table_row(previous_end + 1, values)
                    previous_end = self.text.line_number
                    self.text.mark_row_end()
                    if row is not None:
                        yield row
                return
            except csv.Error as error:  # a broken quote: report it, go on at the next line
                self.text.mark_row_end()
                yield Row(self.text.line_number, {}, problem=f"line {self.text.line_number}: {error}")

    def _table_row(self, line: int, values: List[str]) -> Optional[Row]:
        if line in self.text.bad_lines:
            return Row(line, {}, problem=self.text.bad_lines.pop(line))
        if not values or (len(values) == 1 and not values[0].strip()):
            return None  # a blank line
        if len(values) != len(self.columns):
            return Row(line, dict(zip(self.columns, values)),
                       problem=f"line {line} has {len(values)} columns; the header has {len(self.columns)}")
        return self._row(line, dict(zip(self.columns, values)))

    def _jsonl_rows(self) -> Iterator[Row]:
        for text in self.text.lines():
            line = self.text.line_number
            if line in self.text.bad_lines:
                self.text.mark_row_end()
                yield Row(line, {}, problem=self.text.bad_lines.pop(line))
                continue
            if not text.strip():
                self.text.mark_row_end()
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
            self.text.mark_row_end()
            yield (Row(line, values if isinstance(values, dict) else {}, problem=problem) if problem
                   else self._row(line, values))

    def _corpus_rows(self) -> Iterator[Row]:
        """A file in the book's corpus format of the task (NER's corpus, KorQuAD), read by it."""
        text = self.text.text_stream()
        try:
            for index, values in enumerate(self.task.data.read_training_data(text), start=1):
                if not self.columns:
                    self._use_columns(list(values))
                yield self._row(index, values)
        except (ValueError, UnicodeDecodeError) as error:
            raise DataFileError(f"{self.name}: {error}") from None
        finally:  # the file stays open for the job; it is closed already when the reader stopped early
            if not text.closed:
                text.detach()
        if not self.columns:
            raise DataFileError(f"{self.name} holds no {self.task.data.training_format} examples")

    def _corpus_format(self, head: bytes) -> Optional[str]:
        """The book's corpus format the file whose first bytes are ``head`` is in, when it is one
        (and, for another task's, a DataFileError naming that task)."""
        text = head[:4096].decode(self.text.encoding, "replace")
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
        for index, values in enumerate(json_array_items(self.text.chunks(), self.name), start=1):
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

    # -- one row ----------------------------------------------------------------------------

    def _use_columns(self, columns: List[str]) -> None:
        if self.max_columns and len(columns) > self.max_columns:
            raise DataFileError(f"{self.name} has {len(columns)} columns; the limit is {self.max_columns} "
                                "(max_file_columns): keep the task's columns and a label")
        self.columns = columns
        self._check_setting_columns(columns)
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

    def _check_setting_columns(self, columns: List[str]) -> None:
        """A column named like one of the task's settings but not quite (``topk``) would be
        carried through as an extra column and its values never used: an error instead."""
        settings = self.task.inputs.option_names
        for column in columns:
            close = closest_name(column, settings) if column not in settings else None
            if close and column.lower() not in self.task.inputs.fields:
                raise DataFileError(f'{self.name}: the column "{column[:60]}" is not a setting: did you mean '
                                    f'"{close}"? Rename it (the settings: {", ".join(settings)})')

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
                    if isinstance(gold, str):  # a NER labelled text of this sentence, a QA answer in its context
                        fields = {field: values.get(column) for field, column in self.field_columns.items()}
                        self.task.data.check_correction(gold, fields, self.labels)
                except ValueError as error:
                    return Row(line, values, problem=f"line {line}: {error}")
        return row


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


__all__ = ["FolderReader", "RowReader"]
