"""From ``DeployArguments`` to a ready, checked ``Predictor``: which task, which files, which loader.

``arguments`` (ratsnlp's names, choosing a checkpoint), ``paths`` (finding the files, Google
Drive's two spellings, offline hub names), ``checkpoint`` (reading every weights format without
running code), ``checks`` (head, vocabulary, a test prediction), and one loader per kind of model
folder: ``text_model`` (a config and tokenizer plus fine-tuned weights) and ``image_model`` (a
``save_pretrained`` folder with its image processor). Each task names its loader (``task.checkpoints.loader``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Optional

from ..inference import Predictor
from ..tasks import Task, get_task, task_for_config
from .arguments import DeployArguments, GenerationDeployArguments, find_best_checkpoint
from .checkpoint import CheckpointError, read_state_dict
from .common import resolve_device, say, silent
from .image_model import load_image_predictor
from .paths import EXPORT_FACTS, looks_like_a_path, resolve_path
from .text_model import load_text_predictor

LOADERS = {"text": load_text_predictor, "image": load_image_predictor}


def load_predictor(args: Optional[DeployArguments] = None, *, verbose: bool = True,
                   **predictor_options) -> Predictor:
    """Load the model named by ``args`` into a ``Predictor`` for its task, checked.

    With no arguments (or an empty ``DeployArguments()``) the bundled demo model is loaded;
    ``DeployArguments(task="pair-classification")`` loads that task's demo model. The task is
    ``args.task``, else recognised from the checkpoint. ``predictor_options`` go to
    ``Predictor`` (``batch_size``, ``batching``, ...). Raises ``FileNotFoundError`` or
    ``CheckpointError`` with a message saying what to fix.
    """
    args = args if args is not None else DeployArguments()
    device = resolve_device(args.device)
    task = _task_before_loading(args)
    load = LOADERS[task.checkpoints.loader if task is not None else "text"]
    predictor = load(args, task, device, say if verbose else silent, **predictor_options)
    _apply_export_facts(predictor, args)
    return predictor


def load_classifier(args: Optional[DeployArguments] = None, *, verbose: bool = True,
                    **predictor_options) -> Predictor:
    """``load_predictor``'s earlier name, kept for notebooks written against it: it loads every
    task, not only classifiers, so the name misled. Warns, then calls ``load_predictor``."""
    warnings.warn("load_classifier is now load_predictor (it loads every task); the old name will "
                  "be removed", DeprecationWarning, stacklevel=2)
    return load_predictor(args, verbose=verbose, **predictor_options)


def _apply_export_facts(predictor: Predictor, args: DeployArguments) -> None:
    """A folder written by ``export`` (``serving/export.py``) says which checkpoint it came from
    and whether that was a bundled demo model, which the page must keep saying."""
    facts = _pretrained_folder_json(args, EXPORT_FACTS)
    if facts is not None:
        predictor.demo_model = predictor.demo_model or bool(facts.get("demo_model"))
        predictor.source = str(facts.get("source") or predictor.source)


def _task_before_loading(args: DeployArguments) -> Optional[Task]:
    """The task asked for, or the one a ``save_pretrained`` folder given alone as
    ``pretrained_model_name`` is for (an image classifier); None: recognised from the weights."""
    if args.task is not None:
        return get_task(args.task)
    if args.downstream_model_dir or args.downstream_model_checkpoint_fpath:
        return None
    config = _pretrained_folder_json(args, "config.json")
    return task_for_config(config) if config is not None else None


def _pretrained_folder_json(args: DeployArguments, file_name: str) -> Optional[dict]:
    """The JSON object in ``file_name`` of the folder ``pretrained_model_name`` names; None when
    it names a hub model, or the file is missing or holds no object."""
    name = args.pretrained_model_name
    if not name or not looks_like_a_path(name):
        return None
    try:
        value = json.loads((Path(name).expanduser() / file_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


__all__ = ["CheckpointError", "DeployArguments", "GenerationDeployArguments", "LOADERS", "find_best_checkpoint",
           "load_classifier",
           "load_predictor", "read_state_dict", "resolve_path"]
