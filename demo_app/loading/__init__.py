"""From ``DeployArguments`` to a ready, checked ``Predictor``: which task, which files, which loader.

``arguments`` (ratsnlp's names, choosing a checkpoint), ``paths`` (finding the files, Google
Drive's two spellings, offline hub names), ``checkpoint`` (reading every weights format without
running code), ``checks`` (head, vocabulary, a test prediction), and one loader per kind of model
folder: ``text_model`` (a config and tokenizer plus fine-tuned weights) and ``image_model`` (a
``save_pretrained`` folder with its image processor). Each task names its loader (``task.loader``).
"""

from __future__ import annotations

import json
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
    """Load the model named by ``args`` into a :class:`Predictor` for its task, checked.

    With no arguments (or an empty ``DeployArguments()``) the bundled demo model is loaded;
    ``DeployArguments(task="pair-classification")`` loads that task's demo model. The task is
    ``args.task``, else recognised from the checkpoint. ``predictor_options`` go to
    :class:`Predictor` (``batch_size``, ``batching``, ...). Raises ``FileNotFoundError`` or
    ``CheckpointError`` with a message saying what to fix.
    """
    args = args if args is not None else DeployArguments()
    device = resolve_device(args.device)
    task = _task_before_loading(args)
    load = LOADERS[task.loader if task is not None else "text"]
    predictor = load(args, task, device, say if verbose else silent, **predictor_options)
    _apply_export_facts(predictor, args)
    return predictor


load_classifier = load_predictor  # the name nlpbook's readers and earlier versions use


def _apply_export_facts(predictor: Predictor, args: DeployArguments) -> None:
    """A folder written by ``export`` (``serving/export.py``) says which checkpoint it came from
    and whether that was a bundled demo model, which the page must keep saying."""
    name = args.pretrained_model_name
    if not name or not looks_like_a_path(name):
        return
    try:
        facts = json.loads((Path(name).expanduser() / EXPORT_FACTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(facts, dict):
        predictor.demo_model = predictor.demo_model or bool(facts.get("demo_model"))
        predictor.source = str(facts.get("source") or predictor.source)


def _task_before_loading(args: DeployArguments) -> Optional[Task]:
    """The task asked for, or the one a ``save_pretrained`` folder given alone as
    ``pretrained_model_name`` is for (an image classifier); None: recognised from the weights."""
    if args.task is not None:
        return get_task(args.task)
    if args.downstream_model_dir or args.downstream_model_checkpoint_fpath:
        return None
    name = args.pretrained_model_name
    if not name or not looks_like_a_path(name):
        return None
    try:
        config = json.loads((Path(name).expanduser() / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return task_for_config(config) if isinstance(config, dict) else None


__all__ = ["CheckpointError", "DeployArguments", "GenerationDeployArguments", "LOADERS", "find_best_checkpoint", "load_classifier",
           "load_predictor", "read_state_dict", "resolve_path"]
