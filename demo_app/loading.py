"""From ``DeployArguments`` to a ready ``Predictor``: task, paths, config, tokenizer, model, device.

Nothing is served that has not been checked: the files exist (``model_files``), the tensors are
sane (``checkpoint.check_tensors``), the head is the task's, the keys and shapes match the
config, the vocabulary fits (``sanity``), and a test prediction gives finite numbers. No
transformers call may run code from a model's files (``trust_remote_code=False``, never a prompt).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Optional, Sequence, Tuple

import torch

from .arguments import DeployArguments
from .checkpoint import CheckpointError, StateDict, check_tensors, head_kind, infer_num_labels, read_state_dict
from .model_files import resolve_model_paths
from .precision import choose_precision, apply_precision
from .predictor import Predictor
from .sanity import check_vocabulary, smoke_test
from .tasks import TASKS, Task, get_task, recognise_task

# Buffers that transformers builds itself and that older versions also saved in checkpoints.
# Their values follow from their shape, so they may be present or absent in a checkpoint.
_DERIVED_BUFFERS = ("position_ids", "token_type_ids")
# What a tokenizer is built from: WordPiece, a fast tokenizer, BPE, SentencePiece.
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "vocab.json", "spiece.model", "sentencepiece.bpe.model")


def load_classifier(
    args: Optional[DeployArguments] = None,
    *,
    verbose: bool = True,
    **classifier_options,
) -> Predictor:
    """Load the tokenizer and fine-tuned model named by ``args`` into a :class:`Predictor` for
    its task (any task; the name stays for ratsnlp users).

    With no arguments (or an empty ``DeployArguments()``) the bundled demo model is loaded;
    ``DeployArguments(task="pair-classification")`` loads that task's demo model.
    ``classifier_options`` go to :class:`Predictor` (``batch_size``, ``batching``, ...).
    Raises ``FileNotFoundError`` or ``CheckpointError`` with a message saying what to fix.
    """
    args = args if args is not None else DeployArguments()
    started = time.perf_counter()
    device = resolve_device(args.device)
    say = _say if verbose else (lambda message: None)
    if _names_an_image_model(args):
        from .image_model import load_image_classifier

        return load_image_classifier(args, device, say, **classifier_options)
    pretrained, weights_path = resolve_model_paths(args, say)
    task = get_task(args.task) if args.uses_demo_model else None
    if args.uses_demo_model:
        say(f"No checkpoint given: using demo_app's bundled demo model ({task.demo_description}).")
        say(f"Loading weights from the demo model's {weights_path.name}{_size_note(weights_path)} ...")
    else:
        say(f"Loading weights from {weights_path}{_size_note(weights_path)} ...")
    state_dict = read_state_dict(weights_path)
    check_tensors(state_dict)
    task = task or recognise_task(args.task, weights_path, head_kind(state_dict))
    check_head(state_dict, task)
    config = load_config(pretrained)
    config.num_labels = infer_num_labels(state_dict)
    positions = getattr(config, "max_position_embeddings", None)
    if positions and args.max_seq_length > positions:
        raise ValueError(f"max_seq_length {args.max_seq_length} is longer than the model's "
                         f"{positions} positions (max_position_embeddings); use at most {positions}")
    if not args.uses_demo_model and not args.task and task is not get_task(None):
        say(f"Task: {task.name} (recognised from {_why_recognised(task, weights_path)}).")
    labels = _labels_for(args.labels, config, task, weights_path)
    model = build_model(config, state_dict, task)
    tokenizer = load_tokenizer(pretrained, config.model_type)
    check_vocabulary(tokenizer, model, pretrained)

    precision = choose_precision(device, args.precision, getattr(config, "hidden_size", 768))
    model = apply_precision(model, precision, device).to(device).eval()
    classifier = Predictor(
        model,
        tokenizer,
        labels=labels,
        task=task,
        device=device,
        max_seq_length=args.max_seq_length,
        precision=precision,
        source=str(weights_path),
        demo_model=args.uses_demo_model,
        **classifier_options,
    )
    smoke_test(classifier)
    say(
        f"Loaded {config.model_type} with {config.num_labels} classes on {device} ({precision}) "
        f"in {time.perf_counter() - started:.1f} s."
    )
    return classifier


def _names_an_image_model(args: DeployArguments) -> bool:
    """An image classifier: asked for, or a ``save_pretrained`` folder of one given alone."""
    from .image_model import is_image_model_dir

    if args.task is not None:
        return args.task == "image-classification"
    alone = not (args.downstream_model_dir or args.downstream_model_checkpoint_fpath)
    return alone and is_image_model_dir(args.pretrained_model_name)


def check_head(state_dict: StateDict, task: Task) -> None:
    """The checkpoint's head must be the one the task's model has (named when it is not)."""
    kind = head_kind(state_dict)
    if kind is not None and kind != task.head_kind:
        names = {"token-classification": "a token-classification (NER) model",
                 "question-answering": "a question-answering model (qa_outputs head)",
                 "sequence-classification": "a sequence-classification model"}
        matching = [name for name, other in TASKS.items() if other.head_kind == kind]
        fix = (f"choose task={matching[0]!r} (--task {matching[0]})" if matching else
               f"this version of demo_app has no task for it (tasks: {', '.join(TASKS)})")
        raise CheckpointError(f"this checkpoint is {names[kind]}, not one for the task "
                              f"{task.name!r}: {fix}")


def quiet_library_warnings() -> None:
    """Before importing transformers: it imports tqdm.auto, which warns in Jupyter without
    ipywidgets (Colab has them); transformers 4.36-4.38 warn about a torch API they use
    internally. Nothing a student can fix."""
    warnings.filterwarnings("ignore", message="IProgress not found")
    warnings.filterwarnings("ignore", message=".*_register_pytree_node. is deprecated", category=FutureWarning)


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
        raise CheckpointError(f"{pretrained}'s config.json is not usable: {_first_line(error)}") from None


def build_model(config, state_dict: StateDict, task: Optional[Task] = None) -> torch.nn.Module:
    """The task's model class (``AutoModelForSequenceClassification`` by default) for ``config``,
    holding exactly ``state_dict``.

    The model is built on the meta device (no random initialisation of weights that are then
    overwritten) and takes the checkpoint's tensors as they are. Missing or unexpected keys are
    an error listing them; only the derived buffers (``position_ids``) may differ.
    """
    import transformers

    model_class = getattr(transformers, (task or get_task(None)).model_class)
    with torch.device("meta"):
        model = model_class.from_config(config)
    state_dict = {k: v for k, v in state_dict.items() if not k.endswith(_DERIVED_BUFFERS)}
    expected = model.state_dict()
    wrong_shapes = [f"{key} {list(tensor.shape)} vs {list(expected[key].shape)}"
                    for key, tensor in state_dict.items()
                    if key in expected and tensor.shape != expected[key].shape]
    if wrong_shapes:
        raise CheckpointError(
            f"the checkpoint's tensors do not fit the {config.model_type} config of the pretrained "
            f"model (is pretrained_model_name the one it was fine-tuned from?): "
            f"{len(wrong_shapes)} differ, e.g. {_key_list(wrong_shapes, limit=3)} (checkpoint vs config)"
        )
    result = model.load_state_dict(state_dict, strict=False, assign=True)
    missing = [k for k in result.missing_keys if not k.endswith(_DERIVED_BUFFERS)]
    if missing or result.unexpected_keys:
        raise CheckpointError(
            f"the checkpoint does not match the {config.model_type} model of the pretrained config"
            f" (is pretrained_model_name right?): "
            f"missing keys: {_key_list(missing, limit=4)}; "
            f"unexpected keys: {_key_list(result.unexpected_keys, limit=4)}"
        )
    _materialize_derived_buffers(model)
    return model


def _materialize_derived_buffers(model: torch.nn.Module) -> None:
    for module in model.modules():
        for name, buffer in list(module.named_buffers(recurse=False)):
            if buffer is None or buffer.device.type != "meta":
                continue
            if name == "position_ids":
                value = torch.arange(buffer.shape[-1]).expand(buffer.shape).contiguous()
            elif name == "token_type_ids":
                value = torch.zeros(buffer.shape, dtype=torch.long)
            else:
                raise CheckpointError(f"the checkpoint has no value for the model's buffer {name!r}")
            module.register_buffer(
                name, value, persistent=name not in module._non_persistent_buffers_set
            )


def load_tokenizer(pretrained: str, model_type: str):
    from transformers import AutoTokenizer

    directory = Path(pretrained)
    if directory.is_dir() and not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise CheckpointError(f"{directory} has no tokenizer vocabulary (looked for "
                              f"{', '.join(TOKENIZER_FILES)}): copy the pretrained model's vocab.txt "
                              "there, or name the hub model it came from")
    # KcBERT is cased; nlpbook loads it with do_lower_case=False and so do we.
    options = {"do_lower_case": False} if model_type == "bert" else {}
    return AutoTokenizer.from_pretrained(pretrained, trust_remote_code=False, **options)


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but no CUDA GPU is available; use 'auto' or 'cpu'")
    return torch.device(requested)


def _why_recognised(task: Task, weights_path: Path) -> str:
    if task.checkpoint_dir_name in weights_path.parts:
        return f"the directory name {task.checkpoint_dir_name}"
    return "the label_map.txt beside the checkpoint" if task.name == "ner" else "the checkpoint's head"


def _labels_for(requested: Optional[Sequence[str]], config, task: Task, weights_path: Path) -> Tuple[str, ...]:
    if requested is not None:
        if len(requested) != config.num_labels:
            raise ValueError(
                f"{len(requested)} labels were given but the checkpoint has {config.num_labels} classes"
            )
        return tuple(requested)
    stored = task.labels_from(weights_path, config.num_labels)
    if stored:
        return stored
    names = tuple(config.id2label[i] for i in range(config.num_labels)) if config.id2label else ()
    if len(names) == config.num_labels and not all(n == f"LABEL_{i}" for i, n in enumerate(names)):
        return names
    return task.default_labels(config.num_labels)


def _key_list(keys: Sequence[str], limit: int = 8) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def _size_note(path: Path) -> str:
    if path.is_file():
        return f" ({path.stat().st_size / 1e6:.1f} MB)"
    return ""


def _say(message: str) -> None:
    print(f"[demo_app] {message}", file=sys.stderr, flush=True)
