"""Loading a text model: a pretrained config and tokenizer plus fine-tuned weights (a ratsnlp
``.ckpt``, a state_dict, safetensors or a ``save_pretrained`` folder) -> a ready Predictor.

Nothing is served that has not been checked: the files exist (``paths``), the tensors are sane
(``checkpoint.check_tensors``), the head is the task's, the keys and shapes match the config, the
vocabulary fits, and a test prediction gives finite numbers (``checks``). No transformers call
may run code from a model's files (``trust_remote_code=False``, never a prompt).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple

from ..inference import Predictor
from ..inference.explaining import GradientModel
from ..inference.precision import choose_precision
from ..tasks import Task, TaskMismatch, get_task, recognise_task
from .arguments import DeployArguments
from .checkpoint import CheckpointError, StateDict, check_tensors, read_checkpoint
from .checks import check_head, check_language_model_fit, check_vocabulary, number_of_classes, smoke_test
from .common import load_config, size_note
from .fast_model import example_encodings, torch_model_in_precision
from .openvino_conversion import cached_conversion, find_conversion
from .paths import TOKENIZER_FILES, resolve_model_paths

if TYPE_CHECKING:  # imported where a PyTorch model is built: a model served from the cache needs none
    import torch

# Buffers that transformers builds itself and that older versions also saved in checkpoints.
# Their values follow from their shape, so they may be present or absent in a checkpoint.
_DERIVED_BUFFERS = ("position_ids", "token_type_ids")


def load_text_predictor(args: DeployArguments, task: Optional[Task], device: Any,
                        say: Callable[[str], None], **predictor_options) -> Predictor:
    """The model ``args`` names (or its task's bundled demo model) on ``device``, checked;
    ``task`` None: recognised from the checkpoint."""
    started = time.perf_counter()
    pretrained, weights_path = resolve_model_paths(args, say, task)
    model: Any  # a transformers model, or an OpenVINOModel that acts as one
    cached = cached_conversion(args, task, device, pretrained, weights_path)
    if cached is not None:  # converted at an earlier load: no torch, transformers or weights read
        task, warnings, model, tokenizer, precision = cached.load(say)
        _check_length(args, model.config)
    else:
        config = load_config(pretrained)
        _check_length(args, config)
        task, warnings, model, tokenizer, precision = _model_for(args, task, device, config, pretrained,
                                                                 weights_path, say)
    config = model.config  # with the checkpoint's number of classes (a cached model: the manifest's facts)
    labels = _labels_for(args.labels, config, task, weights_path) if task.checkpoints.labelled else ()
    predictor = Predictor(model, tokenizer, labels=labels, task=task, device=device,
                          max_seq_length=args.max_seq_length, precision=precision,
                          source=str(weights_path), demo_model=args.uses_demo_model, **predictor_options)
    predictor.warnings.extend(warnings)
    if predictor.gradients is None and task.pipeline.explains:  # OpenVINO: explanations read the weights again
        predictor.gradients = GradientModel(build=functools.partial(
            _gradient_model, pretrained, weights_path, task, precision, device))
    smoke_test(predictor)
    counted = task.checkpoints.labelled and task.checkpoints.outputs_are_classes
    classes = f" with {config.num_labels} classes" if counted else ""
    say(f"Loaded {config.model_type}{classes} on {device} ({precision}, {predictor.backend}) "
        f"in {time.perf_counter() - started:.1f} s.")
    return predictor


def _check_length(args: DeployArguments, config: Any) -> None:
    positions = getattr(config, "max_position_embeddings", None)
    if positions and args.max_seq_length > positions:
        raise ValueError(f"max_seq_length {args.max_seq_length} is longer than the model's "
                         f"{positions} positions (max_position_embeddings); use at most {positions}")


def _model_for(args: DeployArguments, task: Optional[Task], device: Any, config, pretrained: str,
               weights_path: Path, say: Callable[[str], None]) -> Tuple[Task, List[str], Any, Any, str]:
    """The task, warnings, model (PyTorch, or converted to OpenVINO), tokenizer and precision,
    from the weights, checked (or from a conversion a hub-named model made earlier)."""
    precision = choose_precision(device, args.precision, getattr(config, "hidden_size", 768))
    converted = find_conversion(args, task, device, config, pretrained, weights_path, precision)
    if converted is not None and converted.manifest is not None:
        return converted.load(say)  # the weights are not read again
    state_dict, task, warnings = _read_weights(args, task, weights_path, say)
    model: Any  # PyTorch's, then OpenVINO's when converted
    model, tokenizer = _checked_model(task, config, state_dict, pretrained, warnings, say)
    # the accuracy guard runs:
    guarded = converted is not None or precision != "fp32"
    encodings = example_encodings(task, tokenizer, args.max_seq_length) if guarded else []
    if converted is not None and task.pipeline.convertible:
        model, precision = converted.make(model, tokenizer, encodings, task, warnings, say)
    else:
        model, precision, warning = torch_model_in_precision(
            model, lambda: build_model(config, state_dict, task), task, precision, device, encodings, say)
        warnings += [warning] if warning else []
    return task, warnings, model, tokenizer, precision


def _checked_model(task: Task, config, state_dict: StateDict, pretrained: str, warnings: List[str],
                   say: Callable[[str], None]) -> Tuple["torch.nn.Module", object]:
    """The fp32 model holding the checked weights, and its tokenizer (checked against it)."""
    model = _fp32_model(task, config, state_dict)
    tokenizer = load_tokenizer(pretrained, config.model_type, task)
    fit = check_language_model_fit(tokenizer, model, pretrained, task) if not task.checkpoints.labelled else []
    for warning in check_vocabulary(tokenizer, model, pretrained, task) + fit:
        say(f"warning: {warning}")
        warnings.append(warning)
    return model, tokenizer


def _read_weights(args: DeployArguments, task: Optional[Task], weights_path: Path,
                  say: Callable[[str], None]) -> Tuple[StateDict, Task, List[str]]:
    """The checked weights, the task they are for (asked for, or recognised from every piece of
    evidence the checkpoint carries) and warnings to show with the model."""
    if args.uses_demo_model:
        task = task or get_task(None)
        say(f"No checkpoint given: using demo_app's bundled demo model ({task.checkpoints.demo_description}).")
        say(f"Loading weights from the demo model's {weights_path.name}{size_note(weights_path)} ...")
    else:
        say(f"Loading weights from {weights_path}{size_note(weights_path)} ...")
    checkpoint = read_checkpoint(weights_path)
    check_tensors(checkpoint.state_dict)
    warnings: List[str] = []
    if not args.uses_demo_model:
        try:
            recognised = recognise_task(args.task or (task.name if task else None), weights_path,
                                        checkpoint.state_dict, checkpoint.trained_in)
        except TaskMismatch as error:
            raise CheckpointError(str(error)) from None
        task, warnings = recognised.task, recognised.warnings
        if recognised.reason != "asked for":
            say(f"Task: {task.name} (recognised from {recognised.reason}).")
        for warning in warnings:
            say(f"warning: {warning}")
    task = task or get_task(None)
    check_head(checkpoint.state_dict, task)
    return checkpoint.state_dict, task, warnings


def _gradient_model(pretrained: str, weights_path: Path, task: Task, precision: str, device: Any) -> "torch.nn.Module":
    """The PyTorch model of a checkpoint served through OpenVINO, in the same precision, for
    explanations (``GradientModel``)."""
    from ..inference.bf16_layers import apply_precision

    model = _fp32_model(task, load_config(pretrained), read_checkpoint(weights_path).state_dict)
    return apply_precision(model, precision, device, task.checkpoints.heads_kept_in_fp32()).to(device).eval()


def _fp32_model(task: Task, config, state_dict: StateDict) -> "torch.nn.Module":
    """The task's model holding ``state_dict``, with as many classes as its head has."""
    if task.checkpoints.labelled:
        config.num_labels = number_of_classes(state_dict, task)
    return build_model(config, state_dict, task).eval()


def build_model(config, state_dict: StateDict, task: Optional[Task] = None) -> "torch.nn.Module":
    """The task's model class (``AutoModelForSequenceClassification`` by default) for ``config``,
    holding exactly ``state_dict``.

    The model is built on the meta device (no random initialisation of weights that are then
    overwritten) and takes the checkpoint's tensors as they are. Missing or unexpected keys are
    an error listing them; only the derived buffers (``position_ids``) may differ.
    """
    import torch
    import transformers

    task = task or get_task(None)
    model_class = getattr(transformers, task.checkpoints.model_class)
    with torch.device("meta"):
        model = model_class.from_config(config)
    state_dict = {k: v for k, v in state_dict.items()
                  if not k.endswith(_DERIVED_BUFFERS) and not k.endswith(task.checkpoints.unused_checkpoint_keys)}
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
    tied = _tied_keys(model) if getattr(config, "tie_word_embeddings", False) else set()
    missing = [k for k in result.missing_keys if not k.endswith(_DERIVED_BUFFERS) and k not in tied]
    if missing or result.unexpected_keys:
        raise CheckpointError(
            f"the checkpoint does not match the {config.model_type} model of the pretrained config"
            f" (is pretrained_model_name right?): "
            f"missing keys: {_key_list(missing, limit=4)}; "
            f"unexpected keys: {_key_list(result.unexpected_keys, limit=4)}"
        )
    if tied & set(result.missing_keys):
        model.tie_weights()  # a save_pretrained folder keeps a tied head once, as the embedding
    _materialize_derived_buffers(model, task)
    return model


def _tied_keys(model: "torch.nn.Module") -> set:
    """The keys of weights shared with another (an LM head tied to the input embedding)."""
    keys = getattr(model, "_tied_weights_keys", None) or ()
    return set(keys.keys() if isinstance(keys, dict) else keys)


def _materialize_derived_buffers(model: "torch.nn.Module", task: Task) -> None:
    import torch

    for module in model.modules():
        for name, buffer in list(module.named_buffers(recurse=False)):
            if buffer is None or buffer.device.type != "meta":
                continue
            value: Optional["torch.Tensor"]
            if name == "position_ids":
                value = torch.arange(buffer.shape[-1]).expand(buffer.shape).contiguous()
            elif name == "token_type_ids":
                value = torch.zeros(buffer.shape, dtype=torch.long)
            else:
                value = task.checkpoints.derived_buffer(name, buffer)
            if value is None:
                raise CheckpointError(f"the checkpoint has no value for the model's buffer {name!r}")
            module.register_buffer(
                name, value, persistent=name not in module._non_persistent_buffers_set
            )


def load_tokenizer(pretrained: str, model_type: str, task: Optional[Task] = None):
    import transformers

    directory = Path(pretrained)
    if directory.is_dir() and not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise CheckpointError(f"{directory} has no tokenizer vocabulary (looked for "
                              f"{', '.join(TOKENIZER_FILES)}): copy the pretrained model's vocab.txt "
                              "there, or name the hub model it came from")
    # KcBERT is cased; nlpbook loads it with do_lower_case=False and so do we. A task may load
    # its tokenizer as the book does (generation: KoGPT2's tokenizer.json, eos_token="</s>").
    options = {"do_lower_case": False} if model_type == "bert" else {}
    tokenizer_class = transformers.AutoTokenizer
    without_tokenizer_json = directory.is_dir() and not (directory / "tokenizer.json").is_file()
    if task is not None and task.checkpoints.tokenizer_class and not without_tokenizer_json:
        tokenizer_class = getattr(transformers, task.checkpoints.tokenizer_class)
    options.update(task.checkpoints.tokenizer_options if task is not None else {})
    return tokenizer_class.from_pretrained(pretrained, trust_remote_code=False, **options)


def _labels_for(requested: Optional[Sequence[str]], config, task: Task, weights_path: Path) -> Tuple[str, ...]:
    if requested is not None:
        if len(requested) != config.num_labels:
            raise ValueError(
                f"{len(requested)} labels were given but the checkpoint has {config.num_labels} classes"
            )
        return tuple(requested)
    stored = task.checkpoints.labels_from(weights_path, config.num_labels)
    if stored:
        return stored
    names = tuple(config.id2label[i] for i in range(config.num_labels)) if config.id2label else ()
    if len(names) == config.num_labels and not all(n == f"LABEL_{i}" for i, n in enumerate(names)):
        return names
    return task.checkpoints.default_labels(config.num_labels)


def _key_list(keys: Sequence[str], limit: int = 8) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
