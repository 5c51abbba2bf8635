"""A predictor over a whole data file: rows in, rows with predictions out, written as they are done.

    from demo_app import load_predictor, predict_file
    report = predict_file(load_predictor(), "ratings_test.txt", "predictions.tsv")
    print(report.summary.format())   # when the file has a gold label column

Rows are read, predicted and written a chunk at a time (memory stays constant whatever the
file's size), so a run that is stopped keeps every row it finished; ``resume=True`` continues a
partial output instead of starting again. A bad row (see ``formats.py``) is written with its
``error`` and no prediction and reported with its line number (``on_bad_row="skip"``), or stops
the run (``on_bad_row="fail"``) after the rows before it are written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from .formats import DataFileError, Row, file_format, output_format_for
from .reading import FolderReader, RowReader
from .text_source import buffered, count_lines
from .writing import RowWriter

CHUNK_ROWS = 256  # rows predicted together: big enough to keep the batches full
MAX_PROBLEMS_KEPT = 1000  # the report keeps this many messages; all are counted
MAX_PROBLEM_CHARS = 500  # of each message (a bad cell can be a megabyte long)
ON_BAD_ROW = ("skip", "fail")


class BadRowError(ValueError):
    """A bad row met with ``on_bad_row="fail"``; the rows before it are written."""


@dataclasses.dataclass
class FileReport:
    """What a run did. ``rows`` counts every data row in the output (``resumed`` of them were
    there before this run); ``skipped`` the bad rows; ``summary`` compares predictions with a
    gold label column, when the file has one."""

    rows: int = 0
    predicted: int = 0
    skipped: int = 0
    resumed: int = 0
    problems: List[str] = dataclasses.field(default_factory=list)
    summary: Optional[Any] = None  # the task's scorer (tasks/scoring.py): accuracy, entity F1, EM/F1
    cancelled: bool = False

    @classmethod
    def for_predictor(cls, predictor) -> "FileReport":
        """An empty report, with the task's scorer for the gold column (when it has one)."""
        return cls(summary=predictor.task.data.scorer(predictor.labels))

    def note_problem(self, message: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(message if len(message) <= MAX_PROBLEM_CHARS else message[:MAX_PROBLEM_CHARS] + "…")

    def count(self, row: Row, columns: Optional[Dict[str, Any]]) -> None:
        self.rows += 1
        if columns is None:
            self.note_problem(row.problem or f"line {row.line}: no prediction")
            return
        self.predicted += 1
        if self.summary is not None and row.gold is not None:
            self.summary.add(row.gold, columns)

    def to_dict(self) -> Dict[str, Any]:
        return {"rows": self.rows, "predicted": self.predicted, "skipped": self.skipped,
                "resumed": self.resumed, "problems": self.problems, "cancelled": self.cancelled,
                "summary": self.summary.to_dict() if self.summary and self.summary.total else None}


def predict_rows(predictor, rows: Iterable[Row], *, on_bad_row: str = "skip",
                 chunk_rows: int = CHUNK_ROWS, cancelled: Callable[[], bool] = lambda: False,
                 predict_options: Optional[Dict[str, Any]] = None,
                 ) -> Iterator[Tuple[Row, Optional[Dict[str, Any]]]]:
    """``(row, result)`` for every row, in order: ``result`` is the task's dict (as the API
    returns it), None for a bad row. ``predict_options`` go to ``predictor.predict`` (who asks,
    background work). Raises :class:`BadRowError` at a bad row when ``on_bad_row="fail"``."""
    options = predict_options or {}
    if on_bad_row not in ON_BAD_ROW:
        raise ValueError(f"on_bad_row must be one of {ON_BAD_ROW}, got {on_bad_row!r}")
    chunk: List[Row] = []
    for row in rows:
        if row.problem is not None and on_bad_row == "fail":
            yield from _predict_chunk(predictor, chunk, options)
            raise BadRowError(f"{row.problem} (on_bad_row='fail' stops here; the rows before it "
                              "are written)")
        chunk.append(row)
        if len(chunk) >= chunk_rows:
            yield from _predict_chunk(predictor, chunk, options)
            chunk = []
            if cancelled():
                return
    yield from _predict_chunk(predictor, chunk, options)


def write_predictions(predictor, rows: Iterable[Row], writer: RowWriter, report: FileReport,
                      **options) -> Iterator[Tuple[Row, Optional[Dict[str, Any]], Optional[Dict[str, Any]]]]:
    """:func:`predict_rows` (``options`` are its own), each row written with its result
    columns and counted in ``report``; yields ``(row, result, columns)`` for what callers add
    (a progress bar, a preview, the history)."""
    for row, result in predict_rows(predictor, rows, **options):
        columns = None if result is None else predictor.task.data.result_columns(result)
        writer.write(row, columns)
        report.count(row, columns)
        yield row, result, columns


def _predict_chunk(predictor, rows: List[Row], options: Dict[str, Any]):
    good = [row for row in rows if row.problem is None]
    results: Dict[int, object] = {}
    if good:
        try:
            results = dict(zip(map(id, good), predictor.predict([row.item for row in good], **options)))
        except (TypeError, ValueError):  # one input the model cannot take: find it, keep the rest
            for row in good:
                try:
                    results[id(row)] = predictor.predict([row.item], **options)[0]
                except (TypeError, ValueError) as error:
                    row.problem = f"line {row.line}: {error}"
    for row in rows:
        result = results.get(id(row))
        yield row, None if result is None else predictor.task.pipeline.to_dict(result)


def predict_file(predictor, input_path, output_path=None, *, on_bad_row: str = "skip",
                 resume: bool = False, progress: bool = True, input_format: Optional[str] = None,
                 max_chars: int = 2000, report_problem: Optional[Callable[[str], None]] = None,
                 ) -> FileReport:
    """Predict every row of ``input_path`` and write the rows with their predictions to
    ``output_path`` (None: standard output), in the input's format (a JSON array gives JSONL).

    ``resume=True`` continues an output that a stopped run left: its complete rows are kept, a
    half-written last row is cut, and prediction starts at the next input row. ``progress``
    shows a progress bar with rate and ETA (a widget in a notebook, where ipywidgets is
    installed). Each bad row's message goes to ``report_problem`` (default: standard error).
    """
    from tqdm.auto import tqdm

    input_path = Path(input_path)
    if not input_path.exists():
        raise FileNotFoundError(f"no such input file: {input_path}")
    if resume and output_path is None:
        raise ValueError("resume needs an output file to continue (--output)")
    task, labels = predictor.task, predictor.labels
    report = FileReport.for_predictor(predictor)
    with contextlib.ExitStack() as stack:
        reader: "FolderReader | RowReader"
        if input_path.is_dir():  # a folder of images (an image task)
            reader = FolderReader(input_path, task, labels)
            total = len(reader.files)
        else:
            raw_input = stack.enter_context(open(input_path, "rb"))
            reader = RowReader(buffered(raw_input), input_path.name, task, labels, max_chars, input_format)
            total = count_lines(input_path) - (1 if reader.format in ("csv", "tsv") else 0)  # the header
        rows = reader.start()
        result_columns = list(task.data.output_columns)
        output_format = (output_format_for(reader.format) if output_path is None
                         else _output_format(Path(output_path), reader.format))
        done, last_values = (_resume(Path(output_path), reader, output_format, result_columns, report)
                             if resume and isinstance(reader, RowReader) else (0, None))
        rows = _skip_rows(rows, done, last_values, input_path)
        if task.inputs.takes_files:  # a column that names files: read them beside the data file
            rows = _read_items(rows, task, input_path if input_path.is_dir() else input_path.parent)
        output = (stack.enter_context(open(output_path, "a" if done else "w", encoding="utf-8", newline=""))
                  if output_path is not None else sys.stdout)
        bar = stack.enter_context(tqdm(total=max(total, report.rows) if reader.format != "json" else None,
                                       initial=report.rows, unit=" rows", disable=not progress,
                                       file=sys.stderr, dynamic_ncols=True, mininterval=0.5))
        say = report_problem or (lambda message: bar.write(message, file=sys.stderr))
        try:
            writer = RowWriter(output, output_format, reader.columns, result_columns,
                               write_header=not done)
            for row, _, columns in write_predictions(predictor, rows, writer, report, on_bad_row=on_bad_row):
                if columns is None:
                    say(row.problem or f"line {row.line}: no prediction")
                bar.update(1)
                if report.rows % CHUNK_ROWS == 0:
                    output.flush()  # a stopped run keeps what it finished
        finally:
            output.flush()
    return report


def _read_items(rows: Iterator[Row], task, directory: Path) -> Iterator[Row]:
    """Rows whose input names a file (an image), with the file's contents as the input."""
    for row in rows:
        if row.problem is None:
            try:
                row.item = task.inputs.read_file_item(row.item, directory)
            except (OSError, ValueError) as error:
                row.problem = f"line {row.line}: {error}"
        yield row


def _output_format(path: Path, input_format: str) -> str:
    try:
        return file_format(path.name)
    except DataFileError:
        return output_format_for(input_format)


def _resume(output: Path, input_reader: RowReader, output_format: str, result_columns: List[str],
            report: FileReport) -> Tuple[int, Optional[Dict[str, str]]]:
    """Rows already in ``output``, counted into the report, and the input fields of the last of
    them; a half-written last row is cut. ``(0, None)`` when there is nothing to continue."""
    if not output.is_file() or output.stat().st_size == 0:
        return 0, None
    with open(output, "rb") as stream:
        reader = RowReader(buffered(stream), output.name, input_reader.task, input_reader.labels,
                           input_reader.max_chars, output_format)
        keep, last = 0, None
        try:
            for row in reader:
                if not reader.last_row_complete:
                    break
                keep = reader.end_offset
                last = row
                report.resumed += 1
                report.count(row, None if row.values.get("error") else
                              {key: row.values.get(key) for key in result_columns})
        except DataFileError:
            pass  # not even a whole header line: start again
    with open(output, "r+b") as stream:
        stream.truncate(keep)
    if last is None:
        report.rows = report.predicted = report.skipped = report.resumed = 0
        report.problems.clear()
        report.summary = input_reader.task.data.scorer(input_reader.labels)
        if keep:
            with open(output, "r+b") as stream:
                stream.truncate(0)  # only a header: write it again
        return 0, None
    return report.resumed, _field_values(last, input_reader)


def _field_values(row: Row, reader: RowReader) -> Dict[str, str]:
    return {column: str(row.values.get(column) or "") for column in reader.field_columns.values()}


def _skip_rows(rows: Iterator[Row], done: int, last_values: Optional[Dict[str, str]],
               input_path: Path) -> Iterator[Row]:
    """The input rows after the ``done`` rows an earlier run wrote; checks that the last of
    those matches the output's last row, so an output is never continued from another input."""
    seen = 0
    for row in rows:
        seen += 1
        if seen < done:
            continue
        if seen == done:
            mine = {column: str(row.values.get(column) or "") for column in (last_values or {})}
            if mine != last_values:
                raise ValueError(f"the output file does not continue {input_path.name}: its row "
                                 f"{done} differs from the input's; remove it or choose another "
                                 "--output")
            continue
        yield row
    if seen < done:
        raise ValueError(f"the output file has {done} rows but {input_path.name} only {seen}: it "
                         "belongs to another input; remove it or choose another --output")

