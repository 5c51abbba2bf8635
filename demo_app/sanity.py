"""Checks that a loaded model is the student's model and gives sane answers, before it is served.

The checkpoint's tensors are checked as they are read (``checkpoint.check_tensors``). Here: the
tokenizer must fit the model's embedding (a missing or foreign vocabulary turns every word into
``[UNK]`` and the model into confident nonsense), and one forward pass on the task's first
example must give finite numbers.
"""

from __future__ import annotations

from .checkpoint import CheckpointError
from .predictor import PredictionError, Predictor


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
