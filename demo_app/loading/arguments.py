"""Deploy arguments (ratsnlp's names) and choosing the checkpoint to serve."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Optional, Sequence

from ..inference.precision import BACKENDS, PRECISIONS
from ..tasks import get_task

# The document-classification demo model (each task names its own: tasks/*.py).
DEMO_PRETRAINED_DIR = get_task(None).checkpoints.demo_pretrained_dir

DEFAULT_PRETRAINED_MODEL_NAME = "beomi/kcbert-base"

# Lightning's ModelCheckpoint names files like "epoch=2-val_loss=0.31.ckpt" and, when a name is
# taken, "epoch=2-val_loss=0.31-v1.ckpt".
_VAL_LOSS = re.compile(r"val_loss=(?P<loss>[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)")
# Files that are still being written or were left behind by an interrupted save. Only the file's
# own name is checked: a checkpoint directory under /tmp is fine (ratsnlp rejected those).
_TEMPORARY_NAME = re.compile(r"(^\.|^tmp|^temp|\.tmp$|\.temp$|\.part$|~$)", re.IGNORECASE)


@dataclasses.dataclass
class DeployArguments:
    """What to load, with the argument names of ratsnlp's ``ClassificationDeployArguments``.

    Leave every model field empty to use the small demo model that ships with demo_app.

    pretrained_model_name: hub name or local directory of the base model; gives the tokenizer and
        the architecture (``config.json``). Defaults to ``beomi/kcbert-base`` when a checkpoint is
        given.
    downstream_model_dir: directory of fine-tuned checkpoints; the ``*.ckpt`` with the lowest
        ``val_loss`` in its name is used (or a ``save_pretrained`` directory).
    downstream_model_checkpoint_fpath: one checkpoint file; wins over ``downstream_model_dir``.
        ``downstream_model_checkpoint_path``, the name older ratsnlp versions and the book's
        generation chapter use, is the same argument.
    max_seq_length: longer inputs are truncated to this many tokens.
    task: ``"classification"``, ``"pair-classification"``, ...; None recognises it from the
        checkpoint (nlpbook's directory names such as ``checkpoint-paircls``), else
        classification. With no model fields, the task's own bundled demo model is used.
    labels: class names in the model's output order; defaults to negative/positive for two classes.
    device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    precision: ``"auto"`` (the fastest measured-safe choice for the device), ``"fp32"``, ``"bf16"``
        or ``"fp16"`` (CUDA only).
    backend: ``"auto"`` (OpenVINO for a kcbert-sized encoder on the CPU when installed, else
        PyTorch), ``"torch"`` or ``"openvino"``.
    cache_dir: where OpenVINO conversions are kept between loads (default ``$DEMO_APP_CACHE`` or
        ``~/.cache/demo_app``); ``""`` conversions at every load and keeps nothing.
    """

    pretrained_model_name: Optional[str] = None
    downstream_model_dir: Optional[str] = None
    downstream_model_checkpoint_fpath: Optional[str] = None
    max_seq_length: int = 128
    labels: Optional[Sequence[str]] = None
    device: str = "auto"
    precision: str = "auto"
    task: Optional[str] = None
    backend: str = "auto"
    cache_dir: Optional[str] = None
    downstream_model_checkpoint_path: dataclasses.InitVar[Optional[str]] = None

    def __post_init__(self, downstream_model_checkpoint_path: Optional[str]) -> None:
        if downstream_model_checkpoint_path is not None:
            self.downstream_model_checkpoint_fpath = (self.downstream_model_checkpoint_fpath
                                                      or downstream_model_checkpoint_path)
        if self.task is not None:
            get_task(self.task)  # an unknown name fails here, listing the tasks
        if not isinstance(self.max_seq_length, int) or isinstance(self.max_seq_length, bool):
            raise TypeError(f"max_seq_length must be an int, got {self.max_seq_length!r}")
        if self.max_seq_length < 2:
            raise ValueError(f"max_seq_length must be at least 2, got {self.max_seq_length}")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        for name, allowed in (("precision", ("auto", *PRECISIONS)), ("backend", ("auto", *BACKENDS))):
            value = getattr(self, name)
            if value not in allowed:
                choices = ", ".join(repr(choice) for choice in allowed[:-1])
                raise ValueError(f"{name} must be {choices} or {allowed[-1]!r}, got {value!r}")
        if self.labels is not None:
            if isinstance(self.labels, str) or not all(isinstance(x, str) for x in self.labels):
                raise TypeError("labels must be a list of class names, e.g. ['negative', 'positive']")
            self.labels = tuple(self.labels)

    @property
    def uses_demo_model(self) -> bool:
        """True when no model was named, so the bundled demo model is used."""
        return not (
            self.pretrained_model_name
            or self.downstream_model_dir
            or self.downstream_model_checkpoint_fpath
        )


@dataclasses.dataclass
class GenerationDeployArguments(DeployArguments):
    """ratsnlp's ``GenerationDeployArguments``: ``DeployArguments`` for nlpbook's
    sentence-generation chapter (``task="generation"``). With no checkpoint, the pretrained
    model itself is served (the book: ``downstream_model_checkpoint_path=None``)."""

    task: Optional[str] = "generation"


def checkpoint_val_loss(path: Path) -> Optional[float]:
    """The ``val_loss`` encoded in a Lightning checkpoint file name, or None."""
    match = _VAL_LOSS.search(path.name)
    return float(match.group("loss")) if match else None


def is_temporary_file(path: Path) -> bool:
    return bool(_TEMPORARY_NAME.search(path.name))


def find_best_checkpoint(directory: str | Path) -> Path:
    """The ``*.ckpt`` in ``directory`` with the lowest ``val_loss`` in its name.

    Files without a ``val_loss`` (``last.ckpt``) are used only when no file has one; ties go to
    the newest file. Raises FileNotFoundError saying what was looked for and what was found.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory not found: {directory}")
    candidates = [p for p in directory.glob("*.ckpt") if p.is_file() and not is_temporary_file(p)]
    if not candidates:
        found = sorted(p.name for p in directory.iterdir())[:10]
        raise FileNotFoundError(
            f"no *.ckpt checkpoint in {directory} (looked for files like "
            f"'epoch=2-val_loss=0.31.ckpt'; found: {', '.join(found) if found else 'nothing'})"
        )
    with_loss = [p for p in candidates if checkpoint_val_loss(p) is not None]
    if with_loss:
        return min(with_loss, key=lambda p: (checkpoint_val_loss(p), -p.stat().st_mtime))
    return max(candidates, key=lambda p: p.stat().st_mtime)
