"""From ``DeployArguments`` to a ready ``Predictor``: task, paths, config, tokenizer, model, device."""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Optional, Sequence, Tuple

import torch

from .arguments import DEFAULT_PRETRAINED_MODEL_NAME, DeployArguments, find_best_checkpoint
from .checkpoint import CheckpointError, StateDict, infer_num_labels, is_hf_model_dir, read_state_dict
from .precision import choose_precision, apply_precision
from .predictor import Predictor
from .tasks import Task, get_task, recognise_task

# Buffers that transformers builds itself and that older versions also saved in checkpoints.
# Their values follow from their shape, so they may be present or absent in a checkpoint.
_DERIVED_BUFFERS = ("position_ids", "token_type_ids")


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
    pretrained, weights_path = resolve_model_paths(args)
    task = get_task(args.task) if args.uses_demo_model else recognise_task(args.task, weights_path)
    say = _say if verbose else (lambda message: None)
    if args.uses_demo_model:
        say(f"No checkpoint given: using demo_app's bundled demo model ({task.demo_description}).")
        say(f"Loading weights from the demo model's {weights_path.name}{_size_note(weights_path)} ...")
    else:
        say(f"Loading weights from {weights_path}{_size_note(weights_path)} ...")
        if not args.task and task.checkpoint_dir_name in weights_path.parts:
            say(f"Task: {task.name} (recognised from the directory name {task.checkpoint_dir_name}).")
    state_dict = read_state_dict(weights_path)

    # transformers imports tqdm.auto, which warns in Jupyter without ipywidgets (Colab has them).
    warnings.filterwarnings("ignore", message="IProgress not found")
    from transformers import AutoConfig  # imported here: transformers takes a second to import

    config = AutoConfig.from_pretrained(pretrained)
    config.num_labels = infer_num_labels(state_dict)
    positions = getattr(config, "max_position_embeddings", None)
    if positions and args.max_seq_length > positions:
        raise ValueError(f"max_seq_length {args.max_seq_length} is longer than the model's "
                         f"{positions} positions (max_position_embeddings); use at most {positions}")
    labels = _labels_for(args.labels, config, task)
    model = build_model(config, state_dict, task)
    tokenizer = load_tokenizer(pretrained, config.model_type)

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
        **classifier_options,
    )
    say(
        f"Loaded {config.model_type} with {config.num_labels} classes on {device} ({precision}) "
        f"in {time.perf_counter() - started:.1f} s."
    )
    return classifier


def resolve_model_paths(args: DeployArguments) -> Tuple[str, Path]:
    """``(pretrained model name or dir, weights path)`` for ``args``, checking that they exist."""
    if args.uses_demo_model:
        task = get_task(args.task)
        return str(task.demo_pretrained_dir), find_best_checkpoint(task.demo_checkpoint_dir)
    pretrained = args.pretrained_model_name or DEFAULT_PRETRAINED_MODEL_NAME
    if args.downstream_model_checkpoint_fpath:
        weights = Path(args.downstream_model_checkpoint_fpath).expanduser()
        if not weights.exists():
            raise FileNotFoundError(f"checkpoint file not found: {weights}")
    elif args.downstream_model_dir:
        directory = Path(args.downstream_model_dir).expanduser()
        weights = directory if is_hf_model_dir(directory) else find_best_checkpoint(directory)
    elif is_hf_model_dir(Path(pretrained).expanduser()):
        weights = Path(pretrained).expanduser()  # a fine-tuned save_pretrained directory
    else:
        raise FileNotFoundError(
            f"no fine-tuned checkpoint given for {pretrained!r}: set downstream_model_dir (a "
            "directory of *.ckpt files) or downstream_model_checkpoint_fpath (one file)"
        )
    if Path(pretrained).expanduser().is_dir():
        pretrained = str(Path(pretrained).expanduser())
    elif pretrained.startswith(("/", ".", "~")):
        raise FileNotFoundError(f"pretrained model directory not found: {pretrained}")
    return pretrained, weights


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
    result = model.load_state_dict(state_dict, strict=False, assign=True)
    missing = [k for k in result.missing_keys if not k.endswith(_DERIVED_BUFFERS)]
    if missing or result.unexpected_keys:
        raise CheckpointError(
            f"the checkpoint does not match the {config.model_type} model of the pretrained config"
            f" (is pretrained_model_name right?): "
            f"missing keys: {_key_list(missing)}; unexpected keys: {_key_list(result.unexpected_keys)}"
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

    # KcBERT is cased; nlpbook loads it with do_lower_case=False and so do we.
    options = {"do_lower_case": False} if model_type == "bert" else {}
    return AutoTokenizer.from_pretrained(pretrained, **options)


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but no CUDA GPU is available; use 'auto' or 'cpu'")
    return torch.device(requested)


def _labels_for(requested: Optional[Sequence[str]], config, task: Task) -> Tuple[str, ...]:
    if requested is not None:
        if len(requested) != config.num_labels:
            raise ValueError(
                f"{len(requested)} labels were given but the checkpoint has {config.num_labels} classes"
            )
        return tuple(requested)
    names = tuple(config.id2label[i] for i in range(config.num_labels)) if config.id2label else ()
    if len(names) == config.num_labels and not all(n == f"LABEL_{i}" for i, n in enumerate(names)):
        return names
    return task.default_labels(config.num_labels)


def _key_list(keys: Sequence[str], limit: int = 8) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _size_note(path: Path) -> str:
    if path.is_file():
        return f" ({path.stat().st_size / 1e6:.1f} MB)"
    return ""


def _say(message: str) -> None:
    print(f"[demo_app] {message}", file=sys.stderr, flush=True)
