"""demo_app: turn a fine-tuned Korean BERT model into a live web demo.

Tasks: ``classification`` (nlpbook's sentiment chapter), ``pair-classification`` (its NLI
chapter), ``ner`` and ``qa``; see ``demo_app.tasks``. Whole data files: ``predict_file``. A
record of a demo: ``create_app(..., history="demo.sqlite")`` and ``History``.

    from demo_app import DeployArguments, load_classifier, make_inference_fn, create_app, serve

    classifier = load_classifier(DeployArguments(
        pretrained_model_name="beomi/kcbert-base",
        downstream_model_dir="/gdrive/My Drive/nlpbook/checkpoint-doccls",
    ))
    inference_fn = make_inference_fn(classifier)
    server = serve(create_app(classifier), port=5000, tunnel="ngrok")
"""

from .arguments import DeployArguments, find_best_checkpoint
from .batching import Overloaded
from .checkpoint import CheckpointError, read_state_dict
from .colab import in_colab, mount_drive
from .data_files import DataFileError
from .file_predictions import FileReport, predict_file
from .history import History
from .classifier import Classifier
from .loading import load_classifier
from .predictor import PredictionError, Predictor, make_inference_fn
from .tasks import TASKS, Prediction, get_task
from .server import ServerHandle, serve
from .tunnel import Tunnel, TunnelError, open_tunnel
from .web import WebOptions, create_app

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DataFileError",
    "FileReport",
    "History",
    "predict_file",
    "Classifier",
    "DeployArguments",
    "Overloaded",
    "Prediction",
    "PredictionError",
    "Predictor",
    "TASKS",
    "get_task",
    "find_best_checkpoint",
    "load_classifier",
    "make_inference_fn",
    "read_state_dict",
    "ServerHandle",
    "WebOptions",
    "create_app",
    "serve",
    "Tunnel",
    "TunnelError",
    "in_colab",
    "mount_drive",
    "open_tunnel",
]
