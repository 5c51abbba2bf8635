"""Checks that a loaded model is the student's model and gives sane answers, before it is served.

The checkpoint's tensors are checked as they are read (``checkpoint.check_tensors``). Here: the
checkpoint's head must be the task's, with a sane number of classes; the tokenizer must fit the
model's embedding (a missing or foreign vocabulary turns every word into ``[UNK]`` and the model
into confident nonsense); and one forward pass on the task's first example must give finite
numbers.
"""

from __future__ import annotations

from ..inference import PredictionError, Predictor
from ..tasks import TASKS, StateDict, Task, task_with_head
from .checkpoint import MAX_CLASSES, CheckpointError


def check_head(state_dict: StateDict, task: Task) -> None:
    """The checkpoint's head must be the one the task's model has (the right task named when
    it is not)."""
    other = task_with_head(state_dict)
    if other is not None and not task.has_head(state_dict):
        raise CheckpointError(f"this checkpoint is {other.head_description}, not one for the task "
                              f"{task.name!r}: choose task={other.name!r} (--task {other.name})")


def number_of_classes(state_dict: StateDict, task: Task) -> int:
    """The classes the task's head has (2 for QA: start and end), read from its bias."""
    count = task.num_labels(state_dict)
    if count is None:
        heads = sorted(k for k in state_dict if k.startswith(("classifier", "qa_outputs")))
        raise CheckpointError(
            f"cannot find the {task.name} head in the checkpoint (looked for "
            f"{' or '.join(repr(key) for key in task.head_bias_keys)}; head keys found: "
            f"{', '.join(heads) or 'none'}). Is this {task.head_description}? (tasks: {', '.join(TASKS)})")
    if not 1 <= count <= MAX_CLASSES:
        key = next(key for key in task.head_bias_keys if key in state_dict)
        raise CheckpointError(f"the checkpoint's {key} has shape {list(state_dict[key].shape)}: a "
                              f"classification head has 1 to {MAX_CLASSES:,} classes; the file is broken")
    return count


def check_vocabulary(tokenizer, model, pretrained: str) -> None:
    """The tokenizer's vocabulary must fit the embedding rows the checkpoint trained.

    More tokens than rows would index past the embedding; far fewer means another vocabulary
    (transformers builds a 5-token tokenizer when ``vocab.txt`` is missing)."""
    rows = model.get_input_embeddings().weight.shape[0]
    tokens = len(tokenizer)
    if tokens > rows or tokens < rows // 2:
        raise CheckpointError(
            f"the tokenizer of {pretrained} has {tokens:,} tokens but the checkpoint's embedding has "
            f"{rows:,} rows: the pretrained model (vocab.txt) is not the one the checkpoint was "
            "fine-tuned from; set pretrained_model_name to that one"
        )


def smoke_test(predictor: Predictor) -> None:
    """One prediction on the task's first example; its outputs must be finite numbers."""
    try:
        predictor.predict([predictor.task.smoke_input()])
    except PredictionError as error:
        raise CheckpointError(f"a test prediction failed: {error}") from None
