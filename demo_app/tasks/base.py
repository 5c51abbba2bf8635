"""What every task module provides: the one place that knows one kind of model.

A task says which fields its inputs have and how one input is checked; how its checkpoints are
recognised (directory name, head, files beside it) and which loader builds its model; how a
batch is encoded (``preprocess``), run (``forward``) and decoded (``postprocess``); what
ratsnlp's ``inference_fn`` returned for it (``to_dict`` and ``inference_fn``); how its page looks
(texts, examples, the ``form`` and ``renderer`` partials); how data files' rows are read, written
and scored; and the book's training-corpus format for visitors' corrections. The predictor, the
loaders, the web app, the CLI, the history and the file predictions call these and nothing
task-specific.

An *input* is a tuple of strings in the order of ``fields``: ``("이 영화 재밌어요",)`` or
``(premise, hypothesis)``. One-field tasks also take a bare string wherever a user passes one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import IO, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from .fields import FieldTypeError, check_text, type_name
from .scoring import Summary

DEMO_MODEL_DIR = Path(__file__).resolve().parent.parent / "demo_model"  # every task's demo model

Input = Tuple[str, ...]
StateDict = Dict[str, torch.Tensor]


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
    field_max_chars: Dict[str, int] = {}  # longer limits than WebOptions.max_text_chars
    item_name = "input"  # one input, in messages: "sentence", "(premise, hypothesis) pair"
    item_example = "[input]"  # how to pass one input to predict(), in messages
    max_items: Optional[int] = None  # inputs in one HTTP request (None: WebOptions.max_batch_sentences)
    max_body_bytes: int = 64 * 1024  # the web app's default request body limit for this task
    api_body = "text"  # ratsnlp's POST /api body for a one-field task: a JSON string ("object": fields)

    # -- the model ------------------------------------------------------------------------
    loader = "text"  # "text": a state_dict read into model_class; "image": a save_pretrained folder
    model_class: str = ""  # the transformers Auto class
    labelled = True  # a head with one output per class (labels); False: a language model
    stepwise = False  # always run in steps (large-request lane), e.g. generation's token by token
    exportable = True  # one forward pass, logits out (an encoder): OpenVINO can run it
    streams = False  # results can be streamed as they are made (POST /predict/stream)
    tokenizer_class: Optional[str] = None  # None: transformers' AutoTokenizer
    tokenizer_options: Dict[str, object] = {}  # given to the tokenizer's from_pretrained
    unused_checkpoint_keys: Tuple[str, ...] = ()  # key endings older checkpoints carry, dropped
    pretrained_alone = False  # with no fine-tuned checkpoint, serve the pretrained model itself
    head_description = ""  # what its checkpoints are, in messages: "a question-answering model"
    head_bias_keys: Tuple[str, ...] = ()  # the head's bias, whose length is the number of classes
    checkpoint_dir_name: str = ""  # nlpbook's directory name, e.g. "checkpoint-doccls"
    default_pretrained = "beomi/kcbert-base"  # the book's pretrained model for the chapter
    demo_pretrained_dir: Path = DEMO_MODEL_DIR
    demo_checkpoint_dir: Path = DEMO_MODEL_DIR
    demo_description: str = ""

    # -- the page (templates/forms/<form>.html, templates/results/<renderer>.html, static/renderers/)
    form = "text"  # the input partial: one text box per field, or "image"
    renderer: str = ""  # how the page draws a result: "bars", "entities", "answer", ...
    title: str = ""
    lead: str = ""  # the page's one-line explanation, in Korean ...
    lead_en: str = ""  # ... and in English
    examples: Sequence[Input] = ()
    action, action_en = "분석하기", "Analyze"  # the submit button
    correction_placeholder = ""  # the "wrong?" box's hint, for tasks corrected with free text

    def form_settings(self) -> List[Dict[str, object]]:
        """Settings the page's form shows beside the text fields (``name``, ``label``,
        ``default``, ``help``, ``kind``, ``min``, ``max``); none by default."""
        return []

    # -- data files and the history -------------------------------------------------------
    input_kind = "text"  # "text" fields, or an "image" file
    column_aliases: Dict[str, str] = {}  # other names data files give a field (NSMC's "document")
    output_columns: Tuple[str, ...] = ()  # what result_columns() adds to a data file's row
    has_gold_labels = False  # corrected with one of the labels; data files' label column scored
    label_column = "prediction"  # the result column that holds the predicted label, when scored
    gold_columns: Tuple[str, ...] = ("label", "gold_label")  # a data file's column of right answers
    training_format: Optional[str] = None  # the book's corpus format for corrections ("nsmc", ...)

    # -- inputs ---------------------------------------------------------------------------

    def check_inputs(self, inputs) -> List:
        """``inputs`` as a list of items the model can take, or a TypeError/ValueError saying
        what is wrong (which item, which field)."""
        items = checked_list(inputs, self.item_name, self.item_example)
        return [self.check_item(item, index) for index, item in enumerate(items)]

    def check_item(self, item, index: int):
        """One input: a string for a one-field task, else a tuple (or dict) of the fields."""
        if len(self.fields) == 1:
            return check_text(item, f"{self.fields[0]} {index}")
        return check_fields(item, index, self.fields, self.item_name)

    def rows(self, item, max_seq_length: int) -> int:
        """What one input costs, priced before any work: the sequences (rows) the model will
        read for it. One for most tasks; a long QA context is read in several windows."""
        return 1

    def make_item(self, texts: Sequence[str], values: Dict[str, object], where: str = ""):
        """One input from its checked text fields (``values``: the whole request object or data
        row, for tasks that read more from it): the text, or the tuple of texts."""
        return texts[0] if len(texts) == 1 else tuple(texts)

    def max_chars(self, field: str, default: int) -> int:
        """The longest text ``field`` may hold: the task's own limit, else ``default``."""
        return self.field_max_chars.get(field, default)

    def example_items(self) -> list:
        """The page's examples as inputs to ``predict()``."""
        return [example[0] if len(example) == 1 else tuple(example) for example in self.examples]

    def smoke_input(self):
        """One input for the test prediction made before a model is served."""
        return self.example_items()[0]

    def repeatable_items(self) -> list:
        """Inputs whose answers a model saved and loaded again must give unchanged (``export``
        checks them): the examples, or the smoke input for a task without any."""
        return self.example_items() or [self.smoke_input()]

    def input_record(self, item) -> Dict[str, object]:
        """What the history keeps of one input: its fields."""
        texts = (item,) if isinstance(item, str) else tuple(item)
        return dict(zip(self.fields, texts))

    # -- recognising a checkpoint ---------------------------------------------------------

    def has_head(self, state_dict: StateDict) -> bool:
        """Whether ``state_dict`` (keys without Lightning's ``model.``) has this task's head."""
        return False

    def recognises_files(self, directory: Path) -> bool:
        """Whether files beside a checkpoint say it is this task's (NER's label_map.txt)."""
        return False

    def recognises_config(self, config: Dict[str, object]) -> bool:
        """Whether a ``save_pretrained`` folder's config.json, given alone, is this task's."""
        return False

    def why_recognised(self, checkpoint: Path) -> str:
        """Which files beside ``checkpoint`` name this task (see ``recognises_files``)."""
        return "the files beside the checkpoint"

    # -- the model ------------------------------------------------------------------------

    def num_labels(self, state_dict: StateDict) -> Optional[int]:
        """The number of classes, read from the head's bias (``head_bias_keys``); None when the
        checkpoint has none of those keys."""
        for key in self.head_bias_keys:
            if key in state_dict:
                bias = state_dict[key]
                return int(bias.shape[0]) if bias.dim() == 1 else -1
        return None

    def derived_buffer(self, name: str, buffer: torch.Tensor) -> Optional[torch.Tensor]:
        """The value of a buffer the model builds itself and checkpoints may lack (known to this
        task's architectures), or None."""
        return None

    def default_labels(self, num_labels: int) -> Tuple[str, ...]:
        return tuple(f"class {i}" for i in range(num_labels))

    def save_beside_model(self, folder: Path, labels: Sequence[str], source: Optional[Path]) -> None:
        """Write into an exported model folder (``python -m demo_app export``) the files this
        task reads beside a model besides its config, such as NER's ``label_map.txt``;
        ``source`` is the served checkpoint file or folder. Nothing by default."""

    def labels_from(self, checkpoint: Path, num_labels: int) -> "Tuple[str, ...] | None":
        """Labels stored beside the checkpoint (NER's label_map.txt), if the task has them."""
        return None

    def preprocess(self, tokenizer, items: List, max_seq_length: int) -> Dict[str, torch.Tensor]:
        """Tokenize a batch, padded to its longest item and truncated at ``max_seq_length``. The
        encoding may carry more than the model's inputs (offsets, windows) for ``postprocess``."""
        raise NotImplementedError

    def forward(self, model: torch.nn.Module, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The model's outputs for one encoded batch (already on the model's device): by
        default ``model(**inputs)``'s ``*logits`` tensors, as fp32 on the CPU."""
        outputs = model(**inputs)
        return {name: value.float().cpu() for name, value in outputs.items() if name.endswith("logits")}

    def steps(self, predictor, items: List):
        """For a task that runs the model its own way (generation): a generator that yields
        after each step (a progress event for a stream, or None) and returns the results.
        None: the predictor's preprocess -> forward -> postprocess."""
        return None

    def postprocess(self, items: List, encoding, outputs: Dict[str, torch.Tensor],
                    labels: Sequence[str]) -> List:
        """One result per item from ``forward``'s outputs (``logits``, or ``start_logits`` and
        ``end_logits``)."""
        raise NotImplementedError

    # -- ratsnlp's dict -------------------------------------------------------------------

    def to_dict(self, result) -> Dict[str, object]:
        """The dict ratsnlp's ``inference_fn`` returned for this task, plus what the page draws."""
        raise NotImplementedError

    def inference_fn(self, predictor) -> Callable[..., Dict[str, object]]:
        """ratsnlp's ``inference_fn`` for this task, with its signature."""
        raise NotImplementedError

    # -- data files -----------------------------------------------------------------------

    def result_columns(self, result: Dict[str, object]) -> Dict[str, object]:
        """The columns a data file's output row adds to its input row, from ``to_dict``'s dict."""
        return {key: result[key] for key in self.output_columns}

    def prediction_text(self, result: Dict[str, object]) -> Optional[str]:
        """The answer of ``to_dict``'s dict (or a ratsnlp ``inference_fn``'s) in a few words,
        for the history: the predicted label by default."""
        prediction = result.get("prediction")
        return None if prediction is None else str(prediction)

    def gold_label(self, value: str, labels: Sequence[str]) -> Optional[str]:
        """The label a data file's gold ``label`` column (or a visitor's correction) names: for
        tasks with class labels; None for others. A ValueError if it names none."""
        return None

    def read_gold(self, value: object, labels: Sequence[str]):
        """A data file's gold column as the task's scorer takes it (a label; NER's entities; QA's
        answers); None when there is nothing to score. A ValueError if it cannot be read."""
        return self.gold_label(str(value), labels)

    def scorer(self, labels: Sequence[str]):
        """What scores a data file's predictions against its gold column (``scoring.py``), or
        None for a task that has nothing to score. A task with gold labels: accuracy and each
        label's precision and recall."""
        return Summary(labels, self.label_column) if self.has_gold_labels else None

    def read_file_item(self, value: str, directory: Path):
        """A data file's field as the model's input (``directory`` holds the data file): the
        text itself; an image task reads the file the column names."""
        return value

    # -- the history's training data ------------------------------------------------------

    def training_row(self, inputs: Input, label: str, labels: Sequence[str]) -> Optional[Dict[str, object]]:
        """A corrected example in the book's training-corpus format, or None when this
        correction makes none (an NER correction left empty, a QA answer not in the context)."""
        return None

    def write_training_data(self, examples: List[Tuple[int, Dict[str, object]]], stream: IO[str]) -> None:
        """Write ``(history row id, training_row)`` pairs to ``stream`` as ``training_format``, so
        that the book's corpus reader for the chapter reads them back."""
        raise NotImplementedError(f"the {self.name} task has no training-data format")

    def is_training_file(self, head: str, suffix: str) -> bool:
        """Whether a data file (its first characters, its extension) is in this task's book
        corpus format and must be read with :meth:`read_training_data` (NER's corpus, KorQuAD)."""
        return False

    def read_training_data(self, text: IO[str]) -> Iterator[Dict[str, object]]:
        """The rows of a file in the book's corpus format, as columns: the task's fields and a
        gold column."""
        raise NotImplementedError(f"the {self.name} task reads its corpus as a plain data file")

    def describe(self) -> Dict[str, object]:
        return {"task": self.name, "fields": list(self.fields), "renderer": self.renderer}


def check_fields(item, index: int, fields: Tuple[str, ...], item_name: str) -> Tuple[str, ...]:
    """``item`` (a tuple, or a dict of ``fields``) as usable texts, or an error naming them."""
    noun = item_name.split()[-1]  # "pair"
    if isinstance(item, dict):
        item = tuple(item.get(field) for field in fields)
    if not isinstance(item, (tuple, list)) or len(item) != len(fields):
        raise FieldTypeError(f"{noun} {index} must be a {item_name}, got {type_name(item)}")
    return tuple(check_text(text, f"the {field} of {noun} {index}") for text, field in zip(item, fields))


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
