"""Command line: ``python -m demo_app predict ...`` and ``python -m demo_app serve ...``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import List, Optional

from .arguments import DeployArguments
from .tasks import TASKS, get_task


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m demo_app",
        description="Serve or query a fine-tuned Korean BERT model (document or sentence-pair "
        "classification, NER, QA) or an image classifier. Without model flags the task's bundled "
        "demo model is used.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{predict,serve,history}")

    model_flags = argparse.ArgumentParser(add_help=False)
    model = model_flags.add_argument_group("model (ratsnlp's deploy arguments)")
    model.add_argument("--pretrained", metavar="NAME_OR_DIR",
                       help="pretrained_model_name: hub name or local dir (default beomi/kcbert-base "
                            "when a checkpoint is given); for image-classification the "
                            "save_pretrained folder or hub name of the image model")
    where = model.add_mutually_exclusive_group()
    where.add_argument("--checkpoint-dir", metavar="DIR",
                       help="downstream_model_dir: the *.ckpt with the lowest val_loss is used")
    where.add_argument("--checkpoint", metavar="FILE",
                       help="downstream_model_checkpoint_fpath: one checkpoint file")
    model.add_argument("--max-seq-length", type=int, default=128, metavar="N",
                       help="truncate inputs to N tokens (default 128)")
    model.add_argument("--labels", metavar="A,B,...",
                       help="class names in output order, comma-separated")
    model.add_argument("--task", choices=list(TASKS), default=None,
                       help="the model's task (default: recognised from the checkpoint directory's "
                            "name, e.g. checkpoint-paircls, else classification)")
    model.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    model.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])

    predict = commands.add_parser("predict", parents=[model_flags],
                                  help="classify inputs; prints one JSON object per line")
    predict.add_argument("inputs", nargs="*", metavar="INPUT",
                         help="sentences (classification, ner); PREMISE HYPOTHESIS pairs "
                              "(pair-classification); QUESTION CONTEXT pairs (qa); image files "
                              "(image-classification)")
    data_file = predict.add_argument_group("a whole data file instead of INPUTs (see README: file formats)")
    data_file.add_argument("--input", metavar="FILE",
                           help="a .csv, .tsv (NSMC's ratings_test.txt), .jsonl or .json file with "
                                "the task's columns (sentence or document; premise, hypothesis; "
                                "question, context; image paths) and optionally a gold label column; "
                                "for image-classification also a folder of images")
    data_file.add_argument("--output", metavar="FILE",
                           help="where the rows go with their predictions (default: standard output)")
    data_file.add_argument("--format", dest="input_format", choices=["csv", "tsv", "jsonl", "json"],
                           help="the input's format (default: from its extension)")
    data_file.add_argument("--on-bad-row", choices=["skip", "fail"], default="skip",
                           help="skip: write a bad row with its error and go on (default); fail: stop "
                                "at the first bad row")
    data_file.add_argument("--resume", action="store_true",
                           help="continue the --output file a stopped run left")
    data_file.add_argument("--no-progress", action="store_true", help="no progress bar")

    serve = commands.add_parser("serve", parents=[model_flags], help="serve the web demo")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    serve.add_argument("--port", type=int, default=5000, help="port (default 5000; 0 for any free port)")
    serve.add_argument("--tunnel", default="none", choices=["none", "ngrok", "ssh"],
                       help="make the demo public (ngrok needs NGROK_AUTHTOKEN)")
    serve.add_argument("--ssh-host", default=None, help="ssh tunnel host (default localhost.run)")
    serve.add_argument("--auth", metavar="USER", default=os.environ.get("DEMO_APP_AUTH"),
                       help="require HTTP basic auth from visitors: asks for USER's password (or "
                            "set DEMO_APP_AUTH=user:password; a password on the command line "
                            "shows in ps)")
    serve.add_argument("--rate-limit", metavar="N/minute", default=None,
                       help="per-client limit, e.g. 30/minute (default: 60/minute once a tunnel "
                            "is open, none without)")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="allow this origin to call the API (repeatable); none by default")
    serve.add_argument("--history", metavar="PATH", default=None,
                       help="keep every prediction and visitors' corrections in this SQLite file "
                            "(the page tells visitors); off by default")

    history = commands.add_parser("history", help="export a demo's history (serve --history)")
    history.add_argument("path", metavar="PATH", help="the history file")
    history.add_argument("--flagged", action="store_true", help="only results visitors marked wrong")
    history.add_argument("--format", default="csv",
                         choices=["csv", "tsv", "jsonl", "nsmc", "klue-nli", "ner", "korquad"],
                         help="csv/tsv/jsonl: every column; nsmc (document classification), klue-nli "
                              "(pairs), ner, korquad (QA): flagged corrections as training data in "
                              "the book's corpus format")
    history.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    return parser


def deploy_arguments(options: argparse.Namespace) -> DeployArguments:
    labels = [label.strip() for label in options.labels.split(",")] if options.labels else None
    return DeployArguments(
        pretrained_model_name=options.pretrained,
        downstream_model_dir=options.checkpoint_dir,
        downstream_model_checkpoint_fpath=options.checkpoint,
        max_seq_length=options.max_seq_length,
        labels=labels,
        device=options.device,
        precision=options.precision,
        task=options.task,
    )


def main(argv: Optional[List[str]] = None) -> int:
    options = build_parser().parse_args(argv)
    _quiet_libraries()
    try:
        if options.command == "predict":
            return _predict(options)
        if options.command == "history":
            return _export_history(options)
        return _serve(options)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `... | head` stopped reading: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # noqa: BLE001 - one line that says what to fix, no traceback
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 1


def _predict(options: argparse.Namespace) -> int:
    from .loading import load_classifier
    from .predictor import make_inference_fn

    if bool(options.inputs) == bool(options.input):
        raise ValueError("give INPUTs on the command line or --input FILE (one of the two)")
    if options.input is None and (options.output or options.resume):
        raise ValueError("--output and --resume go with --input FILE")
    if options.input is not None:
        return _predict_file(options)
    if options.task:  # a wrong number of inputs fails before the model is loaded
        _group_inputs(options.inputs, get_task(options.task).fields)
    predictor = load_classifier(deploy_arguments(options), batching=False)
    inference_fn = make_inference_fn(predictor)
    if predictor.task.input_kind == "image":  # INPUTs are image files
        for name in options.inputs:
            print(json.dumps({"image": name, **inference_fn(Path(name))}, ensure_ascii=False), flush=True)
        return 0
    for texts in _group_inputs(options.inputs, predictor.task.fields):
        print(json.dumps(inference_fn(*texts), ensure_ascii=False), flush=True)
    return 0


def _predict_file(options: argparse.Namespace) -> int:
    from .file_predictions import BadRowError, predict_file
    from .loading import load_classifier

    if not os.path.exists(options.input):
        raise FileNotFoundError(f"no such input file: {options.input}")
    predictor = load_classifier(deploy_arguments(options), batching=False)
    try:
        report = predict_file(predictor, options.input, options.output, on_bad_row=options.on_bad_row,
                              resume=options.resume, input_format=options.input_format,
                              progress=not options.no_progress)
    except BadRowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    resumed = f", {report.resumed} of them from the earlier run" if report.resumed else ""
    print(f"{report.rows} rows{resumed}: {report.predicted} predicted, {report.skipped} skipped"
          + (f" (written with their error; see above)" if report.skipped else "")
          + (f"; written to {options.output}" if options.output else ""), file=sys.stderr)
    if report.summary is not None and report.summary.total:
        print(report.summary.format(), file=sys.stderr)
    return 0


def _group_inputs(inputs: List[str], fields) -> List[List[str]]:
    """The command line's INPUTs as one group per model input (pairs for pair tasks)."""
    size = len(fields)
    if len(inputs) % size:
        order = " ".join(field.upper() for field in fields)
        given = "1 input was" if len(inputs) == 1 else f"{len(inputs)} inputs were"
        raise ValueError(f"{given} given, but this task takes them in groups of {size} "
                         f"({order} ...): add or remove one")
    return [inputs[i:i + size] for i in range(0, len(inputs), size)]


