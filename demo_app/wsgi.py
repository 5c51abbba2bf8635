"""The demo as a WSGI app, configured by the environment: ``python -m demo_app.wsgi``.

``python -m demo_app.wsgi`` serves it with demo_app's waitress setup (thousands of idle or slow
visitors cost a socket each, never a thread) on ``0.0.0.0:$PORT`` (default 8000). The module's
``app`` also runs under any WSGI server, but put a buffering proxy such as nginx in front of
gunicorn: its threaded workers spend a thread on each slow client, so eight slow sockets stop
``--threads 8``.

Everything is set by environment variables (``demo_app.settings``: the model by ratsnlp's names,
upper-cased, ``DEMO_APP_FORWARDED_HOPS``, ``DEMO_APP_HISTORY``, ``PORT``, ...); with none set the
bundled demo model is served. A value that cannot be read stops the start with one line naming
its variable.

Every worker process loads its own copy of the model; one process batches best. A file uploaded
to ``POST /predict/file`` is predicted by the worker that took it, so run one worker (or sticky
sessions) when visitors upload large files and poll ``/jobs/<id>``.
"""

import sys

from .settings import setting, web_options


def app_from_environment(single_process: bool = False):
    """The app the environment describes; every setting is read (and checked) before the model loads."""
    auth = setting("DEMO_APP_AUTH")
    if auth and ":" not in auth and not single_process:
        # Each gunicorn worker would generate a password of its own: visitors would get in
        # through one worker in N. Only ``python -m demo_app.wsgi`` (one process) generates one.
        raise ValueError("DEMO_APP_AUTH names a user without a password: under a WSGI server with several "
                         "workers each would generate its own. Set DEMO_APP_AUTH=user:password (a secret)")
    options = web_options()  # an unsupported history URL stops the start now, not after the model loads
    from .loading import DeployArguments, load_predictor  # torch: after the settings are known good
    from .web import create_app

    args = DeployArguments(
        pretrained_model_name=setting("DEMO_APP_PRETRAINED_MODEL_NAME"),
        downstream_model_dir=setting("DEMO_APP_DOWNSTREAM_MODEL_DIR"),
        downstream_model_checkpoint_fpath=setting("DEMO_APP_DOWNSTREAM_MODEL_CHECKPOINT_FPATH"),
        max_seq_length=setting("DEMO_APP_MAX_SEQ_LENGTH") or 128,
        device=setting("DEMO_APP_DEVICE") or "auto",
        precision=setting("DEMO_APP_PRECISION") or "auto",
        backend=setting("DEMO_APP_BACKEND") or "auto",
        task=setting("DEMO_APP_TASK"),
    )
    return create_app(load_predictor(args), auth=auth, **options)


def listen_address() -> tuple:
    return setting("DEMO_APP_HOST") or "0.0.0.0", setting("PORT") or 8000


try:  # a setting, a checkpoint, a history URL: one line that says what to fix, under any server
    address = listen_address() if __name__ == "__main__" else ("", 0)
    app = app_from_environment(single_process=__name__ == "__main__")
except ValueError as error:
    sys.exit(f"error: {error}")


if __name__ == "__main__":
    import logging

    from .serving import serve, stop_on_sigterm

    # Each request as a line with its time (the app's own request log, as `serve` shows it);
    # gunicorn keeps its own access log (--access-logfile -).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop_on_sigterm()
    serve(app, host=address[0], port=address[1]).wait()
    predictor = app.extensions["demo_app"].predictor
    if predictor is not None:
        predictor.close()
