"""Finding the files ``DeployArguments`` names, or saying exactly why they cannot be found.

- Google Drive's root is ``MyDrive`` in today's Colab and ``My Drive`` in nlpbook's notebooks:
  a path that does not exist is tried with the other spelling, and the one used is named.
- A path that still does not exist is an error that lists what does exist nearby, so a typo shows.
- A hub name (``beomi/kcbert-base``) is used from the local cache when it is there; otherwise,
  without a network, loading fails at once saying so instead of retrying for half a minute.
- The bundled demo model is used only when no model is named at all.
"""

from __future__ import annotations

import itertools
import os
import socket
from pathlib import Path
from typing import Callable, Optional, Tuple
from urllib.parse import urlparse

from ..tasks import Task, get_task
from .arguments import (
    DEFAULT_PRETRAINED_MODEL_NAME,
    DeployArguments,
    checkpoint_val_loss,
    find_best_checkpoint,
    is_temporary_file,
)
from .checkpoint import is_hf_model_dir

DRIVE_ROOTS = ("My Drive", "MyDrive")
# What a tokenizer is built from: WordPiece, a fast tokenizer, BPE, SentencePiece.
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "vocab.json", "spiece.model", "sentencepiece.bpe.model")
EXPORT_FACTS = "demo_app.json"  # in a model folder ``python -m demo_app export`` wrote (serving/export.py)
_LISTED = 12  # entries shown from a nearby directory


def resolve_model_paths(args: DeployArguments, say: Callable[[str], None] = lambda message: None,
                        task: Optional[Task] = None) -> Tuple[str, Path]:
    """``(pretrained model name or dir, weights path)`` for ``args``, checking that they exist.
    ``task`` (when known before the weights are read) may serve a pretrained model alone."""
    if args.uses_demo_model:
        task = task or get_task(args.task)
        return str(task.checkpoints.demo_pretrained_dir), find_best_checkpoint(task.checkpoints.demo_checkpoint_dir)
    default = task.checkpoints.default_pretrained if task else DEFAULT_PRETRAINED_MODEL_NAME
    pretrained = args.pretrained_model_name or default
    if args.downstream_model_checkpoint_fpath:
        weights = existing_path(args.downstream_model_checkpoint_fpath, "checkpoint file", say)
    elif args.downstream_model_dir:
        directory = existing_path(args.downstream_model_dir, "checkpoint directory", say)
        weights = directory if is_hf_model_dir(directory) else find_best_checkpoint(directory)
        _say_which_of_several(directory, weights, say)
    elif is_hf_model_dir(Path(pretrained).expanduser()):
        weights = Path(pretrained).expanduser()  # a fine-tuned save_pretrained directory
    elif task is not None and task.checkpoints.pretrained_alone and not looks_like_a_path(pretrained):
        say(f"No fine-tuned checkpoint given: serving {pretrained} itself.")
        check_hub_name_reachable(pretrained)
        return pretrained, hub_snapshot(pretrained)
    else:
        raise FileNotFoundError(
            f"no fine-tuned checkpoint given for {pretrained!r}: set downstream_model_dir (a "
            "directory of *.ckpt files) or downstream_model_checkpoint_fpath (one file)"
        )
    if looks_like_a_path(pretrained):
        pretrained = str(existing_path(pretrained, "pretrained model directory", say))
    else:
        check_hub_name_reachable(pretrained)
    return pretrained, weights


def looks_like_a_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or Path(name).expanduser().exists()


def existing_path(given: str, what: str, say: Callable[[str], None]) -> Path:
    """``given`` as an existing path (trying Drive's other root spelling), or FileNotFoundError
    that lists the nearest existing directory's entries."""
    path = Path(given).expanduser()
    found = resolve_path(path)
    if found is not None:
        if found != path:
            say(f"{path} does not exist; using {found} (the other spelling of Google Drive's root).")
        return found
    other = other_drive_spelling(path)
    index = _drive_index(path)
    if index is not None and not Path(*path.parts[:index]).is_dir():
        mount = Path(*path.parts[:index])
        raise FileNotFoundError(f"{what} not found: {path}. Google Drive is not mounted at {mount}: "
                                "run the notebook's mount cell (mount_drive()) first")
    # List the place that exists deepest, under either spelling of Drive's root.
    closest = max((p for p in (path, other) if p is not None), key=lambda p: len(_existing_parent(p).parts))
    raise FileNotFoundError(f"{what} not found: {path}. {nearby(closest)}")


