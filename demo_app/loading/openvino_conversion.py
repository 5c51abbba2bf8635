"""Loading a text model through OpenVINO: from the conversion cache when the same files were
converted before with the same arguments, else converted from the checked torch model.

The loader (``text_model``) first asks ``cached_conversion``: a conversion found there is served
without importing torch or transformers and without reading the weights: its manifest holds what
the first load found (the task, the classes, the config's facts, warnings) and its folder the
tokenizer (``standalone_tokenizer.py``). Otherwise the loader reads the config and asks
``find_conversion``; ``None`` means OpenVINO cannot run this model here (a GPU, no ``openvino``
package, a small model under ``backend="auto"``). A found conversion without a manifest is made
after the usual checks with ``OpenVINOConversion.make``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import __version__
from ..inference.openvino_model import MODEL_FILE, OpenVINOModel, conversion, openvino_available
from ..inference.precision import MIN_HIDDEN_SIZE_FOR_BF16, choose_backend, cpu_has_native_bf16, device_type
from ..tasks import Task, get_task
from .arguments import DeployArguments
from .common import quiet_transformers
from .conversion_cache import CACHE_FORMAT, ConversionCache, default_cache_dir, file_fingerprint, folder_fingerprint
from .fast_model import Encoding, batch_of, fell_back_warning, first_disagreement, outputs_for
from .paths import TOKENIZER_FILES, looks_like_a_path
from .standalone_tokenizer import StandaloneTokenizer, can_load_standalone, save_standalone

# The pretrained folder's files a conversion and its manifest depend on (config and vocabulary).
PRETRAINED_FILES = ("config.json", "tokenizer_config.json", "special_tokens_map.json", "merges.txt", *TOKENIZER_FILES)
NOT_CONVERTIBLE_MODEL_TYPES = ("gpt2",)  # told by the config before the weights say the task


@dataclasses.dataclass
class ModelFacts:
    """What the predictor, the page and the loader read of a model's transformers config, kept in
    the conversion's manifest, so that a model served from the cache needs no transformers config."""

    model_type: str
    num_labels: int
    id2label: Dict[int, str]
    hidden_size: Optional[int] = None
    max_position_embeddings: Optional[int] = None
    pad_token_id: Optional[int] = None

    @classmethod
    def of(cls, config: Any) -> "ModelFacts":
        return cls(config.model_type, config.num_labels, dict(config.id2label or {}),
                   getattr(config, "hidden_size", None), getattr(config, "max_position_embeddings", None),
                   getattr(config, "pad_token_id", None))

    @classmethod
    def from_json(cls, facts: Dict[str, Any]) -> "ModelFacts":
        return cls(**{**facts, "id2label": {int(key): str(value) for key, value in facts["id2label"].items()}})

    def to_json(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class OpenVINOConversion:
    """One model's place in the conversion cache (``entry``; None: the cache is off) and, when it was
    converted before, what loading its weights found (``manifest``)."""

    entry: Optional[Path]
    precision: str
    manifest: Optional[Dict[str, Any]] = None
    cache: Optional[ConversionCache] = None

    def load(self, say: Callable[[str], None]) -> Tuple[Task, List[str], OpenVINOModel, StandaloneTokenizer, str]:
        """The cached conversion, compiled, with its task, warnings, tokenizer and precision (fp32
        when the accuracy guard turned bf16 down). Neither torch nor transformers is imported."""
        manifest, entry = self.manifest, self.entry
        assert manifest is not None
        assert entry is not None
        say(f"Using the OpenVINO conversion made at an earlier load ({entry}).")
        task = get_task(manifest["task"])
        precision = str(manifest.get("precision", self.precision))
        model = OpenVINOModel(entry / MODEL_FILE, ModelFacts.from_json(manifest["config"]), precision)
        return task, list(manifest.get("warnings", [])), model, StandaloneTokenizer(entry), precision

    def make(self, model: Any, tokenizer: Any, encodings: List[Encoding], task: Task, warnings: List[str],
             say: Callable[[str], None]) -> Tuple[OpenVINOModel, str]:
        """``model`` (fp32, checked) converted and compiled, and its precision: fp32 when the
        accuracy guard (``fast_model``) turns the faster one down. Kept in the cache for the
        next load, with what the load found out (the manifest) and the tokenizer."""
        say("Converting the model to OpenVINO (once per checkpoint: later loads reuse it) ...")
        reference = outputs_for(model, task, encodings, "cpu")
        example = batch_of(encodings, model.config.pad_token_id or 0)
        precision = self.precision
        manifest = {"task": task.name, "config": ModelFacts.of(model.config).to_json()}

        compiled: Optional[OpenVINOModel] = None

        def compiled_in(folder: Path, precision: str) -> OpenVINOModel:
            with quiet_transformers():
                conversion(model, example, folder, precision)
            return OpenVINOModel(folder / MODEL_FILE, model.config, precision)

        def convert_into(folder: Path) -> Dict[str, Any]:
            nonlocal precision, compiled
            compiled = compiled_in(folder, precision)
            problem = first_disagreement(reference, outputs_for(compiled, task, encodings, "cpu"))
            if problem is not None and precision != "fp32":
                warnings.append(fell_back_warning(precision, problem))
                say(f"warning: {warnings[-1]}")
                precision = "fp32"
                compiled = compiled_in(folder, precision)
            save_standalone(tokenizer, folder)
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


def cached_conversion(args: DeployArguments, task: Optional[Task], device: Any, pretrained: str,
                      weights_path: Path) -> Optional[OpenVINOConversion]:
    """The conversion an earlier load of the same files made with the same arguments, ready to
    serve without torch, transformers or the weights; None: load the usual way (so too for a hub
    name not yet in the local Hugging Face cache)."""
    if device_type(device) != "cpu" or args.backend == "torch" or args.cache_dir == "" or not openvino_available():
        return None
    folder = pretrained_folder(pretrained)
    if folder is None or not (task.pipeline.convertible if task is not None
                              else _model_type(folder) not in NOT_CONVERTIBLE_MODEL_TYPES):
        return None
    cache = _cache(args)
    entry = cache.entry(conversion_key(args, task, pretrained, weights_path))
    manifest = cache.manifest(entry)
    if manifest is None or not can_load_standalone(entry):
        return None
    return OpenVINOConversion(entry, str(manifest["precision"]), manifest, cache)


def find_conversion(args: DeployArguments, task: Optional[Task], device: Any, config,
                    pretrained: str, weights_path: Path, precision: str) -> Optional[OpenVINOConversion]:
    """The model's place in the conversion cache, or None when it will run on PyTorch. Before the
    weights are read, the task may be unknown: generation's GPT-2 is told by its config."""
    convertible = (task.pipeline.convertible if task is not None
                   else getattr(config, "model_type", "") not in NOT_CONVERTIBLE_MODEL_TYPES)
    hidden_size = getattr(config, "hidden_size", MIN_HIDDEN_SIZE_FOR_BF16)
    if choose_backend(device, args.backend, convertible=convertible, hidden_size=hidden_size,
                      precision=precision) != "openvino":
        return None
    if args.cache_dir == "":
        return OpenVINOConversion(None, precision)
    cache = _cache(args)
    entry = cache.entry(conversion_key(args, task, pretrained, weights_path, config))
    return OpenVINOConversion(entry, precision, cache.manifest(entry), cache)


def conversion_key(args: DeployArguments, task: Optional[Task], pretrained: str, weights_path: Path,
                   config: Any = None) -> Dict[str, Any]:
    """Everything a conversion and its manifest are made from (see ``conversion_cache``): the
    files, the arguments that choose the precision, this CPU's bf16 instructions and the
    versions. The pretrained files are a local folder's content, or a hub name's revision in the
    local Hugging Face cache (its snapshot's commit); failing both, the name and ``config``
    (transformers', given by a load that read it)."""
    if weights_path.is_dir():
        weights = folder_fingerprint(weights_path, [path.name for path in weights_path.iterdir()
                                                    if path.suffix in (".safetensors", ".bin", ".json")])
    else:
        weights = file_fingerprint(weights_path)
    return {
        "format": CACHE_FORMAT, "weights": weights, "precision": args.precision, "native_bf16": cpu_has_native_bf16(),
        **_pretrained_identity(pretrained, config),
        "task": args.task or (task.name if task is not None else None),
        "versions": [__version__, *(_version(name) for name in ("openvino", "torch", "transformers", "tokenizers"))],
    }


def pretrained_folder(pretrained: str) -> Optional[Path]:
    """The folder holding the pretrained config and vocabulary: the one named, or a hub name's
    snapshot in the local Hugging Face cache (named by its commit); None when it is not there."""
    folder = Path(pretrained).expanduser()
    if folder.is_dir():
        return folder
    if looks_like_a_path(pretrained):
        return None
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(pretrained, "config.json")
    return Path(config).parent if isinstance(config, str) else None


def _pretrained_identity(pretrained: str, config: Any) -> Dict[str, Any]:
    folder = pretrained_folder(pretrained)
    if folder is None:
        return {"pretrained": pretrained, "config": None if config is None else config.to_json_string(use_diff=False)}
    if Path(pretrained).expanduser().is_dir():
        return {"pretrained": folder_fingerprint(folder, PRETRAINED_FILES), "config": None}
    return {"pretrained": f"{pretrained}@{folder.name}", "config": None}  # a hub snapshot's commit


def _cache(args: DeployArguments) -> ConversionCache:
    return ConversionCache(Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir())


def _version(package: str) -> Optional[str]:
    """An installed package's version, read without importing it (torch takes a second)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _model_type(pretrained: Path) -> str:
    """``model_type`` of the folder's config.json ("" when it cannot be read)."""
    try:
        config = json.loads((pretrained / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(config.get("model_type", "")) if isinstance(config, dict) else ""
