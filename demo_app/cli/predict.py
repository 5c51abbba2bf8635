"""``python -m demo_app predict``: inputs on the command line, or a whole data file (``--input``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import List

from ..files.formats import input_formats
from ..tasks import get_task
from ..tasks.fields import check_names
from .model_flags import deploy_arguments


def add_parser(commands, model_flags: argparse.ArgumentParser) -> None:
    predict = commands.add_parser("predict", parents=[model_flags],
                                  help="classify inputs; prints one JSON object per line")
    predict.add_argument("inputs", nargs="*", metavar="INPUT",
                         help="sentences (classification, ner); PREMISE HYPOTHESIS pairs "
                              "(pair-classification); QUESTION CONTEXT pairs (qa); image files "
                              "(image-classification); prompts (generation)")
    predict.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                         help="a task's setting for the INPUTs, e.g. generation's --set top_k=1 "
                              "--set max_length=40 (repeatable; in a data file, columns of those names "
                              "set them per row)")
    why = predict.add_argument_group("explanations (see docs/explanations.md)")
    why.add_argument("--explain", action="store_true",
                     help="for each INPUT, print why: each word's attribution to the answer (integrated "
                          "gradients; runs the PyTorch model)")
    why.add_argument("--target", help="with --explain: the class to explain (a name or an index), or an "
                                      "entity's or candidate answer's index (default: the answer given)")
    why.add_argument("--steps", type=int, help="with --explain: integrated gradients' points, 2 to 128 "
                                               "(default 12, QA 20; more: a smaller convergence_delta, slower)")
    data_file = predict.add_argument_group("a whole data file instead of INPUTs (see docs/files.md: file formats)")
    data_file.add_argument("--input", metavar="FILE",
                           help="a .csv, .tsv (NSMC's ratings_test.txt), .jsonl or .json file with "
                                "the task's columns (sentence or document; premise, hypothesis; "
                                "question, context; prompt; image paths) and optionally a gold column "
                                "(scored: accuracy, entity F1, exact match and F1); the book's own "
                                "corpus files too (KLUE-NLI JSON, the NER corpus, KorQuAD 1.0 JSON); "
                                "for image-classification also a folder of images")
    data_file.add_argument("--output", metavar="FILE",
                           help="where the rows go with their predictions (default: standard output)")
    data_file.add_argument("--format", dest="input_format", choices=input_formats(),
                           help="the input's format (default: from its extension and first line; the "
                                "book's NER corpus and KorQuAD JSON are recognised)")
    data_file.add_argument("--on-bad-row", choices=["skip", "fail"], default="skip",
                           help="skip: write a bad row with its error and go on (default); fail: stop "
                                "at the first bad row")
    data_file.add_argument("--resume", action="store_true",
                           help="continue the --output file a stopped run left")
    data_file.add_argument("--overwrite", action="store_true",
                           help="replace an --output file that exists (without it, that is an error)")
    data_file.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(options: argparse.Namespace) -> int:
    from ..loading import load_predictor

    if bool(options.inputs) == bool(options.input):
        raise ValueError("give INPUTs on the command line or --input FILE (one of the two)")
    if options.input is None and (options.output or options.resume):
        raise ValueError("--output and --resume go with --input FILE")
    if not options.explain and (options.target is not None or options.steps is not None):
        raise ValueError("--target and --steps go with --explain")
    if options.explain and options.input is not None:
        raise ValueError("--explain goes with INPUTs on the command line, not --input FILE")
    if options.input is not None:
        if options.settings:
            raise ValueError("--set goes with INPUTs on the command line; in a data file, give each "
                             "setting as a column of its name (e.g. a top_k column)")
        return _predict_file(options)
    settings = dict(_setting(text) for text in options.settings)
    if options.task:  # a wrong number of inputs or a misspelt setting fails before the model is loaded
        group_inputs(options.inputs, get_task(options.task).inputs.fields)
        _check_setting_names(settings, get_task(options.task))
    predictor = load_predictor(deploy_arguments(options), batching=False)
    task = predictor.task
    if not options.task:  # recognised from the checkpoint: its settings are known only now
        _check_setting_names(settings, task)
    groups = group_inputs(options.inputs, task.inputs.fields)
    items = [task.inputs.make_item([task.inputs.read_file_item(text, Path.cwd()) for text in texts], settings)
             for texts in groups]
    task.inputs.check_inputs(items)  # every input checked first: an error names its own position
    for texts, item in zip(groups, items):
        if options.explain:
            steps = {} if options.steps is None else {"steps": options.steps}
            print(json.dumps(predictor.explain(item, options.target, **steps), ensure_ascii=False), flush=True)
            continue
        result = task.pipeline.to_dict(predictor.predict([item])[0])
        if task.inputs.takes_files:  # name the file, as the input column of a data file would
            result = {**dict(zip(task.inputs.fields, texts)), **result}
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


def _predict_file(options: argparse.Namespace) -> int:
    from ..files import BadRowError, predict_file
    from ..loading import load_predictor

    if not os.path.exists(options.input):
        raise FileNotFoundError(f"no such input file: {options.input}")
    if options.resume and options.overwrite:
        raise ValueError("--resume continues the output file and --overwrite replaces it: give one")
    written = options.output and os.path.isfile(options.output) and os.path.getsize(options.output) > 0
    if written and not (options.resume or options.overwrite):
        raise FileExistsError(f"{options.output} exists: add --resume to continue it, or --overwrite to "
                              "start it again")
    predictor = load_predictor(deploy_arguments(options), batching=False)
    try:
        report = predict_file(predictor, options.input, options.output, on_bad_row=options.on_bad_row,
                              resume=options.resume, input_format=options.input_format,
                              progress=not options.no_progress)
    except BadRowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if options.output:
            print(f"Stopped. The rows done so far are in {options.output}; the same command with --resume "
                  "goes on from there.", file=sys.stderr)
        raise
    resumed = f", {report.resumed} of them from the earlier run" if report.resumed else ""
    print(f"{report.rows} rows{resumed}: {report.predicted} predicted, {report.skipped} skipped"
          + (" (written with their error; see above)" if report.skipped else "")
          + (f"; written to {options.output}" if options.output else ""), file=sys.stderr)
    if report.summary is not None and report.summary.total:
        print(report.summary.format(), file=sys.stderr)
    return 0


def _check_setting_names(settings: dict, task) -> None:
    if settings and not task.inputs.option_names:
        raise ValueError(f"--set: the {task.name} task has no settings")
    check_names(settings, task.inputs.option_names, "setting", "--set")


def _setting(text: str):
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise ValueError(f"--set takes NAME=VALUE, e.g. --set top_k=1; got {text!r}")
    return name.strip(), value.strip()


def group_inputs(inputs: List[str], fields) -> List[List[str]]:
    """The command line's INPUTs as one group per model input (pairs for pair tasks)."""
    size = len(fields)
    if len(inputs) % size:
        order = " ".join(field.upper() for field in fields)
        given = "1 input was" if len(inputs) == 1 else f"{len(inputs)} inputs were"
        raise ValueError(f"{given} given, but this task takes them in groups of {size} "
                         f"({order} ...): add or remove one")
    return [inputs[i:i + size] for i in range(0, len(inputs), size)]
