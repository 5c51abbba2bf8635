"""demo_app: turn a fine-tuned Korean BERT model into a live web demo.

Tasks: ``classification`` (nlpbook's sentiment chapter), ``pair-classification`` (its NLI
chapter), ``ner``, ``qa``, ``generation`` (its KoGPT2 chapter) and ``image-classification``;
see ``demo_app.tasks``. Whole data
files: ``predict_file``. A record of a demo: ``create_app(..., history="demo.sqlite")`` and
``History``. A demo that outlives the notebook: ``export_app`` (a folder a container host or a
Hugging Face Space runs) and ``push_to_space``.

    from demo_app import DeployArguments, load_predictor, make_inference_fn, create_app, serve

    predictor = load_predictor(DeployArguments(
        pretrained_model_name="beomi/kcbert-base",
        downstream_model_dir="/gdrive/My Drive/nlpbook/checkpoint-doccls",
    ))
    inference_fn = make_inference_fn(predictor)
    server = serve(create_app(predictor), port=5000, tunnel="ngrok")

The package's layers, each a subpackage: ``tasks`` (what each kind of model needs), ``loading``
(files -> a checked model), ``inference`` (the predictor and its batching), ``files`` (whole data
files), ``history``, ``web`` (the Flask app) and ``serving`` (server, tunnel, Colab); ``cli`` and
``wsgi`` are the entry points.
"""

__version__ = "0.1.0"  # the one place: pyproject.toml reads it

from importlib import import_module
from typing import TYPE_CHECKING

# Where each public name lives. They are imported at first use (PEP 562's module ``__getattr__``),
# so ``import demo_app`` stays cheap: torch, transformers, Flask and SQLAlchemy load only when a
# name that needs them is used. A maintained helper exists (``lazy_loader``); these ten lines are
# all it would do here.
_PUBLIC_NAMES = {
    "in_colab": "colab", "mount_drive": "colab",
    "DataFileError": "files", "FileReport": "files", "predict_file": "files",
    "History": "history",
    "Overloaded": "inference", "PredictionError": "inference", "Predictor": "inference",
    "make_inference_fn": "inference",
    "CheckpointError": "loading", "DeployArguments": "loading", "GenerationDeployArguments": "loading",
    "find_best_checkpoint": "loading", "load_classifier": "loading", "load_predictor": "loading",
    "read_state_dict": "loading", "resolve_path": "loading",
    "HubError": "serving", "ServerHandle": "serving", "Tunnel": "serving", "TunnelError": "serving",
    "export_app": "serving", "open_tunnel": "serving", "push_to_space": "serving", "serve": "serving",
    "TASKS": "tasks", "Prediction": "tasks", "get_task": "tasks",
    "WebOptions": "web", "create_app": "web",
}


def __getattr__(name: str):
    if name not in _PUBLIC_NAMES:
        raise AttributeError(f"module 'demo_app' has no attribute {name!r}")
    value = getattr(import_module(f".{_PUBLIC_NAMES[name]}", __name__), name)
    globals()[name] = value  # the next use is a plain attribute
    return value


def __dir__() -> list:
    return sorted({*globals(), *_PUBLIC_NAMES})


if TYPE_CHECKING:  # type checkers and editors see the names as if imported here
    from .colab import in_colab, mount_drive
    from .files import DataFileError, FileReport, predict_file
    from .history import History
    from .inference import Overloaded, PredictionError, Predictor, make_inference_fn
    from .loading import (
        CheckpointError,
        DeployArguments,
        GenerationDeployArguments,
        find_best_checkpoint,
        load_classifier,
        load_predictor,
        read_state_dict,
        resolve_path,
    )
    from .serving import HubError, ServerHandle, Tunnel, TunnelError, export_app, open_tunnel, push_to_space, serve
    from .tasks import TASKS, Prediction, get_task
    from .web import WebOptions, create_app

__all__ = [
    "CheckpointError",
    "DataFileError",
    "FileReport",
    "History",
    "HubError",
    "predict_file",
    "DeployArguments",
    "GenerationDeployArguments",
    "Overloaded",
    "Prediction",
    "PredictionError",
    "Predictor",
    "TASKS",
    "get_task",
    "find_best_checkpoint",
    "load_classifier",
    "load_predictor",
    "make_inference_fn",
    "read_state_dict",
    "resolve_path",
    "ServerHandle",
    "WebOptions",
    "create_app",
    "export_app",
    "push_to_space",
    "serve",
    "Tunnel",
    "TunnelError",
    "in_colab",
    "mount_drive",
    "open_tunnel",
]
