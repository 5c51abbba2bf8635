"""How well a data file's predictions match its gold answers: the scorer each task gives
(``Task.scorer``). Every scorer counts rows with ``add(gold, columns)`` (the gold the row's gold
column named, the result columns written for it), and has ``total`` (rows scored), ``to_dict()``
and ``format()`` (a plain-text report). Here, for classifiers: accuracy, precision and recall
per class, and the confusion matrix. NER and QA keep theirs in their modules.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Dict, List, Sequence


class Summary:
    """Counts gold-vs-predicted labels over ``labels`` (the predicted one is the result column
    ``label_column``); ``add`` one pair per labelled row."""

    def __init__(self, labels: Sequence[str], label_column: str = "prediction") -> None:
        self.labels = list(labels)
        self.label_column = label_column
        self._index = {label: i for i, label in enumerate(self.labels)}
        # confusion[gold][predicted]
        self.confusion: List[List[int]] = [[0] * len(self.labels) for _ in self.labels]

    def add(self, gold: str, columns: Dict[str, Any]) -> None:
        predicted = str(columns[self.label_column])
        self.confusion[self._index[gold]][self._index[predicted]] += 1

    @property
    def total(self) -> int:
        return sum(map(sum, self.confusion))

    @property
    def correct(self) -> int:
        return sum(self.confusion[i][i] for i in range(len(self.labels)))

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def per_class(self) -> List[Dict[str, Any]]:
        """``[{label, precision, recall, f1, support}]``; 0.0 where a ratio has no denominator."""
        rows = []
        for i, label in enumerate(self.labels):
            true_positive = self.confusion[i][i]
            predicted = sum(row[i] for row in self.confusion)
            support = sum(self.confusion[i])
            precision = true_positive / predicted if predicted else 0.0
            recall = true_positive / support if support else 0.0
            rows.append({"label": label, "precision": round(precision, 4), "recall": round(recall, 4),
                         "f1": round(f1(precision, recall), 4), "support": support})
        return rows

    def to_dict(self) -> Dict[str, Any]:
        return {"metric": "accuracy", "rows": self.total, "correct": self.correct, "accuracy": round(self.accuracy, 4),
                "per_class": self.per_class(), "labels": self.labels,
                "confusion_matrix": [list(row) for row in self.confusion]}

    def format(self) -> str:
        """A plain-text report, for the terminal."""
        name_width = max(5, *(_width(label) for label in self.labels))
        lines = [f"accuracy: {self.accuracy:.4f} ({self.correct} of {self.total} labelled rows)", "",
                 f"{_pad('class', name_width)} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
        for row in self.per_class():
            lines.append(f"{_pad(row['label'], name_width)} {row['precision']:>9.4f} {row['recall']:>7.4f} "
                         f"{row['f1']:>7.4f} {row['support']:>8}")
        width = max(8, name_width)
        lines += ["", "confusion matrix (rows: gold, columns: predicted)",
                  " " * width + " " + " ".join(_pad(label, width, right=True) for label in self.labels)]
        for label, counts in zip(self.labels, self.confusion):
            lines.append(_pad(label, width) + " " + " ".join(f"{count:>{width}}" for count in counts))
        return "\n".join(lines)


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: Korean (wide) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    space = " " * max(width - _width(text), 0)
    return space + text if right else text + space


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
