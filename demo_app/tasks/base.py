"""What every task module provides: the one place that knows one kind of model.

A task says which text fields its inputs have, how one input is checked, how a batch of inputs
is encoded for the model (``preprocess``), how the model's outputs become results
(``postprocess``), what ratsnlp's ``inference_fn`` returned for it (``to_dict`` and
``inference_fn``), which model class and demo model it uses, and how its page looks. The
predictor, the web app, the CLI and the loader call these and nothing task-specific.

An *input* is a tuple of strings in the order of ``fields``: ``("이 영화 재밌어요",)`` or
``(premise, hypothesis)``. One-field tasks also take a bare string wherever a user passes one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

DEMO_MODEL_DIR = Path(__file__).resolve().parent.parent / "demo_model"  # every task's demo model

Input = Tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One input's result from a classifier: the predicted label and every class's probability,
    in label order. ``inputs`` is the sentence (a one-field task) or the tuple of fields."""

    inputs: object
    label: str
    probabilities: Dict[str, float]

    @property
    def sentence(self) -> str:
        """The text of a one-sentence input (the first field otherwise)."""
        return self.inputs if isinstance(self.inputs, str) else self.inputs[0]


class Task:
    """The interface of a task module; subclasses fill in the class attributes and methods."""

    name: str = ""
    fields: Tuple[str, ...] = ()
    field_labels: Dict[str, str] = {}  # the page's label for each field
    field_max_chars: Dict[str, int] = {}  # longer limits than WebOptions.max_sentence_chars
    max_body_bytes: int = 64 * 1024  # the web app's default request body limit for this task
    renderer: str = ""  # how the page draws a result: "bars", ...
    model_class: str = ""  # the transformers Auto class
    head_kind: str = ""  # what checkpoint.head_kind() says of this task's checkpoints
    checkpoint_dir_name: str = ""  # nlpbook's directory name, e.g. "checkpoint-doccls"
    demo_pretrained_dir: Path = DEMO_MODEL_DIR
    demo_checkpoint_dir: Path = DEMO_MODEL_DIR
    demo_description: str = ""
    title: str = ""
    lead: str = ""  # the page's one-line explanation, in Korean ...
    lead_en: str = ""  # ... and in English
    examples: Sequence[Input] = ()
    column_aliases: Dict[str, str] = {}  # other names data files give a field (NSMC's "document")
    output_columns: Tuple[str, ...] = ()  # what result_columns() adds to a data file's row
    input_kind = "text"  # "text" fields, or an "image" file
    has_gold_labels = False  # whether a data file's label column can be scored (class labels)
    label_column = "prediction"  # the result column that holds the predicted label, when scored

    # -- inputs ---------------------------------------------------------------------------

    def check_inputs(self, inputs) -> List:
        """``inputs`` as a list of items the model can take, or a TypeError/ValueError saying
        what is wrong (which item, which field)."""
        raise NotImplementedError

    def smoke_input(self):
        """One input for the test prediction made before a model is served."""
        example = self.examples[0]
        return example[0] if len(example) == 1 else tuple(example)

    def input_record(self, item) -> Dict[str, object]:
        """What the history keeps of one input: its fields."""
        texts = (item,) if isinstance(item, str) else tuple(item)
        return dict(zip(self.fields, texts))

    # -- model ----------------------------------------------------------------------------

    def default_labels(self, num_labels: int) -> Tuple[str, ...]:
        return tuple(f"class {i}" for i in range(num_labels))

    def labels_from(self, checkpoint: Path, num_labels: int) -> "Tuple[str, ...] | None":
        """Labels stored beside the checkpoint (NER's label_map.txt), if the task has them."""
        return None

    def preprocess(self, tokenizer, items: List, max_seq_length: int) -> Dict[str, torch.Tensor]:
        """Tokenize a batch, padded to its longest item and truncated at ``max_seq_length``. The
        encoding may carry more than the model's inputs (offsets, windows) for ``postprocess``."""
        raise NotImplementedError

    def postprocess(self, items: List, encoding, outputs: Dict[str, torch.Tensor],
                    labels: Sequence[str]) -> List:
        """One result per item from the model's outputs (``logits``, or ``start_logits`` and
        ``end_logits``; fp32, on the CPU)."""
        raise NotImplementedError

    # -- ratsnlp's dict -------------------------------------------------------------------

    def to_dict(self, result) -> Dict[str, object]:
        """The dict ratsnlp's ``inference_fn`` returned for this task, plus what the page draws."""
        raise NotImplementedError

    def inference_fn(self, predictor) -> Callable[..., Dict[str, object]]:
        """ratsnlp's ``inference_fn`` for this task, with its signature."""
        raise NotImplementedError

    # -- data files (data_files.py) ------------------------------------------------------

    def result_columns(self, result: Dict[str, object]) -> Dict[str, object]:
        """The columns a data file's output row adds to its input row, from ``to_dict``'s dict."""
        raise NotImplementedError

    def prediction_text(self, result: Dict[str, object]) -> Optional[str]:
        """The answer of ``to_dict``'s dict (or a ratsnlp ``inference_fn``'s) in a few words,
        for the history: the predicted label by default."""
        prediction = result.get("prediction")
        return None if prediction is None else str(prediction)

    def gold_label(self, value: str, labels: Sequence[str]) -> Optional[str]:
        """The label a data file's gold ``label`` column names, for the accuracy summary; None
        for tasks without class labels to compare (NER, QA). A ValueError if it names none."""
        return None

    def read_file_item(self, value: str, directory: Path):
        """A data file's field as the model's input (``directory`` holds the data file): the
        text itself; an image task reads the file the column names."""
        return value

    def training_row(self, inputs: Input, label: str, labels: Sequence[str]) -> Optional[Dict[str, object]]:
        """A corrected example in the book's training-corpus format (history export), or None
        when the task has no such format."""
        return None

    def describe(self) -> Dict[str, object]:
        return {"task": self.name, "fields": list(self.fields), "renderer": self.renderer}


