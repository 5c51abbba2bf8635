"""The task contract: what a task module provides, in five small parts.

A :class:`Task` is a name and five facets, each a small base class whose ``@abstractmethod`` s a
task must write (Python refuses to make a facet that lacks one, so a task missing one fails when
its module is imported) and whose class attributes :func:`check_task` requires when the task is
registered:

- :class:`TaskInputs`      what the model takes: fields, checks, the cost of one input;
- :class:`TaskPipeline`    how it runs: ``preprocess`` -> ``forward`` -> ``postprocess``, and
                           the dict ratsnlp's ``inference_fn`` returned;
- :class:`TaskCheckpoints` how its checkpoints are recognised and loaded;
- :class:`TaskPage`        what its page shows;
- :class:`TaskData`        data files, scoring and the book's training-corpus format.

Everything else (loading, batching, the web app, the CLI, history, data files) calls these and
nothing task-specific. An *input* is a string (a one-field task) or a tuple of strings in the
order of ``fields``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Dict, Generator, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .fields import checked_list
from .scoring import Summary

DEMO_MODEL_DIR = Path(__file__).resolve().parent.parent / "demo_model"  # every task's demo model

Input = Tuple[str, ...]
if TYPE_CHECKING:  # torch is imported only where a PyTorch model runs (inference/arrays.py)
    import torch

StateDict = Dict[str, "torch.Tensor"]


class TaskInputs(ABC):
    """What the model takes: the fields of one input, how one is checked, what it costs."""

    fields: Tuple[str, ...] = ()
    option_names: Tuple[str, ...] = ()  # what an input may set besides its fields (generation's settings)
    item_name = "input"  # one input, in messages: "sentence", "(premise, hypothesis) pair"
    item_example = "[input]"  # how to pass one input to predict(), in messages
    field_max_chars: Dict[str, int] = {}  # longer limits than WebOptions.max_text_chars
    max_items: Optional[int] = None  # inputs in one HTTP request (None: WebOptions.max_batch_sentences)
    max_body_bytes: int = 64 * 1024  # the web app's default request body limit for this task
    api_body = "text"  # ratsnlp's POST /api body for a one-field task: a JSON string ("object": fields)
    takes_files = False  # an input is a file's bytes (an image), sent as an upload, not as text
    file_suffixes: Tuple[str, ...] = ()  # with takes_files: the files of a folder that are inputs
    max_file_bytes = 0  # with takes_files: the largest file one input may be

    @abstractmethod
    def check_item(self, item: Any, index: int) -> Any:
        """One input as the model takes it, or a TypeError/ValueError naming what is wrong."""

    def check_inputs(self, inputs: Any) -> List[Any]:
        """``inputs`` as a list of checked items, or an error saying which item is wrong."""
        items = checked_list(inputs, self.item_name, self.item_example)
        return [self.check_item(item, index) for index, item in enumerate(items)]

    def rows(self, item: Any, max_seq_length: int) -> int:
        """What one input costs, priced before any work: the sequences (rows) the model will
        read for it. One for most tasks; a long QA context is read in several windows."""
        return 1

    def make_item(self, texts: Sequence[str], values: Dict[str, Any], where: str = "") -> Any:
        """One input from its checked text fields (``values``: the whole request object or data
        row, for tasks that read more from it): the text, or the tuple of texts."""
        return texts[0] if len(texts) == 1 else tuple(texts)

    def max_chars(self, field: str, default: int) -> int:
        """The longest text ``field`` may hold: the task's own limit, else ``default``."""
        return self.field_max_chars.get(field, default)

    def input_record(self, item: Any) -> Dict[str, Any]:
        """What the history keeps of one input: its fields."""
        texts = (item,) if isinstance(item, str) else tuple(item)
        return dict(zip(self.fields, texts))

    def read_upload(self, data: bytes, name: str) -> Any:
        """An uploaded file (``name``: how messages call it) as an input, for a task that takes
        files; a FieldError (400, 413) if it cannot be read."""
        raise TypeError("this task takes text fields, not files")

    def read_file_item(self, value: str, directory: Path) -> Any:
        """A data file's field as an input (``directory`` holds the data file): the text itself;
        a task that takes files reads the file the column names."""
        return value


@dataclasses.dataclass
class ExplanationTarget:
    """What an explanation reads and explains (``inference/explaining.py``): the model's inputs
    for one input (one row, with ``offset_mapping``), which text field each token came from
    (``sequence_ids``: 0, 1, or None for a special token), what is explained in words (a class,
    an entity, an answer) and the score of the model's outputs explained, one per row."""

    encoding: Dict[str, Any]  # numpy arrays
    sequence_ids: List[Optional[int]]
    name: str
    score: Callable[[Dict[str, "torch.Tensor"]], "torch.Tensor"]


