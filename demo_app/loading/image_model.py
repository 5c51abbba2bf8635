"""Loading an image classifier: a ``save_pretrained`` folder (or hub name) -> a ready Predictor.

The folder holds ``config.json`` (an ``...ForImageClassification`` architecture),
``model.safetensors`` and ``preprocessor_config.json``; optionally an
``imagenet_class_index.json`` / ``index_to_name.json`` with each class's id and name. Only
safetensors weights are read (a pickled ``pytorch_model.bin`` can run code) and no code from the
model's files is run (``trust_remote_code=False``).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from ..inference import Predictor
from ..tasks import Task, get_task
from ..tasks.image_classification import labels_for
from .arguments import DeployArguments
from .checkpoint import CheckpointError
from .checks import smoke_test
from .common import load_config, quiet_library_warnings, quiet_transformers, size_note
from .paths import check_hub_name_reachable, existing_path, looks_like_a_path

WEIGHTS_FILES = ("model.safetensors", "model.safetensors.index.json")


def load_image_predictor(args: DeployArguments, task: Optional[Task], device: Any,
                         say: Callable[[str], None], **predictor_options) -> Predictor:
    """The image classifier named by ``args.pretrained_model_name`` (or ``downstream_model_dir``),
    or the bundled demo model when neither is given."""
    quiet_library_warnings()
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    started = time.perf_counter()
    task = task or get_task("image-classification")  # this loader is the image task's
    if args.uses_demo_model:
        say(f"No model given: using demo_app's bundled demo model ({task.checkpoints.demo_description}).")
        source, model_dir = str(task.checkpoints.demo_pretrained_dir), task.checkpoints.demo_pretrained_dir
    else:
        name = args.pretrained_model_name or args.downstream_model_dir or args.downstream_model_checkpoint_fpath or ""
        if looks_like_a_path(name):
            model_dir = existing_path(name, "image model folder", say)
            model_dir = model_dir.parent if model_dir.is_file() else model_dir
            source = str(model_dir)
        else:  # a hub name such as microsoft/resnet-50
            check_hub_name_reachable(name)
            source, model_dir = name, None
    config = load_config(source)
    architectures = getattr(config, "architectures", None) or []
    if not task.checkpoints.recognises_config({"architectures": architectures}):
        raise CheckpointError(f"{source} is not an image-classification model (its config names "
                              f"{', '.join(architectures) or 'no architecture'}); save one with "
                              "AutoModelForImageClassification's save_pretrained")
    if model_dir is not None:
        if not any((model_dir / name).is_file() for name in WEIGHTS_FILES):
            raise CheckpointError(f"{model_dir} has no model.safetensors: demo_app reads only "
                                  "safetensors weights (pickled .bin files can run code); save the "
                                  "model with save_pretrained(..., safe_serialization=True)")
        weights = model_dir / WEIGHTS_FILES[0]
        where = f"the demo model's {weights.name}" if args.uses_demo_model else str(weights)
        say(f"Loading weights from {where}{size_note(weights) if weights.is_file() else ''} ...")
    from ..inference.bf16_layers import apply_precision

    with quiet_transformers():
        model: Any = AutoModelForImageClassification.from_pretrained(source, trust_remote_code=False,
                                                                use_safetensors=True)
        processor = AutoImageProcessor.from_pretrained(source, trust_remote_code=False)
    labels = labels_for(model.config, model_dir)
    # Convolutions gain little from bf16 on a CPU: full precision unless asked otherwise.
    precision = "fp32" if args.precision == "auto" else args.precision
    model = apply_precision(model, precision, device, task.checkpoints.heads_kept_in_fp32()).to(device).eval()
    predictor = Predictor(model, processor, labels=labels, task=task, device=device,
                          precision=precision, source=str(model_dir / WEIGHTS_FILES[0]) if model_dir else source,
                          demo_model=args.uses_demo_model, **predictor_options)
    smoke_test(predictor)
    say(f"Loaded {model.config.model_type} with {len(labels)} classes on {device} ({precision}) "
        f"in {time.perf_counter() - started:.1f} s.")
    return predictor
