"""Where a model's OpenVINO conversion is kept between loads, and how it is known not to be stale.

An conversion is keyed by everything it was made from: the checkpoint's content, the pretrained
folder's config and vocabulary, the task asked for, the precision and the versions of demo_app,
OpenVINO, torch and transformers. A changed byte in any of them is another key, so a stale conversion
is never served: it is simply not found, and the least recently used conversions are removed.

The checkpoint's content is fingerprinted without reading its 1.3 GB: torch saves a checkpoint as a
zip archive whose directory holds a CRC-32 of every tensor, so the directory (a few KB at the
end of the file) changes whenever a weight does. Other files (safetensors, old pickles) are hashed
whole. Next to the conversion, ``manifest.json`` keeps what loading the weights found out (the task,
the number of classes, warnings), so a load from the cache does not read the weights at all.

The cache lives in ``$DEMO_APP_CACHE`` or ``~/.cache/demo_app`` (``DeployArguments.cache_dir``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional

from .checkpoint import zip_directory

CACHE_FORMAT = 2  # bump when what a conversion holds or how it is made changes (2: the tokenizer and config facts)
KEEP_CONVERSIONS = 4  # each is the model's size (220 MB for kcbert-base in bf16)
MANIFEST = "manifest.json"
_CHUNK = 1 << 22


def default_cache_dir() -> Path:
    """``$DEMO_APP_CACHE``, else ``$XDG_CACHE_HOME/demo_app``, else ``~/.cache/demo_app``."""
    if os.environ.get("DEMO_APP_CACHE"):
        return Path(os.environ["DEMO_APP_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "demo_app"


def file_fingerprint(path: Path) -> str:
    """A digest of the file's content: of its zip directory's CRC-32s for a torch zip file,
    else of every byte."""
    digest = hashlib.sha256()
    if _add_zip_directory(path, digest):
        return digest.hexdigest()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _add_zip_directory(path: Path, digest) -> bool:
    entries = zip_directory(path)
    # torch can be told not to write CRC-32s (set_crc32_options(False)); then hash the bytes.
    if not entries or any(entry.CRC == 0 and entry.file_size for entry in entries):
        return False
    digest.update(f"zip {path.stat().st_size}\n".encode())
    for entry in entries:
        digest.update(f"{entry.filename} {entry.file_size} {entry.CRC}\n".encode())
    return True


def folder_fingerprint(directory: Path, names: Iterable[str]) -> str:
    """A digest of the named files of ``directory`` that exist (config, vocabulary)."""
    digest = hashlib.sha256()
    for name in sorted(names):
        path = directory / name
        if path.is_file():
            digest.update(f"{name} {file_fingerprint(path)}\n".encode())
    return digest.hexdigest()


class ConversionCache:
    """The cache folder: one sub-folder per conversion key, each with the conversion and its manifest."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory) / "conversions"

    def entry(self, key_parts: Dict[str, Any]) -> Path:
        """The folder for the conversion made from ``key_parts`` (which need not exist yet)."""
        key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:24]
        return self.directory / key

    def manifest(self, entry: Path) -> Optional[Dict[str, Any]]:
        """What the entry's conversion was made from, or None when it is missing or incomplete (the
        manifest is written last)."""
        try:
            manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        os.utime(entry)  # recently used: kept longest
        return manifest if isinstance(manifest, dict) else None

    def build(self, entry: Path, make: Callable[[Path], Dict[str, Any]]) -> Path:
        """Make the conversion for ``entry`` with ``make(folder)`` (which writes the files and returns
        the manifest) in a private folder, then move it into place in one step, so that another
        process loading the same model never reads half a conversion; then remove the least
        recently used conversions beyond ``KEEP_CONVERSIONS``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=self.directory))
        try:
            manifest = make(private)
            (private / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
            try:
                os.rename(private, entry)
            except OSError:  # another process finished the same conversion first: use theirs
                if self.manifest(entry) is None:
                    raise
        finally:
            shutil.rmtree(private, ignore_errors=True)
        others = sorted((path for path in self.directory.iterdir()
                         if path.is_dir() and path != entry and not path.name.startswith(".")),
                        key=lambda path: path.stat().st_mtime, reverse=True)
        for stale in others[KEEP_CONVERSIONS - 1:]:
            shutil.rmtree(stale, ignore_errors=True)
        return entry