def check_text(value: object, where: str) -> str:
    """``value`` if it is usable text, else a TypeError/ValueError naming ``where``."""
    if not isinstance(value, str):
        raise TypeError(f"{where} is {type(value).__name__}, not a string")
    if not value.strip():
        raise ValueError(f"{where} is empty or only whitespace")
    if not is_valid_unicode(value):
        raise ValueError(f"{where} is not valid Unicode text (it holds a lone surrogate such "
                         "as '\\ud800')")
    return value


def is_valid_unicode(text: str) -> bool:
    """False for strings JSON can carry but no encoding can: lone surrogates like \\ud800."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text_pair(item, index: int, fields: Tuple[str, str]) -> Tuple[str, str]:
    """``item`` (a pair, or a dict of ``fields``) as two usable texts, or an error naming them."""
    if isinstance(item, dict):
        item = tuple(item.get(field) for field in fields)
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise TypeError(f"pair {index} must be a ({', '.join(fields)}) pair, got {type(item).__name__}")
    return (check_text(item[0], f"the {fields[0]} of pair {index}"),
            check_text(item[1], f"the {fields[1]} of pair {index}"))


def checked_list(inputs, what: str, example: str) -> list:
    """``inputs`` as a non-empty list, or a TypeError/ValueError; ``what`` names an item."""
    if isinstance(inputs, str):
        raise TypeError(f"predict() takes a list of {what}s; wrap one {what} in a list: {example}")
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"predict() takes a list of {what}s, got {type(inputs).__name__}")
    if not inputs:
        raise ValueError(f"predict() got an empty list; give at least one {what}")
    return list(inputs)


def first_of(labels: Sequence[str], probabilities: Sequence[float]) -> str:
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return labels[best]

