"""What every loader needs: the device, the config (never running a model's own code), quiet
libraries, and the lines that tell the student what is being loaded."""

from __future__ import annotations

import contextlib
import ctypes
import sys
import warnings
from pathlib import Path

from .checkpoint import CheckpointError


def resolve_device(requested: str) -> str:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"``: ``requested``, checked, or the auto choice (a GPU
    when torch sees one)."""
    if requested == "auto":
        return "cuda" if cuda_available() else "cpu"
    if requested.startswith("cuda") and not cuda_available():
        raise RuntimeError("device='cuda' was asked for but no CUDA GPU is available; use 'auto' or 'cpu'")
    return requested


def cuda_available() -> bool:
    """torch's ``cuda.is_available()``, asked only where NVIDIA's driver library is installed: a
    machine without it has no CUDA GPU, and knowing that without importing torch lets a model
    served through OpenVINO start in half the time (``inference/model_io.py``)."""
    try:
        ctypes.CDLL("nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1")
    except OSError:
        return False
    import torch

    return torch.cuda.is_available()


def quiet_library_warnings() -> None:
    """Before importing transformers: it imports tqdm.auto, which warns in Jupyter without
    ipywidgets (Colab has them); transformers 4.36-4.38 warn about a torch API they use
    internally. Nothing a student can fix."""
    warnings.filterwarnings("ignore", message="IProgress not found")
    warnings.filterwarnings("ignore", message=".*_register_pytree_node. is deprecated", category=FutureWarning)


@contextlib.contextmanager
def quiet_transformers():
    """No progress bar or backend advice from transformers while loading (transformers 5 says
    torchvision is missing, which this project cannot install; its Pillow backend is used)."""
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        logging.enable_progress_bar()


def load_config(pretrained: str):
    """The pretrained model's config, never running code from its files."""
    quiet_library_warnings()
    from transformers import AutoConfig  # imported here: transformers takes a second to import

    try:
        return AutoConfig.from_pretrained(pretrained, trust_remote_code=False)
    except ValueError as error:
        if "trust_remote_code" in str(error) or "custom code" in str(error):
            raise CheckpointError(f"{pretrained}'s config.json asks to run code shipped with the "
                                  "model (auto_map); demo_app never runs code from model files: use "
                                  "a standard architecture such as bert") from None
        raise CheckpointError(f"{pretrained}'s config.json is not usable: {first_line(error)}") from None


def first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def size_note(path: Path) -> str:
    """`` (12.3 MB)`` for a file, nothing for a folder."""
    if path.is_file():
        return f" ({path.stat().st_size / 1e6:.1f} MB)"
    return ""


def say(message: str) -> None:
    print(f"[demo_app] {message}", file=sys.stderr, flush=True)


def silent(message: str) -> None:
    """``say`` for ``verbose=False``."""
