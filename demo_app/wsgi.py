"""The demo as a WSGI app, configured by the environment: ``python -m demo_app.wsgi``.

``python -m demo_app.wsgi`` serves it with demo_app's waitress setup (thousands of idle or slow
visitors cost a socket each, never a thread) on ``0.0.0.0:$PORT`` (default 8000). The module's
``app`` also runs under any WSGI server, but put a buffering proxy such as nginx in front of
gunicorn: its threaded workers spend a thread on each slow client, so eight slow sockets stop
``--threads 8``.

The model is chosen by environment variables (ratsnlp's names, upper-cased); with none set the
bundled demo model is served:

    DEMO_APP_PRETRAINED_MODEL_NAME          hub name or local dir (default beomi/kcbert-base)
    DEMO_APP_DOWNSTREAM_MODEL_DIR           directory of *.ckpt files (lowest val_loss wins)
    DEMO_APP_DOWNSTREAM_MODEL_CHECKPOINT_FPATH   one checkpoint file
    DEMO_APP_MAX_SEQ_LENGTH                 default 128
    DEMO_APP_TASK                           classification, pair-classification, ... (default: recognised)
    DEMO_APP_DEVICE / DEMO_APP_PRECISION    auto, cpu, cuda / auto, fp32, bf16, fp16
    DEMO_APP_BACKEND                        auto, torch, openvino
    DEMO_APP_CACHE                          where OpenVINO exports are kept (default ~/.cache/demo_app)
    DEMO_APP_AUTH                           user:password for visitor basic auth
    DEMO_APP_RATE_LIMIT                     e.g. 60/minute per client
    DEMO_APP_CORS_ORIGINS                   comma-separated origins allowed to call the API
    DEMO_APP_FORWARDED_HOPS                 trusted proxies that append to X-Forwarded-For
    DEMO_APP_HISTORY                        a SQLite file keeping every prediction (off by default;
                                            several workers may share one file)
    DEMO_APP_HOST / PORT                    where python -m demo_app.wsgi listens

Every worker process loads its own copy of the model; one process batches best. A file uploaded
to ``POST /predict/file`` is predicted by the worker that took it, so run one worker (or sticky
sessions) when visitors upload large files and poll ``/jobs/<id>``.
"""

import os

from .loading import DeployArguments, load_predictor
from .serving import serve, stop_on_sigterm
from .web import create_app


def _env(name: str, default=None):
    return os.environ.get(f"DEMO_APP_{name}") or default


def app_from_environment():
    args = DeployArguments(
        pretrained_model_name=_env("PRETRAINED_MODEL_NAME"),
        downstream_model_dir=_env("DOWNSTREAM_MODEL_DIR"),
        downstream_model_checkpoint_fpath=_env("DOWNSTREAM_MODEL_CHECKPOINT_FPATH"),
        max_seq_length=int(_env("MAX_SEQ_LENGTH", "128")),
        device=_env("DEVICE", "auto"),
        precision=_env("PRECISION", "auto"),
        backend=_env("BACKEND", "auto"),
        task=_env("TASK"),
    )
    origins = [o.strip() for o in _env("CORS_ORIGINS", "").split(",") if o.strip()]
    return create_app(load_predictor(args), auth=_env("AUTH"), rate_limit=_env("RATE_LIMIT"),
                      cors_origins=origins, forwarded_hops=int(_env("FORWARDED_HOPS", "0")),
                      history=_env("HISTORY"))


app = app_from_environment()


if __name__ == "__main__":
    stop_on_sigterm()
    serve(app, host=_env("HOST", "0.0.0.0"), port=int(os.environ.get("PORT") or 8000)).wait()
    predictor = app.extensions["demo_app"].predictor
    if predictor is not None:
        predictor.close()