class TaskPipeline(ABC):
    """How the model runs, as a transformers pipeline: ``preprocess`` -> ``forward`` ->
    ``postprocess``, then ``to_dict``: the dict ratsnlp's ``inference_fn`` returned."""

    model_inputs: Tuple[str, ...] = ("input_ids", "token_type_ids", "attention_mask")
    stepwise = False  # always run in steps (the large-request lane), e.g. generation's token by token
    convertible = True  # one forward pass, logits out (an encoder): OpenVINO can run it
    streams = False  # results can be streamed as they are made (POST /predict/stream)
    explains = False  # answers are explained word by word (explanation_target, POST /explain)
    # Integrated gradients' points by default: enough for the attributions to add up to the
    # score's change within 5% on the ratsnlp-written fixtures, and a review explained at
    # kcbert-base's size within a second on two cores (benchmarks/explain_benchmark.py)
    explanation_steps = 12

    @abstractmethod
    def preprocess(self, tokenizer: Any, items: List[Any], max_seq_length: int) -> Any:
        """Tokenize a batch, padded to its longest item and truncated at ``max_seq_length``. The
        encoding may carry more than the model's inputs (offsets, windows) for ``postprocess``."""

    def forward(self, model: Any, inputs: Dict[str, Any]) -> Dict[str, Any]:
        """The model's ``*logits`` outputs for one encoded batch, in the model's own form (inputs
        and outputs: tensors on its device for PyTorch, numpy arrays for OpenVINO; the predictor
        turns them into fp32 arrays, ``inference/arrays.py``)."""
        outputs = model(**inputs)
        return {name: value for name, value in outputs.items() if name.endswith("logits")}

    def steps(self, predictor: Any, items: List[Any]) -> Optional[Generator[Any, None, List[Any]]]:
        """For a task that runs the model its own way (generation): a generator that yields
        after each step (a progress event for a stream, or None) and returns the results.
        None: the predictor's preprocess -> forward -> postprocess."""
        return None

    def explanation_target(self, tokenizer: Any, item: Any, result: Any, labels: Sequence[str],
                           target: Any, max_seq_length: int) -> ExplanationTarget:
        """What explaining ``result`` (the task's own form) reads and explains; ``target`` (None:
        the answer given) picks another class, entity, ... A FieldError for a target that is not
        one of them; a task whose answers are not explained raises it too."""
        from .fields import FieldError

        raise FieldError("this task's answers have no word-by-word explanation")

    def shared_steps(self, predictor: Any) -> Optional[Any]:
        """For a task whose steps many requests can share (generation: one forward pass writes
        a token of every text): the object that runs them (``inference.batching.SharedSteps``),
        made once per predictor. None: each request runs alone, visitors taking turns."""
        return None

    @abstractmethod
    def postprocess(self, items: List[Any], encoding: Any, outputs: Dict[str, np.ndarray],
                    labels: Sequence[str]) -> List[Any]:
        """One result per item from ``forward``'s outputs (fp32 numpy arrays)."""

    @abstractmethod
    def to_dict(self, result: Any) -> Dict[str, Any]:
        """The dict ratsnlp's ``inference_fn`` returned for this task, plus what the page draws."""

    @abstractmethod
    def inference_fn(self, predictor: Any) -> Callable[..., Dict[str, Any]]:
        """ratsnlp's ``inference_fn`` for this task, with its signature."""

    def prediction_text(self, result: Dict[str, Any]) -> Optional[str]:
        """The answer of ``to_dict``'s dict (or a ratsnlp ``inference_fn``'s) in a few words,
        for the history: the predicted label by default."""
        prediction = result.get("prediction")
        return None if prediction is None else str(prediction)


