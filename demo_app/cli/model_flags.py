"""The model flags every command that loads a model takes: ratsnlp's deploy arguments."""

from __future__ import annotations

import argparse

from ..loading import DeployArguments
from ..tasks import TASKS


def model_flags_parser() -> argparse.ArgumentParser:
    flags = argparse.ArgumentParser(add_help=False)
    model = flags.add_argument_group("model (ratsnlp's deploy arguments)")
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
    model.add_argument("--backend", default="auto", choices=["auto", "torch", "openvino"],
                       help="auto: OpenVINO for a kcbert-sized encoder on the CPU, else PyTorch")
    model.add_argument("--cache-dir", default=None,
                       help="where OpenVINO exports are kept between loads (default: $DEMO_APP_CACHE or "
                            "~/.cache/demo_app; '' keeps none)")
    return flags


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
        backend=options.backend,
        cache_dir=options.cache_dir,
        task=options.task,
    )
