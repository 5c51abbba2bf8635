"""Reading fine-tuned weights from every format students end up with, without running code.

Formats: a PyTorch Lightning / ratsnlp ``.ckpt`` (weights under ``state_dict``, keys prefixed
``model.``), a bare ``state_dict`` saved with ``torch.save`` (``.pth``, ``.bin``, ``.pt``), a
``.safetensors`` file, and a Hugging Face ``save_pretrained`` directory.

Pickle-based files are always read with ``weights_only=True``: a file that needs arbitrary Python
objects is refused instead of executed. They are memory-mapped where possible, so the optimizer
states of a 1.3 GB Lightning file are mapped but never read.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

logger = logging.getLogger(__name__)

if TYPE_CHECKING:  # imported when weights are read: a model served from the conversion cache needs none
    import torch

StateDict = Dict[str, "torch.Tensor"]

MAX_CLASSES = 10_000  # far more than any demo's labels; a larger "head" is a broken file
MAX_TENSOR_ELEMENTS = 2 ** 31  # more than any BERT's largest tensor (a 250k x 4096 embedding)
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
HF_INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
LIGHTNING_PREFIX = "model."


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message says what is wrong and what to do."""


def is_hf_model_dir(path: Path) -> bool:
    """True for a directory written by ``save_pretrained`` (config plus weights)."""
    return (path / "config.json").is_file() and any(
        (path / name).is_file() for name in HF_WEIGHT_FILES + HF_INDEX_FILES
    )


@dataclasses.dataclass
class Checkpoint:
    """What a checkpoint file holds that demo_app uses: the weights, and for a Lightning file
    the name of the folder its ``ModelCheckpoint`` saved into (``checkpoint-paircls``): a record
    of the task it was trained for that survives renaming or copying the folder."""

    state_dict: StateDict
    trained_in: Optional[str] = None


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read model weights from ``path`` (any supported format) as a plain ``state_dict``, and
    Lightning's record of where the file was saved.

    Lightning's ``model.`` prefix is removed, so the keys match
    ``AutoModelForSequenceClassification`` (``bert.encoder...``, ``classifier.weight``).
    """
    path = Path(path).expanduser()
    trained_in = None
    if path.is_dir():
        raw = _read_hf_dir(path)
    elif not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    elif path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): the copy or download did not finish; "
                              "copy the checkpoint again")
    elif path.suffix == ".safetensors":
        raw = _read_safetensors(path)
    else:
        raw, trained_in = _read_torch_file(path)
    return Checkpoint(_strip_lightning_prefix(raw), trained_in)


def read_state_dict(path: str | Path) -> StateDict:
    """The weights of :func:`read_checkpoint` alone."""
    return read_checkpoint(path).state_dict


def _read_hf_dir(directory: Path) -> StateDict:
    for index_name in HF_INDEX_FILES:
        index_path = directory / index_name
        if index_path.is_file():
            shards = sorted(set(json.loads(index_path.read_text())["weight_map"].values()))
            state_dict: StateDict = {}
            for shard in shards:
                state_dict.update(read_state_dict(directory / shard))
            return state_dict
    for name in HF_WEIGHT_FILES:
        if (directory / name).is_file():
            return read_state_dict(directory / name)
    raise CheckpointError(
        f"{directory} is a directory without model weights (looked for "
        f"{', '.join(HF_WEIGHT_FILES)}); pass a checkpoint file or a directory of *.ckpt files"
    )


def _read_safetensors(path: Path) -> StateDict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable .safetensors file ({error})") from None


def _read_torch_file(path: Path) -> Tuple[StateDict, Optional[str]]:
    import torch

    checkpoint = _torch_load_weights_only(path)
    trained_in = None
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        trained_in = _trained_in(checkpoint.get("callbacks"))
        checkpoint = checkpoint["state_dict"]  # Lightning: epoch, optimizer_states, ... beside it
    if not isinstance(checkpoint, dict) or not checkpoint:
        raise CheckpointError(
            f"{path} holds no model weights (expected a Lightning checkpoint with 'state_dict' "
            f"or a saved model.state_dict(), found {type(checkpoint).__name__})"
        )
    tensors = {k: v for k, v in checkpoint.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if len(tensors) != len(checkpoint):
        others = sorted(str(k) for k, v in checkpoint.items() if not isinstance(v, torch.Tensor))
        raise CheckpointError(
            f"{path} is not a state_dict: entries that are not tensors: {', '.join(others[:8])}"
        )
    return tensors, trained_in


def _trained_in(callbacks: object) -> Optional[str]:
    """The name of the folder Lightning's ModelCheckpoint saved into (its ``dirpath``)."""
    if not isinstance(callbacks, dict):
        return None
    for state in callbacks.values():
        dirpath = state.get("dirpath") if isinstance(state, dict) else None
        if isinstance(dirpath, str) and dirpath.strip():
            return PurePosixPath(dirpath.replace("\\", "/")).name or None
    return None


