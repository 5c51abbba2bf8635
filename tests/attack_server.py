"""A demo server in a process of its own, for the attack tests (its memory is measured alone,
it can be killed): ``python tests/attack_server.py '{"port": N, "model": {...}, "app": {...}}'``
serves ``load_predictor(DeployArguments(**model))`` with ``create_app(..., **app)`` until SIGTERM."""

import json
import signal
import sys

from demo_app import DeployArguments, create_app, load_predictor, serve


def stop(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    config = json.loads(sys.argv[1])
    signal.signal(signal.SIGTERM, stop)
    predictor = load_predictor(DeployArguments(**config.get("model", {})), verbose=False)
    handle = serve(create_app(predictor, **config.get("app", {})), port=config["port"], quiet=True)
    print("serving", flush=True)
    handle.wait()
    predictor.close()
