"""Checks that a loaded model is the student's model and gives sane answers, before it is served.

The checkpoint's tensors are checked as they are read (``checkpoint.check_tensors``). Here: the
checkpoint's head must be the task's, with a sane number of classes; the tokenizer must fit the
model's embedding (a missing or foreign vocabulary turns every word into ``[UNK]`` and the model
into confident nonsense); and one forward pass on the task's first example must give finite
numbers.
"""

from __future__ import annotations

import math
from typing import List, Tuple

from ..inference import PredictionError, Predictor
from ..tasks import TASKS, StateDict, Task, task_with_head
from .checkpoint import MAX_CLASSES, CheckpointError


def check_head(state_dict: StateDict, task: Task) -> None:
    """The checkpoint's head must be the one the task's model has (the right task named when
    it is not)."""
    other = task_with_head(state_dict)
    if other is not None and not task.checkpoints.has_head(state_dict):
        raise CheckpointError(f"this checkpoint is {other.checkpoints.head_description}, not one for the task "
                              f"{task.name!r}: choose task={other.name!r} (--task {other.name})")


def number_of_classes(state_dict: StateDict, task: Task) -> int:
    """The classes the task's head has (2 for QA: start and end), read from its bias."""
    count = task.checkpoints.num_labels(state_dict)
    if count is None:
        head_names = {head for other in TASKS.values() for head in other.checkpoints.output_heads}
        heads = sorted(k for k in state_dict if k.split(".")[0] in head_names)
        raise CheckpointError(
            f"cannot find the {task.name} head in the checkpoint (looked for "
            f"{' or '.join(repr(key) for key in task.checkpoints.head_bias_keys)}; head keys found: "
            f"{', '.join(heads) or 'none'}). Is this {task.checkpoints.head_description}? (tasks: {', '.join(TASKS)})")
    if not 1 <= count <= MAX_CLASSES:
        key = next(key for key in task.checkpoints.head_bias_keys if key in state_dict)
        raise CheckpointError(f"the checkpoint's {key} has shape {list(state_dict[key].shape)}: a "
                              f"classification head has 1 to {MAX_CLASSES:,} classes; the file is broken")
    return count


UNKNOWN_SHARE_WARNING = 0.05  # more of the task's examples' tokens [UNK] than this: another vocabulary?
# ... and at least this many words: the examples are a few dozen tokens (the review examples 14), so
# one word the right vocabulary lacks (a rare syllable, an emoji) is 7% alone and says nothing.
UNKNOWN_WORDS_WARNING = 3


def check_vocabulary(tokenizer, model, pretrained: str, task: Task) -> List[str]:
    """The tokenizer's vocabulary must fit the embedding rows the checkpoint trained, and its
    special tokens the config's; returns warnings (an unusual share of ``[UNK]`` in the task's
    examples) to show with the model.

    More tokens than rows would index past the embedding; far fewer means another vocabulary
    (transformers builds a 5-token tokenizer when ``vocab.txt`` is missing). A vocabulary of the
    same size from another model passes that check, so its special tokens and how much of the
    task's own examples it knows are looked at too."""
    rows = model.get_input_embeddings().weight.shape[0]
    tokens = len(tokenizer)
    fix = ("the pretrained model (its vocabulary) is not the one the checkpoint was fine-tuned from; "
           "set pretrained_model_name to that one")
    if tokens > rows or tokens < rows // 2:
        raise CheckpointError(f"the tokenizer of {pretrained} has {tokens:,} tokens but the checkpoint's "
                              f"embedding has {rows:,} rows: {fix}")
    expected, given = getattr(model.config, "pad_token_id", None), getattr(tokenizer, "pad_token_id", None)
    if expected is not None and given is not None and expected != given:
        raise CheckpointError(f"the tokenizer of {pretrained} pads with token {given} but the model's config "
                              f"says {expected} (pad_token_id): {fix}")
    texts = [text for example in task.page.examples for text in example if isinstance(text, str)]
    unknown, tokens = unknown_words(tokenizer, texts)
    share = len(unknown) / tokens if tokens else 0.0
    if share > UNKNOWN_SHARE_WARNING and len(unknown) >= UNKNOWN_WORDS_WARNING:
        shown = ", ".join(repr(word) for word in unknown[:5]) + (", …" if len(unknown) > 5 else "")
        return [f"{share:.0%} of the tokens of this task's examples ({len(unknown)} of {tokens}: {shown}) are "
                f"unknown ([UNK]) to the tokenizer of {pretrained}: is it the model the checkpoint was "
                "fine-tuned from?"]
    return []


UNLIKELY_SHARE = 0.75  # examples' loss past this share of a uniform guess's: another tokenizer?


def check_language_model_fit(tokenizer, model, pretrained: str, task: Task) -> List[str]:
    """For a language model, whose tokenizer can have the right size and special tokens and still
    number the words otherwise (another model's ``tokenizer.json``): how likely the model finds
    its task's examples. Its own tokenizer's ids read as text the model learned (the demo model:
    2.1 nats a token, KoGPT2 a few); another's as noise, near or past a uniform guess over the
    vocabulary (ln of its size: 6.7 for the demo model's, 10.8 for KoGPT2's). Returns warnings."""
    texts = [text for example in task.page.examples for text in example if isinstance(text, str)]
    sequences = [ids for ids in (tokenizer(text)["input_ids"] for text in texts) if len(ids) > 1]
    if not sequences:
        return []
    import torch

    device = next(model.parameters()).device
    total, predicted = 0.0, 0
    with torch.no_grad():
        for ids in sequences:
            tensor = torch.tensor([ids], device=device)
            logits = model(input_ids=tensor).logits[0, :-1].float()  # each position's guess at the next
            total += float(torch.nn.functional.cross_entropy(logits, tensor[0, 1:], reduction="sum"))
            predicted += len(ids) - 1
    loss, uniform = total / predicted, math.log(model.get_input_embeddings().weight.shape[0])
    if loss > UNLIKELY_SHARE * uniform:
        return [f"the model finds this task's examples as unlikely as noise ({loss:.1f} nats a token; a random "
                f"guess: {uniform:.1f}): the tokenizer of {pretrained} may number its tokens otherwise than the "
                "one the model was trained with; set pretrained_model_name to that model"]
    return []


def unknown_words(tokenizer, texts: List[str]) -> Tuple[List[str], int]:
    """The pieces of ``texts`` the tokenizer reads as ``[UNK]`` (the text they stand for where the
    tokenizer gives offsets, else "[UNK]"), and how many tokens the texts make; nothing for a
    tokenizer without an unknown token (a byte-level one reads everything)."""
    unknown_id = getattr(tokenizer, "unk_token_id", None)
    if unknown_id is None:
        return [], 0
    unknown: List[str] = []
    tokens = 0
    for text in texts:
        encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=tokenizer.is_fast)
        offsets = encoding.get("offset_mapping") or [(0, 0)] * len(encoding["input_ids"])
        tokens += len(encoding["input_ids"])
        unknown += [text[start:end] or "[UNK]" for token, (start, end) in zip(encoding["input_ids"], offsets)
                    if token == unknown_id]
    return unknown, tokens


def smoke_test(predictor: Predictor) -> None:
    """One prediction on the task's first example; its outputs must be finite numbers. Then the
    model's pace on this machine is measured (``Predictor.measure_pace``)."""
    try:
        predictor.predict([predictor.task.page.smoke_input()])
    except PredictionError as error:
        raise CheckpointError(f"a test prediction failed: {error}") from None
    predictor.measure_pace()