def _torch_load_weights_only(path: Path):
    import torch

    _check_not_compressed(path)
    try:
        # mmap needs the zip format of torch >= 1.6; older files are read the plain way below.
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as error:
        raise _refused(path, error) from None
    except RuntimeError as error:
        if "central directory" in str(error):
            raise CheckpointError(f"{path} is truncated ({path.stat().st_size:,} bytes; the end of "
                                  "the archive is missing): copy the checkpoint again") from None
        if "mmap" not in str(error) and "zip" not in str(error).lower():
            raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({error})") from None
    except Exception as error:  # noqa: BLE001 - every other failure means the same to a user
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({error})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise _refused(path, error) from None
    except Exception as error:  # noqa: BLE001
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({error})") from None


def zip_directory(path: Path) -> Optional[List[zipfile.ZipInfo]]:
    """The entries of a zip archive's directory (torch's format since 1.6; a few KB at the end of
    the file), or None for a file that is not one."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def _check_not_compressed(path: Path) -> None:
    """torch.save stores its archive's entries uncompressed, and reading them memory-mapped
    assumes so: a compressed entry (a re-zipped or crafted file, a "zip bomb") would be read as
    garbage. Only the archive's directory is read here."""
    entries = zip_directory(path)
    if entries is None:
        return  # the legacy (pre-1.6) format, read the plain way, or a broken file torch explains
    compressed = [info.filename for info in entries if info.compress_type != zipfile.ZIP_STORED]
    if compressed:
        raise CheckpointError(f"{path} is a compressed archive ({compressed[0]} and {len(compressed) - 1} "
                              "more entries), which torch.save never writes: it was re-zipped or "
                              "forged; use the file training wrote, or save the weights again with "
                              "torch.save(model.state_dict(), 'model.pth')")


def _refused(path: Path, error: Exception) -> CheckpointError:
    message = str(error)
    # A pickle names code to run through GLOBAL opcodes; torch quotes the one it blocked.
    blocked = next((line.strip() for line in message.splitlines() if "GLOBAL" in line), "")
    if not blocked:
        return CheckpointError(f"{path} is not a readable PyTorch checkpoint (corrupt, or not a "
                               "file written by torch.save)")
    return CheckpointError(
        f"{path} is not a plain weights file: it contains Python objects that would run code "
        f"when loaded, so it was refused ({blocked}). Load it only if you trust its author, and "
        "re-save just the weights with torch.save(model.state_dict(), 'model.pth')."
    )


def _strip_lightning_prefix(state_dict: StateDict) -> StateDict:
    if state_dict and all(key.startswith(LIGHTNING_PREFIX) for key in state_dict):
        return {key[len(LIGHTNING_PREFIX):]: value for key, value in state_dict.items()}
    return state_dict


def check_tensors(state_dict: StateDict) -> None:
    """Refuse tensors no training run writes, before anything is allocated for them: a zero
    stride (one stored value posing as billions), more elements than any model has, NaN or
    infinity. The last check reads the weights once (a few hundred MB for kcbert-base)."""
    import torch

    for key, tensor in state_dict.items():
        if tensor.numel() > MAX_TENSOR_ELEMENTS:
            raise CheckpointError(f"the checkpoint's {key} claims {tensor.numel():,} elements "
                                  f"(shape {list(tensor.shape)}), more than any model has: the file is broken")
        if any(stride == 0 and size > 1 for stride, size in zip(tensor.stride(), tensor.shape)):
            raise CheckpointError(f"the checkpoint's {key} (shape {list(tensor.shape)}) repeats one "
                                  "stored value: no training run writes that; the file is broken or forged")
    for key, tensor in state_dict.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"the checkpoint's {key} holds NaN or infinite values: training "
                                  "diverged; use a checkpoint from an earlier epoch or retrain with a "
                                  "lower learning rate")
