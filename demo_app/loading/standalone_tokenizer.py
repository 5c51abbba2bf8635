"""A fast tokenizer read from its ``tokenizer.json`` alone, without importing transformers.

transformers' fast tokenizers are a thin layer over the ``tokenizers`` library: a call sets the
backend's truncation and padding, encodes the batch, and lays the encodings out as a dict. Here
that layer is written again for what the encoder tasks ask of it, so that a model served from
the conversion cache (``openvino_conversion.py``) starts without importing transformers (half a
second, and its model registry another half). The backend is the one the first load's
transformers tokenizer had, saved beside the conversion with the special tokens it knew, so the
ids, offsets and windows are the same (``tests/test_cold_start.py`` compares them on every task).

Why not transformers' own ``PreTrainedTokenizerFast(tokenizer_file=...)``: it is that import
that costs the time.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

TOKENIZER_FILE = "tokenizer.json"
FACTS_FILE = "tokenizer_facts.json"
# What the tasks read of a tokenizer besides calling it (transformers' attribute names).
SPECIAL_IDS = ("unk_token_id", "pad_token_id", "cls_token_id", "sep_token_id", "bos_token_id", "eos_token_id",
               "mask_token_id")
TRUNCATION_STRATEGIES = {True: "longest_first", "longest_first": "longest_first", "only_first": "only_first",
                         "only_second": "only_second"}


def save_standalone(tokenizer: Any, folder: Path) -> None:
    """Write what ``StandaloneTokenizer`` needs of ``tokenizer`` (a transformers fast tokenizer):
    its backend as ``tokenizer.json`` and the facts transformers keeps outside it."""
    backend = tokenizer.backend_tokenizer
    backend.no_truncation()  # the state a call sets; not part of the tokenizer
    backend.no_padding()
    backend.save(str(folder / TOKENIZER_FILE))
    facts = {name: getattr(tokenizer, name) for name in SPECIAL_IDS}
    facts.update(pad_token=tokenizer.pad_token, pad_token_type_id=tokenizer.pad_token_type_id,
                 padding_side=tokenizer.padding_side, truncation_side=tokenizer.truncation_side,
                 model_input_names=list(tokenizer.model_input_names), size=len(tokenizer))
    (folder / FACTS_FILE).write_text(json.dumps(facts, ensure_ascii=False), encoding="utf-8")


def can_load_standalone(folder: Path) -> bool:
    return (folder / TOKENIZER_FILE).is_file() and (folder / FACTS_FILE).is_file()


class Encoded(dict):
    """A call's arrays by name, as transformers' ``BatchEncoding``, with ``sequence_ids``."""

    def __init__(self, values: Dict[str, Any], encodings: List[Any]) -> None:
        super().__init__(values)
        self._encodings = encodings

    def sequence_ids(self, row: int = 0) -> List[Optional[int]]:
        """Which text of the pair each token of ``row`` came from (None: a special token)."""
        return self._encodings[row].sequence_ids


class StandaloneTokenizer:
    """A fast tokenizer's calls as the tasks make them (``__call__``, ``convert_ids_to_tokens``,
    the special tokens' ids, ``len``), read from a folder ``save_standalone`` wrote."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        self._backend = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self._facts = json.loads((folder / FACTS_FILE).read_text(encoding="utf-8"))
        facts = self._facts
        self.unk_token_id: Optional[int] = facts["unk_token_id"]
        self.pad_token_id: Optional[int] = facts["pad_token_id"]
        self.cls_token_id: Optional[int] = facts["cls_token_id"]
        self.sep_token_id: Optional[int] = facts["sep_token_id"]
        self.bos_token_id: Optional[int] = facts["bos_token_id"]
        self.eos_token_id: Optional[int] = facts["eos_token_id"]
        self.mask_token_id: Optional[int] = facts["mask_token_id"]
        self.model_input_names: List[str] = facts["model_input_names"]
        self._lock = threading.Lock()  # a call sets the backend's truncation and padding: one at a time

    def __len__(self) -> int:
        return int(self._facts["size"])

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> List[Optional[str]]:
        return [self._backend.id_to_token(int(i)) for i in ids]

    def __call__(self, text: Union[str, Sequence[str]], text_pair: Union[str, Sequence[str], None] = None, *,
                 add_special_tokens: bool = True, padding: Union[bool, str] = False,
                 truncation: Union[bool, str] = False, max_length: Optional[int] = None, stride: int = 0,
                 return_overflowing_tokens: bool = False, return_offsets_mapping: bool = False,
                 return_special_tokens_mask: bool = False, return_tensors: Optional[str] = None) -> Encoded:
        batched = not isinstance(text, str)
        texts = list(text) if batched else [text]
        pairs = None if text_pair is None else (list(text_pair) if batched else [text_pair])
        with self._lock:
            self._set_truncation(truncation, max_length, stride)
            self._set_padding(padding)
            encodings = self._backend.encode_batch(list(zip(texts, pairs)) if pairs is not None else texts,
                                                   add_special_tokens=add_special_tokens)
        windows = [[encoding, *encoding.overflowing] if return_overflowing_tokens else [encoding]
                   for encoding in encodings]
        flat = [window for windows_of_one in windows for window in windows_of_one]
        fields = self._fields(return_special_tokens_mask, return_offsets_mapping)
        values: Dict[str, Any] = {name: [getattr(window, attribute) for window in flat]
                                  for name, attribute in fields.items()}
        if return_overflowing_tokens:
            values["overflow_to_sample_mapping"] = [row for row, of_one in enumerate(windows) for _ in of_one]
        if return_tensors is not None:
            values = {name: _as_tensor(value, return_tensors) for name, value in values.items()}
        elif not batched and not return_overflowing_tokens:  # one text: transformers drops the batch axis
            values = {name: value[0] for name, value in values.items()}
        return Encoded(values, flat)

    def _fields(self, special_tokens_mask: bool, offsets: bool) -> Dict[str, str]:
        """The names of a call's arrays (in transformers' order) and the encoding's attribute each reads."""
        fields = {"input_ids": "ids"}
        if "token_type_ids" in self.model_input_names:
            fields["token_type_ids"] = "type_ids"
        if "attention_mask" in self.model_input_names:
            fields["attention_mask"] = "attention_mask"
        if special_tokens_mask:
            fields["special_tokens_mask"] = "special_tokens_mask"
        if offsets:
            fields["offset_mapping"] = "offsets"
        return fields

    def _set_truncation(self, truncation: Union[bool, str], max_length: Optional[int], stride: int) -> None:
        if not truncation or truncation == "do_not_truncate":
            self._backend.no_truncation()
            return
        if max_length is None:
            raise ValueError("truncation needs max_length")
        self._backend.enable_truncation(max_length, stride=stride, strategy=TRUNCATION_STRATEGIES[truncation],
                                        direction=self._facts["truncation_side"])

    def _set_padding(self, padding: Union[bool, str]) -> None:
        if padding in (True, "longest"):
            facts = self._facts
            self._backend.enable_padding(direction=facts["padding_side"], pad_id=self.pad_token_id,
                                         pad_type_id=facts["pad_token_type_id"], pad_token=facts["pad_token"])
        elif not padding or padding == "do_not_pad":
            self._backend.no_padding()
        else:
            raise ValueError(f"padding {padding!r}: only 'longest' (or True) is supported")


def _as_tensor(value: List[Any], kind: str) -> Any:
    if kind == "np":
        return np.asarray(value, dtype=np.int64)
    if kind == "pt":  # an explanation's inputs for the PyTorch model
        import torch

        return torch.tensor(value, dtype=torch.long)
    raise ValueError(f"return_tensors {kind!r}: 'np' or 'pt'")
