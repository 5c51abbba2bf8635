"""Writing checkpoints in the layout PyTorch Lightning 1.6 uses for ratsnlp's ClassificationTask.

demo_app reads these files; this module writes them without Lightning, for the demo model's
training script, the tests and the benchmark, so all three use files shaped like a student's.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from pathlib import Path
from typing import Optional

import torch

LIGHTNING_VERSION = "1.6.1"


def lightning_checkpoint(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Optional[object] = None,
    *,
    epoch: int,
    global_step: int,
    val_loss: float,
    filename: str,
    dirpath: str = "checkpoint-doccls",
) -> dict:
    """The dict Lightning saves: ``state_dict`` (keys ``model.`` + the HF model's keys, as
    ratsnlp's task holds the model as ``self.model``), optimizer moments, scheduler, callbacks
    and loop state. ``dirpath`` is the checkpoint folder's name (nlpbook's, per task). Tensors
    are copied, so training can go on after this call."""
    score = torch.tensor(float(val_loss))
    callback = ("ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0,"
                " 'every_n_epochs': 1, 'train_time_interval': None, 'save_on_train_epoch_end': True}")
    checkpoint = {
        "epoch": epoch,
        "global_step": global_step,
        "pytorch-lightning_version": LIGHTNING_VERSION,
        "state_dict": OrderedDict(("model." + k, v) for k, v in model.state_dict().items()),
        "loops": {
            "fit_loop": {"state_dict": {}, "epoch_loop.state_dict": {"_batches_that_stepped": global_step},
                         "epoch_progress": {"total": {"ready": epoch + 1, "completed": epoch}}},
            "validate_loop": {"state_dict": {}},
            "test_loop": {"state_dict": {}},
            "predict_loop": {"state_dict": {}},
        },
        "callbacks": {callback: {
            "monitor": "val_loss", "best_model_score": score, "best_model_path": filename,
            "current_score": score, "dirpath": dirpath, "best_k_models": {filename: score},
            "kth_best_model_path": filename, "kth_value": score, "last_model_path": "",
        }},
        "optimizer_states": [optimizer.state_dict()],
        "lr_schedulers": [scheduler.state_dict()] if scheduler is not None else [],
    }
    return copy.deepcopy(checkpoint)  # state_dict() tensors share storage with the live model


def checkpoint_filename(epoch: int, val_loss: float) -> str:
    """Lightning's ModelCheckpoint name for ratsnlp: ``epoch=2-val_loss=0.31.ckpt``."""
    return f"epoch={epoch}-val_loss={val_loss:.2f}.ckpt"


def save_lightning_checkpoint(checkpoint: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path
