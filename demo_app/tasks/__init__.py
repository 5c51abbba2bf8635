"""The tasks demo_app knows, one module each, and how a checkpoint's task is recognised.

Adding a task touches these places, and no other:

1. its module here: a :class:`Task` subclass (fields, checks, recognition, ``preprocess`` /
   ``forward`` / ``postprocess``, ratsnlp's dict and ``inference_fn``, page texts, data-file
   columns, training format), and its entry in ``TASKS`` below;
2. its page: ``templates/results/<renderer>.html`` and ``static/renderers/<renderer>.js`` (a new
   kind of result), and ``templates/forms/<form>.html`` if its inputs are not text boxes;
3. its notebook: ``notebooks/deploy_<task>_colab.ipynb``;
4. its tests: ``tests/test_<task>.py``;
5. its demo model: ``demo_app/demo_model/``, made by a script in ``scripts/``.

Loading, batching, the web app, the CLI (its ``--task`` and ``history --format`` choices come from
here), data files and the history are generic over tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from .base import Input, Prediction, StateDict, Task
from .classification import DocumentClassification
from .fields import FieldError, FieldTooLong, FieldTypeError, check_text
from .generation import SentenceGeneration
from .image_classification import ImageClassification
from .ner import NamedEntityRecognition
from .pair_classification import PairClassification
from .qa import QuestionAnswering

TASKS: Dict[str, Task] = {task.name: task for task in (
    DocumentClassification(), PairClassification(), NamedEntityRecognition(), QuestionAnswering(),
    ImageClassification(), SentenceGeneration())}
DEFAULT_TASK = "classification"


def get_task(name: "str | Task | None") -> Task:
    """The task called ``name`` (None: document classification), or a ValueError listing them."""
    name = name or DEFAULT_TASK
    if isinstance(name, Task):
        return name
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]


def recognise_task(requested: Optional[str], checkpoint_path: Optional[Path],
                   state_dict: Optional[StateDict] = None) -> Task:
    """The task asked for; else the one whose nlpbook directory name (``checkpoint-paircls``)
    holds the checkpoint; else one that files beside it name (NER's ``label_map.txt``); else
    the first task whose head the checkpoint has; else document classification."""
    if requested:
        return get_task(requested)
    if checkpoint_path is not None:
        for directory in (checkpoint_path, *checkpoint_path.parents[:2]):
            for task in TASKS.values():
                if directory.name == task.checkpoint_dir_name:
                    return task
        directory = checkpoint_path if checkpoint_path.is_dir() else checkpoint_path.parent
        for task in TASKS.values():
            if task.recognises_files(directory):
                return task
    return task_with_head(state_dict) or TASKS[DEFAULT_TASK]


def task_with_head(state_dict: Optional[StateDict]) -> Optional[Task]:
    """The first task whose model has the head ``state_dict`` has; None for none."""
    if not state_dict:
        return None
    return next((task for task in TASKS.values() if task.has_head(state_dict)), None)


def task_for_config(config: Dict[str, object]) -> Optional[Task]:
    """The task whose ``save_pretrained`` folders look like ``config`` (an image classifier)."""
    return next((task for task in TASKS.values() if task.recognises_config(config)), None)


def training_formats() -> Dict[str, Task]:
    """The book's training-corpus formats, each with the task whose corrections it holds."""
    return {task.training_format: task for task in TASKS.values() if task.training_format}


__all__ = ["Input", "Prediction", "Task", "TASKS", "DEFAULT_TASK", "FieldError", "FieldTooLong",
           "FieldTypeError", "check_text", "get_task", "recognise_task", "task_with_head",
           "task_for_config", "training_formats"]
