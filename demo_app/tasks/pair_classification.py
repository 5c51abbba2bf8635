"""Sentence-pair classification (nlpbook's NLI chapter, KLUE-NLI): premise + hypothesis ->
참 entailment / 거짓 contradiction / 중립 neutral, three bars.

The pair is encoded as the tokenizer's text pair, as ratsnlp trains it: ``[CLS] premise [SEP]
hypothesis [SEP]``, the hypothesis with ``token_type_ids`` 1, and truncation that shortens the
longer of the two (``longest_first``) so both sentences stay.
"""

from __future__ import annotations

import json
from typing import IO, Any, Callable, Dict, List, Sequence, Tuple

from .classification import (
    Prediction,
    SequenceCheckpoints,
    SequenceData,
    SequencePipeline,
    english_label,
    probability_bars,
    short_label,
)
from .contract import DEMO_MODEL_DIR, Input, Task, TaskPage
from .text import TextInputs

DEFAULT_LABELS = ("참 (entailment)", "거짓 (contradiction)", "중립 (neutral)")
RATSNLP_KEYS = ("entailment", "contradiction", "neutral")  # ratsnlp's label order


class PairInputs(TextInputs):
    fields = ("premise", "hypothesis")
    item_name, item_example = "(premise, hypothesis) pair", "[(premise, hypothesis)]"


class PairPipeline(SequencePipeline):
    def to_dict(self, prediction: Prediction) -> Dict[str, Any]:
        """ratsnlp's keys: ``premise``, ``hypothesis``, ``prediction`` and, for three classes,
        ``entailment_data`` ('참 0.9123'), ``contradiction_data``, ``neutral_data`` and their
        ``_width`` keys (the book rounds to 2 decimals; here 4); plus ``probabilities``."""
        bars = probability_bars(prediction)
        premise, hypothesis = prediction.inputs
        result: Dict[str, Any] = {"premise": premise, "hypothesis": hypothesis, "prediction": prediction.label}
        if len(bars) == 3:
            for key, bar in zip(RATSNLP_KEYS, bars):
                result[f"{key}_data"] = f"{short_label(bar['label'])} {bar['probability']}"
            for key, bar in zip(RATSNLP_KEYS, bars):
                result[f"{key}_width"] = bar["width"]
        result["probabilities"] = bars
        return result

    def inference_fn(self, predictor: Any) -> Callable[..., Dict[str, Any]]:
        def inference_fn(premise: str, hypothesis: str) -> Dict[str, Any]:
            return self.to_dict(predictor.predict([(premise, hypothesis)])[0])

        return inference_fn


class PairCheckpoints(SequenceCheckpoints):
    checkpoint_dir_name = "checkpoint-paircls"
    demo_pretrained_dir = DEMO_MODEL_DIR / "pretrained-paircls"
    demo_checkpoint_dir = DEMO_MODEL_DIR / "checkpoint-paircls"
    demo_description = "a small Korean NLI BERT"

    def default_labels(self, num_labels: int) -> Tuple[str, ...]:
        return DEFAULT_LABELS if num_labels == 3 else super().default_labels(num_labels)


class PairPage(TaskPage):
    renderer = "bars"
    field_labels = {"premise": "전제 (premise)", "hypothesis": "가설 (hypothesis)"}
    title = "KcBERT 자연어 추론 데모 (Sentence-pair demo)"
    lead = "전제와 가설을 입력하면 모델이 둘의 관계를 분류합니다. "
    lead_en = "Type a premise and a hypothesis; the model says whether one follows from the other."
    examples = (("나는 밥을 먹었다", "나는 식사를 했다"), ("나는 밥을 먹었다", "나는 밥을 먹지 않았다"),
                ("나는 밥을 먹었다", "나는 배가 고프다"))


class PairData(SequenceData):
    column_aliases = {"sentence1": "premise", "sentence2": "hypothesis"}
    training_format = "klue-nli"

    def training_row(self, inputs: Input, label: str, labels: Sequence[str]) -> Dict[str, Any]:
        """A KLUE-NLI row, as ratsnlp's corpus reads it: ``premise``, ``hypothesis``, ``gold_label``."""
        return {"premise": inputs[0], "hypothesis": inputs[1], "gold_label": english_label(label)}

    def write_training_data(self, examples: List[Tuple[int, Dict[str, Any]]], stream: IO[str]) -> None:
        """A JSON list, as KLUE-NLI's files: ``guid``, ``genre``, ``premise``, ``hypothesis``,
        ``gold_label``. Korean is written as ``\\u`` escapes: ratsnlp's ``KlueNLICorpus`` opens
        the file without naming an encoding, so only ASCII reads the same everywhere."""
        rows = [{"guid": f"demo-history-{row_id}", "genre": "demo", **example} for row_id, example in examples]
        stream.write(json.dumps(rows, ensure_ascii=True, indent=1) + "\n")


PAIR_CLASSIFICATION = Task("pair-classification", PairInputs(), PairPipeline(), PairCheckpoints(), PairPage(),
                           PairData())