class TaskCheckpoints(ABC):
    """How the task's checkpoints are recognised (folder name, head, files beside them) and
    which model class, tokenizer and loader read them."""

    model_class = ""  # the transformers Auto class
    loader = "text"  # "text": a state_dict read into model_class; "image": a save_pretrained folder
    labelled = True  # a head with one output per class (labels); False: a language model
    outputs_are_classes = True  # False: the head's outputs are not classes a person picks (QA's start, end)
    head_description = ""  # what its checkpoints are, in messages: "a question-answering model"
    head_bias_keys: Tuple[str, ...] = ()  # the head's bias, whose length is the number of classes
    output_heads: Tuple[str, ...] = ()  # the head's modules
    fp32_heads: Optional[Tuple[str, ...]] = None  # of them, those faster precisions keep in fp32 (None: all)
    checkpoint_dir_name = ""  # nlpbook's directory name, e.g. "checkpoint-doccls"
    tokenizer_class: Optional[str] = None  # None: transformers' AutoTokenizer
    tokenizer_options: Dict[str, Any] = {}  # given to the tokenizer's from_pretrained
    unused_checkpoint_keys: Tuple[str, ...] = ()  # key endings older checkpoints carry, dropped
    pretrained_alone = False  # with no fine-tuned checkpoint, serve the pretrained model itself
    default_pretrained = "beomi/kcbert-base"  # the book's pretrained model for the chapter
    demo_pretrained_dir: Path = DEMO_MODEL_DIR
    demo_checkpoint_dir: Path = DEMO_MODEL_DIR
    demo_description = ""

    def heads_kept_in_fp32(self) -> Tuple[str, ...]:
        """The head's modules a faster precision leaves in fp32 (``apply_precision``)."""
        return self.output_heads if self.fp32_heads is None else self.fp32_heads

    @abstractmethod
    def has_head(self, state_dict: StateDict) -> bool:
        """Whether ``state_dict`` (keys without Lightning's ``model.``) has this task's head."""

    def recognises_files(self, directory: Path) -> bool:
        """Whether files beside a checkpoint say it is this task's (NER's label_map.txt)."""
        return False

    def recognises_config(self, config: Dict[str, Any]) -> bool:
        """Whether a ``save_pretrained`` folder's config.json, given alone, is this task's."""
        return False

    def why_recognised(self, checkpoint: Path) -> str:
        """Which files beside ``checkpoint`` name this task (see ``recognises_files``)."""
        return "the files beside the checkpoint"

    def num_labels(self, state_dict: StateDict) -> Optional[int]:
        """The number of classes, read from the head's bias (``head_bias_keys``); None when the
        checkpoint has none of those keys."""
        for key in self.head_bias_keys:
            if key in state_dict:
                bias = state_dict[key]
                return int(bias.shape[0]) if bias.dim() == 1 else -1
        return None

    def derived_buffer(self, name: str, buffer: "torch.Tensor") -> Optional["torch.Tensor"]:
        """The value of a buffer the model builds itself and checkpoints may lack, or None."""
        return None

    def default_labels(self, num_labels: int) -> Tuple[str, ...]:
        return tuple(f"class {i}" for i in range(num_labels))

    def labels_from(self, checkpoint: Path, num_labels: int) -> Optional[Tuple[str, ...]]:
        """Labels stored beside the checkpoint (NER's label_map.txt), if the task has them."""
        return None

    def save_beside_model(self, folder: Path, labels: Sequence[str], source: Optional[Path]) -> None:
        """Write into an exported model folder the files this task reads beside a model besides
        its config, such as NER's ``label_map.txt``; ``source`` is the served checkpoint."""


class TaskPage(ABC):
    """What the page shows: texts, examples, and the partials that draw the form and a result
    (``templates/forms/<form>.html``, ``templates/results/<renderer>.html``,
    ``static/renderers/<renderer>.js``)."""

    form = "text"  # the input partial: one text box per field, or "image"
    renderer = ""  # how the page draws a result: "bars", "entities", "answer", ...
    title = ""
    lead = ""  # the page's one-line explanation, in Korean ...
    lead_en = ""  # ... and in English
    field_labels: Dict[str, str] = {}  # the page's label for each field
    examples: Sequence[Input] = ()
    action, action_en = "분석하기", "Analyze"  # the submit button
    correction_placeholder = ""  # the "wrong?" box's hint, for tasks corrected with free text

    def form_settings(self) -> List[Dict[str, Any]]:
        """Settings the form shows beside the text fields (``name``, ``label``, ``default``,
        ``help``, ``kind``, ``min``, ``max``); none by default."""
        return []

    def example_items(self) -> List[Any]:
        """The page's examples as inputs to ``predict()``."""
        return [example[0] if len(example) == 1 else tuple(example) for example in self.examples]

    def smoke_input(self) -> Any:
        """One input for the test prediction made before a model is served."""
        return self.example_items()[0]

    def repeatable_items(self) -> List[Any]:
        """Inputs whose answers a model saved and loaded again must give unchanged (``export``
        checks them): the examples, or the smoke input for a task without any."""
        return self.example_items() or [self.smoke_input()]


class SkippedCorrection(ValueError):
    """A correction that makes no training example; the message is the reason, as exports count it."""


