"""The tasks demo_app knows, one module each, and how a checkpoint's task is recognised.

Adding a task: a module here with a ``Task`` subclass, an entry in ``TASKS``, a page renderer in
``static/app.js``, a notebook and tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from .base import Input, Prediction, Task
from .classification import DocumentClassification
from .image_classification import ImageClassification
from .ner import LABEL_MAP, NamedEntityRecognition
from .pair_classification import PairClassification
from .qa import QuestionAnswering

TASKS: Dict[str, Task] = {task.name: task for task in (
    DocumentClassification(), PairClassification(), NamedEntityRecognition(), QuestionAnswering(),
    ImageClassification())}
DEFAULT_TASK = "classification"


def get_task(name: Optional[str]) -> Task:
    """The task called ``name`` (None: document classification), or a ValueError listing them."""
    name = name or DEFAULT_TASK
    if isinstance(name, Task):
        return name
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]


def recognise_task(requested: Optional[str], checkpoint_path: Optional[Path],
                   head_kind: Optional[str] = None) -> Task:
    """The task asked for; else the one whose nlpbook directory name (``checkpoint-paircls``)
    holds the checkpoint; else NER when ``label_map.txt`` lies beside it; else the first task
    for the checkpoint's head (``checkpoint.head_kind``); else document classification."""
    if requested:
        return get_task(requested)
    if checkpoint_path is not None:
        for directory in (checkpoint_path, *checkpoint_path.parents[:2]):
            for task in TASKS.values():
                if directory.name == task.checkpoint_dir_name:
                    return task
        directory = checkpoint_path if checkpoint_path.is_dir() else checkpoint_path.parent
        if (directory / LABEL_MAP).is_file():
            return TASKS["ner"]
    for task in TASKS.values():
        if head_kind is not None and task.head_kind == head_kind and task.input_kind == "text":
            return task
    return TASKS[DEFAULT_TASK]


__all__ = ["Input", "Prediction", "Task", "TASKS", "DEFAULT_TASK", "get_task", "recognise_task"]