def resolve_path(given) -> Optional[Path]:
    """``given`` as it exists on this machine: itself, or with Google Drive's root spelled the
    other way (``MyDrive`` / ``My Drive``); None when neither exists. The one path rule of the
    loader, the CLI and the notebooks."""
    path = Path(given).expanduser()
    if path.exists():
        return path
    other = other_drive_spelling(path)
    return other if other is not None and other.exists() else None


def drive_file_path(given) -> Path:
    """Where to write a file the user named (the history): ``given``, with Google Drive's root
    spelled the way this Drive has it; a FileNotFoundError when it is on a Drive that is not
    mounted (it would be lost with the runtime)."""
    path = Path(given).expanduser()
    index = _drive_index(path)
    if index is None:
        return path
    mount = Path(*path.parts[:index])
    if not mount.is_dir():
        raise FileNotFoundError(f"{path} is on Google Drive, which is not mounted at {mount}: run "
                                "the notebook's mount cell (mount_drive()) first, or give another path")
    other = other_drive_spelling(path)
    if other is not None and not Path(*path.parts[:index + 1]).is_dir() and Path(*other.parts[:index + 1]).is_dir():
        return other
    return path


def other_drive_spelling(path: Path) -> Optional[Path]:
    index = _drive_index(path)
    if index is None:
        return None
    swapped = DRIVE_ROOTS[1] if path.parts[index] == DRIVE_ROOTS[0] else DRIVE_ROOTS[0]
    return Path(*path.parts[:index], swapped, *path.parts[index + 1:])


def _drive_index(path: Path) -> Optional[int]:
    return next((i for i, part in enumerate(path.parts) if part in DRIVE_ROOTS), None)


def _existing_parent(path: Path) -> Path:
    parent = path.parent
    while not parent.is_dir() and parent != parent.parent:
        parent = parent.parent
    return parent


def nearby(path: Path) -> str:
    """What exists in the nearest existing parent of ``path``: entries and checkpoint files."""
    parent = _existing_parent(path)
    try:
        entries = sorted(itertools.islice((p.name for p in parent.iterdir()), 200))
    except OSError:
        return ""
    shown = ", ".join(entries[:_LISTED]) + (f" and {len(entries) - _LISTED} more" if len(entries) > _LISTED else "")
    checkpoints = [str(p.relative_to(parent)) for p in itertools.islice(parent.glob("*/*.ckpt"), 3)]
    found = f"; checkpoints there: {', '.join(checkpoints)}" if checkpoints else ""
    return f"{parent} holds: {shown or 'nothing'}{found}"


def hub_snapshot(name: str) -> Path:
    """The local folder of hub model ``name``'s config, tokenizer and weights (downloaded
    once into the Hugging Face cache; safetensors, else the pickled .bin read weights-only)."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(name, allow_patterns=["*.json", "*.txt", "*.model", "*.safetensors", "*.bin"]))


def check_hub_name_reachable(name: str, timeout: float = 3.0) -> None:
    """Nothing if ``name`` is in the local Hugging Face cache or the hub answers; otherwise an
    OSError at once (transformers would retry for half a minute before failing)."""
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise OSError(f"{name!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: "
                      "give a local directory as pretrained_model_name")
    from huggingface_hub import constants

    endpoint = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout).close()
    except OSError:
        raise OSError(f"no network: cannot download {name!r} from {endpoint.hostname}; give a "
                      "local directory as pretrained_model_name (one with config.json and "
                      "vocab.txt)") from None


def _say_which_of_several(directory: Path, chosen: Path, say: Callable[[str], None]) -> None:
    """Once, when a folder holds several checkpoints: which one is served, and why."""
    if chosen.is_dir():
        return
    count = sum(1 for path in directory.glob("*.ckpt") if path.is_file() and not is_temporary_file(path))
    if count > 1:
        why = "the lowest val_loss" if checkpoint_val_loss(chosen) is not None else "the newest (none names a val_loss)"
        say(f"{count} checkpoints in {directory}; serving {chosen.name}, {why}.")