class TaskData(ABC):
    """Data files (their columns, scoring against a gold column) and visitors' corrections
    written in the book's training-corpus format."""

    output_columns: Tuple[str, ...] = ()  # what result_columns() adds to a data file's row
    column_aliases: Dict[str, str] = {}  # other names data files give a field (NSMC's "document")
    gold_columns: Tuple[str, ...] = ("label", "gold_label")  # a data file's column of right answers
    has_gold_labels = False  # corrected with one of the labels; data files' label column scored
    label_column = "prediction"  # the result column that holds the predicted label, when scored
    training_format: Optional[str] = None  # the book's corpus format for corrections ("nsmc", ...)

    def result_columns(self, result: Dict[str, Any]) -> Dict[str, Any]:
        """The columns a data file's output row adds to its input row, from ``to_dict``'s dict."""
        return {key: result[key] for key in self.output_columns}

    def gold_label(self, value: str, labels: Sequence[str]) -> Optional[str]:
        """The label a gold column (or a visitor's correction) names, for tasks with class
        labels; None for others. A ValueError if it names none."""
        return None

    def check_correction(self, correction: str, inputs: Dict[str, Any], labels: Sequence[str]) -> None:
        """A visitor's correction of the result for ``inputs`` (the row's fields, as the history
        keeps them), checked against what the model and the book's readers accept: a ValueError
        saying what to fix. Labels are already checked by ``gold_label``."""

    def read_gold(self, value: Any, labels: Sequence[str]) -> Any:
        """A gold column as the task's scorer takes it (a label; NER's entities; QA's answers);
        None when there is nothing to score. A ValueError if it cannot be read."""
        return self.gold_label(str(value), labels)

    def scorer(self, labels: Sequence[str]) -> Any:
        """What scores a data file's predictions against its gold column, or None."""
        return Summary(labels, self.label_column) if self.has_gold_labels else None

    def training_row(self, inputs: Input, label: str, labels: Sequence[str]) -> Dict[str, Any]:
        """A corrected example in the book's training-corpus format; :class:`SkippedCorrection`
        saying why when this correction makes none (an NER correction left empty, a QA answer
        not in the context)."""
        raise SkippedCorrection("this task has no training-data format")

    def reader_drops(self, example: Dict[str, Any]) -> Optional[str]:
        """Why the book's own corpus reader (ratsnlp 1.0.53) would silently leave out this
        written example, if it would: exports count and say so."""
        return None

    def write_training_data(self, examples: List[Tuple[int, Dict[str, Any]]], stream: IO[str]) -> None:
        """Write ``(history row id, training_row)`` pairs to ``stream`` as ``training_format``, so
        that the book's corpus reader for the chapter reads them back."""
        raise NotImplementedError("this task has no training-data format")

    def is_training_file(self, head: str, suffix: str) -> bool:
        """Whether a data file (its first characters, its extension) is in this task's book
        corpus format, read with :meth:`read_training_data` (NER's corpus, KorQuAD)."""
        return False

    def read_training_data(self, text: IO[str]) -> Iterator[Dict[str, Any]]:
        """The rows of a file in the book's corpus format: the task's fields and a gold column."""
        raise NotImplementedError("this task reads its corpus as a plain data file")


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
    """One kind of model: a name (``--task``) and its five facets."""

    name: str
    inputs: TaskInputs
    pipeline: TaskPipeline
    checkpoints: TaskCheckpoints
    page: TaskPage
    data: TaskData

    def describe(self) -> Dict[str, Any]:
        return {"task": self.name, "fields": list(self.inputs.fields), "renderer": self.page.renderer}


# The class attributes each facet must set (non-empty) for a task to be registered.
REQUIRED = {"inputs": ("fields", "item_name"), "checkpoints": ("model_class", "head_description"),
            "page": ("renderer", "title", "lead", "lead_en", "field_labels"), "data": ("output_columns",)}
FACETS = {"inputs": TaskInputs, "pipeline": TaskPipeline, "checkpoints": TaskCheckpoints,
          "page": TaskPage, "data": TaskData}


def check_task(task: Task) -> Task:
    """``task``, if every facet is of its kind and sets what it must; else a TypeError naming
    the missing part (called when the task is registered, so a broken task fails at import)."""
    for facet, kind in FACETS.items():
        part = getattr(task, facet)
        if not isinstance(part, kind):
            raise TypeError(f"task {task.name!r}: {facet} must be a {kind.__name__}, got {type(part).__name__}")
        missing = [name for name in REQUIRED.get(facet, ()) if not getattr(part, name)]
        if missing:
            raise TypeError(f"task {task.name!r}: {type(part).__name__} must set {', '.join(missing)}")
    unlabelled = [field for field in task.inputs.fields if field not in task.page.field_labels]
    if unlabelled:
        raise TypeError(f"task {task.name!r}: the page has no label for {', '.join(unlabelled)}")
    return task