def _serve(options: argparse.Namespace) -> int:
    from .loading import load_classifier
    from .server import serve
    from .web import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` and process managers stop as Ctrl-C does
    tunnel = None if options.tunnel == "none" else options.tunnel
    logging.getLogger("pyngrok").setLevel(logging.WARNING)
    auth = _visitor_auth(options.auth)
    classifier = load_classifier(deploy_arguments(options))
    app = create_app(classifier, auth=auth, rate_limit=options.rate_limit,
                     cors_origins=options.cors_origin, history=options.history)
    if options.history:
        print(f"History on: every prediction is kept in {options.history} (the page says so).", flush=True)
    tunnel_options = {"ssh_host": options.ssh_host} if tunnel == "ssh" and options.ssh_host else {}
    handle = serve(app, host=options.host, port=options.port, tunnel=tunnel, **tunnel_options)
    print("Press Ctrl-C to stop.", flush=True)
    handle.wait()
    print("Stopped.", flush=True)
    return 0


def _export_history(options: argparse.Namespace) -> int:
    from .history import History, export

    if not os.path.isfile(options.path):
        raise FileNotFoundError(f"no such history file: {options.path}")
    history = History(options.path)
    output = open(options.output, "w", encoding="utf-8", newline="") if options.output else sys.stdout
    try:
        written = export(history, output, options.format, flagged_only=options.flagged)
    finally:
        if output is not sys.stdout:
            output.close()
    what = "correction" if options.format in ("nsmc", "klue-nli", "ner", "korquad") else "row"
    print(f"{written} {what}{'' if written == 1 else 's'} written" + (f" to {options.output}" if options.output else ""), file=sys.stderr)
    return 0


def _visitor_auth(auth: Optional[str]) -> Optional[str]:
    """``user:password`` from ``--auth``: a bare user name asks for the password."""
    if not auth or ":" in auth:
        if auth and "DEMO_APP_AUTH" not in os.environ:
            print("warning: a password given on the command line is visible to other users "
                  "(ps); use --auth USER (asks) or DEMO_APP_AUTH", file=sys.stderr)
        return auth
    if not sys.stdin.isatty():
        raise ValueError(f"--auth {auth} needs a password: run in a terminal to be asked, or set "
                         "DEMO_APP_AUTH=user:password")
    import getpass

    return f"{auth}:{getpass.getpass(f'Password for visitor {auth!r}: ')}"


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _quiet_libraries() -> None:
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
    except ImportError:
        pass


def _one_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    if isinstance(error, OSError) and error.strerror and error.filename is None and error.errno:
        text = error.strerror
    return " ".join(text.split())
