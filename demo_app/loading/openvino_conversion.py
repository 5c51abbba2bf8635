"""Loading a text model through OpenVINO: from the conversion cache when the same model was converted
before (without reading the weights at all), else converted from the checked torch model.

The loader (``text_model``) asks ``find_conversion`` before it reads the weights; ``None`` means
OpenVINO cannot run this model here (a GPU, no ``openvino`` package, a small model under
``backend="auto"``). A found conversion without a manifest is made after the usual checks with
``OpenVINOConversion.make``.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from .. import __version__
from ..inference.openvino_model import MODEL_FILE, OpenVINOModel, conversion
from ..inference.precision import MIN_HIDDEN_SIZE_FOR_BF16, choose_backend
from ..tasks import Task, get_task
from .arguments import DeployArguments
from .common import quiet_transformers
from .conversion_cache import CACHE_FORMAT, ConversionCache, default_cache_dir, file_fingerprint, folder_fingerprint
from .fast_model import Encoding, batch_of, fell_back_warning, first_disagreement, outputs_for
from .paths import TOKENIZER_FILES

# The pretrained folder's files a conversion and its manifest depend on (config and vocabulary).
PRETRAINED_FILES = ("config.json", "tokenizer_config.json", "special_tokens_map.json", "merges.txt", *TOKENIZER_FILES)


@dataclasses.dataclass
class OpenVINOConversion:
    """One model's place in the conversion cache (``entry``; None: the cache is off) and, when it was
    converted before, what loading its weights found (``manifest``)."""

    entry: Optional[Path]
    precision: str
    manifest: Optional[Dict[str, Any]] = None
    cache: Optional[ConversionCache] = None

    def load(self, config, say: Callable[[str], None]) -> Tuple[Task, List[str], OpenVINOModel, str]:
        """The cached conversion, compiled, with its task, warnings and precision (fp32 when the
        accuracy guard turned bf16 down); sets ``config.num_labels``."""
        manifest, entry = self.manifest, self.entry
        assert manifest is not None
        assert entry is not None
        say(f"Using the OpenVINO conversion made at an earlier load ({entry}).")
        task = get_task(manifest["task"])
        if manifest.get("num_labels"):
            config.num_labels = int(manifest["num_labels"])
        precision = str(manifest.get("precision", self.precision))
        model = OpenVINOModel(entry / MODEL_FILE, config, precision)
        return task, list(manifest.get("warnings", [])), model, precision

    def make(self, model: Any, encodings: List[Encoding], task: Task, warnings: List[str],
             say: Callable[[str], None]) -> Tuple[OpenVINOModel, str]:
        """``model`` (fp32, checked) converted and compiled, and its precision: fp32 when the
        accuracy guard (``fast_model``) turns the faster one down. Kept in the cache for the
        next load, with what the load found out (the manifest)."""
        say("Converting the model to OpenVINO (once per checkpoint: later loads reuse it) ...")
        reference = outputs_for(model, task, encodings, torch.device("cpu"))
        example = batch_of(encodings, model.config.pad_token_id or 0)
        precision = self.precision
        manifest = {"task": task.name, "num_labels": model.config.num_labels if task.checkpoints.labelled else None}

        compiled: Optional[OpenVINOModel] = None

        def compiled_in(folder: Path, precision: str) -> OpenVINOModel:
            with quiet_transformers():
                conversion(model, example, folder, precision)
            return OpenVINOModel(folder / MODEL_FILE, model.config, precision)

        def convert_into(folder: Path) -> Dict[str, Any]:
            nonlocal precision, compiled
            compiled = compiled_in(folder, precision)
            problem = first_disagreement(reference, outputs_for(compiled, task, encodings, torch.device("cpu")))
            if problem is not None and precision != "fp32":
                warnings.append(fell_back_warning(precision, problem))
                say(f"warning: {warnings[-1]}")
                precision = "fp32"
                compiled = compiled_in(folder, precision)
            return {**manifest, "precision": precision, "warnings": warnings}

        if self.cache is not None and self.entry is not None:
            try:
                self.cache.build(self.entry, convert_into)
                assert compiled is not None
                return compiled, precision
            except OSError as error:  # a read-only or full cache folder: conversion for this load only
                say(f"warning: cannot keep the conversion in {self.cache.directory} ({error.strerror or error}); "
                    "the next load converts again")
                self.cache, self.entry = None, None
        scratch = Path(tempfile.mkdtemp(prefix="demo_app-openvino-"))
        try:  # the precision the guard chose above, if it got that far, is kept
            convert_into(scratch)
        finally:  # compiled: the files are no longer read
            shutil.rmtree(scratch, ignore_errors=True)
        assert compiled is not None
        return compiled, precision


def find_conversion(args: DeployArguments, task: Optional[Task], device: torch.device, config,
                pretrained: str, weights_path: Path, precision: str) -> Optional[OpenVINOConversion]:
    """The model's place in the conversion cache, or None when it will run on PyTorch. Before the
    weights are read, the task may be unknown: generation's GPT-2 is told by its config."""
    convertible = (task.pipeline.convertible if task is not None
                  else getattr(config, "model_type", "") not in ("gpt2",))
    hidden_size = getattr(config, "hidden_size", MIN_HIDDEN_SIZE_FOR_BF16)
    if choose_backend(device, args.backend, convertible=convertible, hidden_size=hidden_size,
                      precision=precision) != "openvino":
        return None
    if args.cache_dir == "":
        return OpenVINOConversion(None, precision)
    cache = ConversionCache(Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir())
    entry = cache.entry(conversion_key(args, task, config, pretrained, weights_path, precision))
    return OpenVINOConversion(entry, precision, cache.manifest(entry), cache)


def conversion_key(args: DeployArguments, task: Optional[Task], config, pretrained: str,
               weights_path: Path, precision: str) -> Dict[str, Any]:
    """Everything a conversion and its manifest are made from (see ``conversion_cache``)."""
    import openvino
    import transformers

    if weights_path.is_dir():
        weights = folder_fingerprint(weights_path, [path.name for path in weights_path.iterdir()
                                                    if path.suffix in (".safetensors", ".bin", ".json")])
    else:
        weights = file_fingerprint(weights_path)
    pretrained_dir = Path(pretrained)
    return {
        "format": CACHE_FORMAT, "weights": weights, "precision": precision,
        "config": config.to_json_string(use_diff=False),
        "pretrained": (folder_fingerprint(pretrained_dir, PRETRAINED_FILES) if pretrained_dir.is_dir()
                       else pretrained),
        "task": args.task or (task.name if task is not None else None),
        "versions": [__version__, openvino.__version__, torch.__version__, transformers.__version__],
    }



