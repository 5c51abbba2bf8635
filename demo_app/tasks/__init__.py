"""The tasks demo_app knows, one module each, and how a checkpoint's task is recognised.

Adding a task touches these places, and no other:

1. its module here: a :class:`Task` made of its five facets (``contract.py``: inputs, pipeline,
   checkpoints, page, data), and its entry in ``TASKS`` below;
2. its page: ``templates/results/<renderer>.html`` and ``static/renderers/<renderer>.js`` (a new
   kind of result), and ``templates/forms/<form>.html`` if its inputs are not text boxes;
3. its notebook: ``notebooks/deploy_<task>_colab.ipynb``;
4. its tests: ``tests/test_<task>.py``;
5. its demo model: ``demo_app/demo_model/``, made by a script in ``scripts/``.

Loading, batching, the web app, the CLI (its ``--task`` and ``history --format`` choices come from
here), data files and the history are generic over tasks.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, List, Optional

from .classification import DOCUMENT_CLASSIFICATION, Prediction
from .contract import (
    ExplanationTarget,
    Input,
    SkippedCorrection,
    StateDict,
    Task,
    TaskCheckpoints,
    TaskData,
    TaskInputs,
    TaskPage,
    TaskPipeline,
    check_task,
)
from .fields import FieldError, FieldTooLong, FieldTypeError, check_text
from .generation import SENTENCE_GENERATION
from .image_classification import IMAGE_CLASSIFICATION
from .ner import NAMED_ENTITY_RECOGNITION
from .pair_classification import PAIR_CLASSIFICATION
from .qa import QUESTION_ANSWERING

TASKS: Dict[str, Task] = {task.name: check_task(task) for task in (
    DOCUMENT_CLASSIFICATION, PAIR_CLASSIFICATION, NAMED_ENTITY_RECOGNITION, QUESTION_ANSWERING,
    IMAGE_CLASSIFICATION, SENTENCE_GENERATION)}
DEFAULT_TASK = "classification"


def get_task(name: "str | Task | None") -> Task:
    """The task called ``name`` (None: document classification), or a ValueError listing them."""
    name = name or DEFAULT_TASK
    if isinstance(name, Task):
        return name
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]


@dataclasses.dataclass
class Recognised:
    """The task a checkpoint is for, and why: ``reason`` names the evidence, ``warnings`` the
    evidence that disagreed but was outweighed (to be said, never kept silent)."""

    task: Task
    reason: str
    warnings: List[str] = dataclasses.field(default_factory=list)


class TaskMismatch(ValueError):
    """The evidence about a checkpoint's task disagrees with itself or with the task asked for;
    the message says which and names the fix."""


def recognise_task(requested: Optional[str], checkpoint_path: Optional[Path],
                   state_dict: Optional[StateDict] = None, trained_in: Optional[str] = None) -> Recognised:
    """The checkpoint's task, from every piece of evidence it carries: the folder Lightning
    saved it into (``trained_in``, recorded inside a ratsnlp ``.ckpt``; it survives renaming
    and copying), the nlpbook folder names it lies in (``checkpoint-paircls``), files beside it
    (NER's ``label_map.txt``), and its head. A task asked for must not contradict where the
    checkpoint was trained; evidence that disagrees is an error naming the fix, or a warning
    where the stronger evidence wins. With no evidence but the head, a sequence head is
    document classification (saying how to choose pairs)."""
    record = _task_named(trained_in)
    named = [(task, f"the folder it was trained in ({trained_in}, recorded in the checkpoint)")
             for task in (record,) if task is not None]
    if checkpoint_path is not None:
        folders = (checkpoint_path, *checkpoint_path.parents[:2])
        named += [(task, f"the folder name {folder.name}") for folder in folders
                  for task in (_task_named(folder.name),) if task is not None][:1]
        directory = checkpoint_path if checkpoint_path.is_dir() else checkpoint_path.parent
        named += [(task, task.checkpoints.why_recognised(checkpoint_path)) for task in TASKS.values()
                  if task.checkpoints.recognises_files(directory)][:1]
    if requested:
        task = get_task(requested)
        if record is not None and record is not task:
            raise TaskMismatch(f"this checkpoint was trained in {trained_in} ({record.name}, recorded in the "
                               f"checkpoint), but the task {task.name!r} was asked for: choose "
                               f"task={record.name!r} (--task {record.name}), or the checkpoint of a "
                               f"{task.name} training run")
        return Recognised(task, "asked for", [f"the task {task.name!r} was asked for, but {why} says {other.name}"
                                              for other, why in named if other is not task])
    if named:
        task, reason = named[0]
        disagreeing = [(other, why) for other, why in named[1:] if other is not task]
        if disagreeing and record is None:
            other, why = disagreeing[0]
            raise TaskMismatch(f"{reason} says {task.name} but {why} says {other.name}: choose one with "
                               f"task={task.name!r} or task={other.name!r} (--task)")
        return Recognised(task, reason, [f"{why} says {other.name}, but {reason} says {task.name}"
                                         for other, why in disagreeing])
    task = task_with_head(state_dict) or TASKS[DEFAULT_TASK]
    alike = [other for other in TASKS.values()
             if other is not task and state_dict and other.checkpoints.has_head(state_dict)]
    return Recognised(task, "the checkpoint's head", [
        f"nothing but its head names this checkpoint's task, and {other.name} models have the same head: "
        f"serving it as {task.name}; if it is a {other.name} model, choose task={other.name!r} "
        f"(--task {other.name})" for other in alike])


def _task_named(folder: Optional[str]) -> Optional[Task]:
    return next((task for task in TASKS.values() if folder and folder == task.checkpoints.checkpoint_dir_name), None)


def task_with_head(state_dict: Optional[StateDict]) -> Optional[Task]:
    """The first task whose model has the head ``state_dict`` has; None for none."""
    if not state_dict:
        return None
    return next((task for task in TASKS.values() if task.checkpoints.has_head(state_dict)), None)


def task_for_config(config: Dict[str, Any]) -> Optional[Task]:
    """The task whose ``save_pretrained`` folders look like ``config`` (an image classifier)."""
    return next((task for task in TASKS.values() if task.checkpoints.recognises_config(config)), None)


def training_formats() -> Dict[str, Task]:
    """The book's training-corpus formats, each with the task whose corrections it holds."""
    return {task.data.training_format: task for task in TASKS.values() if task.data.training_format}


__all__ = ["ExplanationTarget", "Input", "Prediction", "SkippedCorrection", "Task", "TaskCheckpoints", "TaskData",
           "TaskInputs", "TaskPage", "TaskPipeline", "TASKS", "StateDict", "check_task", "DEFAULT_TASK", "FieldError",
           "FieldTooLong", "FieldTypeError", "Recognised", "TaskMismatch", "check_text", "get_task", "recognise_task",
           "task_with_head", "task_for_config", "training_formats"]
