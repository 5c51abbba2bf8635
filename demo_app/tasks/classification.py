"""Document classification (nlpbook's sentiment chapter, NSMC): one sentence -> class bars.

Also the base of every sequence classifier (the ``Sequence…`` facets, which pair
classification shares): inputs of one or more text fields, encoded as the tokenizer's sentence
(pair), softmax probabilities, one bar per class with widths that add up to exactly 100%.
"""

from __future__ import annotations

import csv
import dataclasses
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .arrays import softmax
from .contract import (
    DEMO_MODEL_DIR,
    ExplanationTarget,
    Input,
    StateDict,
    Task,
    TaskCheckpoints,
    TaskData,
    TaskPage,
    TaskPipeline,
)
from .fields import FieldError
from .text import TextInputs

DEFAULT_LABELS = ("부정 (negative)", "긍정 (positive)")


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One input's result from a classifier: the predicted label and every class's probability,
    in label order. ``inputs`` is the sentence (a one-field task) or the tuple of fields."""

    inputs: Any
    label: str
    probabilities: Dict[str, float]

    @property
    def sentence(self) -> str:
        """The text of a one-sentence input (the first field otherwise)."""
        return self.inputs if isinstance(self.inputs, str) else self.inputs[0]


class SequencePipeline(TaskPipeline):
    """An ``AutoModelForSequenceClassification`` over the fields: softmax over the classes."""

    def preprocess(self, tokenizer: Any, items: List[Any], max_seq_length: int) -> Any:
        columns = list(zip(*[fields_of(item) for item in items]))  # sentences, or premises and hypotheses
        return tokenizer(*columns, padding="longest", truncation=True, max_length=max_seq_length,
                         return_tensors="np")

    def postprocess(self, items: List[Any], encoding: Any, outputs: Dict[str, np.ndarray],
                    labels: Sequence[str]) -> List[Prediction]:
        rows = softmax(outputs["logits"]).tolist()
        return [Prediction(item, first_of(labels, row), dict(zip(labels, row)))
                for item, row in zip(items, rows)]

    explains = True

    def explanation_target(self, tokenizer: Any, item: Any, result: Prediction, labels: Sequence[str],
                           target: Any, max_seq_length: int) -> ExplanationTarget:
        """The logit of the predicted class, or of ``target`` (an index or a label's name)."""
        try:
            label = result.label if target is None else label_named(target, labels)
        except ValueError as error:
            raise FieldError(f"target: {error}") from None
        index = list(labels).index(label)
        encoding = tokenizer(*[[field] for field in fields_of(item)], truncation=True, max_length=max_seq_length,
                             return_offsets_mapping=True, return_tensors="np")
        return ExplanationTarget(dict(encoding), encoding.sequence_ids(0), label,
                                 lambda outputs: outputs["logits"][:, index])


class SequenceCheckpoints(TaskCheckpoints):
    model_class = "AutoModelForSequenceClassification"
    head_description = "a sequence-classification model"
    head_bias_keys = ("classifier.out_proj.bias", "classifier.bias")  # RoBERTa/ELECTRA, BERT
    output_heads = ("classifier",)

    def has_head(self, state_dict: StateDict) -> bool:
        """A ``classifier`` over the pooled [CLS] (BERT: beside a pooler) or RoBERTa's head."""
        return "classifier.out_proj.weight" in state_dict or (
            "classifier.weight" in state_dict and has_pooler(state_dict))


class SequenceData(TaskData):
    output_columns = ("prediction", "probability")
    has_gold_labels = True

    def result_columns(self, result: Dict[str, Any]) -> Dict[str, Any]:
        best = max(result["probabilities"], key=lambda bar: bar["probability"])
        return {"prediction": result["prediction"], "probability": best["probability"]}

    def gold_label(self, value: str, labels: Sequence[str]) -> Optional[str]:
        return label_named(value, labels)


# -- document classification ------------------------------------------------------------------

class DocumentInputs(TextInputs):
    fields = ("sentence",)
    item_name, item_example = "sentence", "[sentence]"


class DocumentPipeline(SequencePipeline):
    def to_dict(self, prediction: Prediction) -> Dict[str, Any]:
        """ratsnlp's keys: ``sentence``, ``prediction`` and, for two classes, ``positive_data``,
        ``negative_data``, ``positive_width``, ``negative_width`` (class 1 positive, as in
        ratsnlp); plus ``probabilities``, which is all N-class models get."""
        bars = probability_bars(prediction)
        result: Dict[str, Any] = {"sentence": prediction.sentence, "prediction": prediction.label}
        if len(bars) == 2:
            negative, positive = bars
            result.update(
                positive_data=f"{short_label(positive['label'])} {positive['probability']}",
                negative_data=f"{short_label(negative['label'])} {negative['probability']}",
                positive_width=positive["width"],
                negative_width=negative["width"],
            )
        result["probabilities"] = bars
        return result

    def inference_fn(self, predictor: Any) -> Callable[..., Dict[str, Any]]:
        def inference_fn(sentence: str, *more: str) -> Dict[str, Any]:
            if more:  # the pair notebook's inference_fn(premise, hypothesis) on this model
                raise TypeError("this model is served as classification (one sentence): "
                                f"inference_fn(sentence) takes 1 text, {1 + len(more)} were given. For "
                                "(premise, hypothesis) pairs load the checkpoint with "
                                "task='pair-classification' (--task pair-classification)")
            return self.to_dict(predictor.predict([sentence])[0])

        return inference_fn


class DocumentCheckpoints(SequenceCheckpoints):
    checkpoint_dir_name = "checkpoint-doccls"
    demo_pretrained_dir = DEMO_MODEL_DIR / "pretrained"
    demo_checkpoint_dir = DEMO_MODEL_DIR / "checkpoint-doccls"
    demo_description = "a small Korean sentiment BERT"

    def default_labels(self, num_labels: int) -> Tuple[str, ...]:
        return DEFAULT_LABELS if num_labels == 2 else super().default_labels(num_labels)


class DocumentPage(TaskPage):
    renderer = "bars"
    field_labels = {"sentence": "문장 (sentence)"}
    title = "KcBERT 감정 분석 데모 (Sentiment demo)"
    lead = "문장을 입력하면 모델이 감정을 분류합니다. "
    lead_en = "Type a sentence and the model classifies it."
    examples = (("이 영화 정말 재밌어요",), ("배우들 연기가 정말 좋았어요",), ("시간이 아까웠습니다",),
                ("스토리가 너무 지루했어요",))


class DocumentData(SequenceData):
    column_aliases = {"document": "sentence", "text": "sentence"}  # NSMC's column; a common one
    training_format = "nsmc"

    def training_row(self, inputs: Input, label: str, labels: Sequence[str]) -> Dict[str, Any]:
        """NSMC's ``ratings_train.txt`` row: ``document`` and ``label`` (the class index)."""
        return {"document": inputs[0], "label": labels.index(label)}

    def write_training_data(self, examples: List[Tuple[int, Dict[str, Any]]], stream: IO[str]) -> None:
        write_nsmc(examples, stream)


def write_nsmc(examples: List[Tuple[int, Dict[str, Any]]], stream: IO[str]) -> None:
    """NSMC's ``ratings_train.txt``: ``id document label`` with a header, tab-separated, as
    ratsnlp's ``NsmcCorpus`` reads it (``csv.reader``, tab, ``"`` quotes; the classification and
    the generation chapters' readers alike): a text with a quote, a tab or a line break is
    quoted, so it comes back as it was typed."""
    writer = csv.writer(stream, delimiter="\t", quotechar='"', lineterminator="\n")
    writer.writerow(["id", "document", "label"])
    for row_id, example in examples:
        writer.writerow([row_id, example["document"], example["label"]])


DOCUMENT_CLASSIFICATION = Task("classification", DocumentInputs(), DocumentPipeline(), DocumentCheckpoints(),
                               DocumentPage(), DocumentData())


# -- shared helpers -----------------------------------------------------------------------------

def fields_of(item: Any) -> Input:
    return (item,) if isinstance(item, str) else tuple(item)


def label_named(value: Any, labels: Sequence[str]) -> str:
    """A class index (NSMC's 0 / 1) or a label's name: full ('긍정 (positive)'), Korean
    ('긍정') or English ('positive', KLUE-NLI's 'entailment'); a ValueError naming the classes."""
    text = str(value).strip()
    if text.isdigit() and int(text) < len(labels):
        return labels[int(text)]
    for label in labels:
        names = {label, short_label(label), english_label(label)}
        if text.casefold() in {name.casefold() for name in names}:
            return label
    raise ValueError(f"label {value!r} is none of this model's classes: 0-{len(labels) - 1} "
                     f"or {', '.join(repr(label) for label in labels)}")


def first_of(labels: Sequence[str], probabilities: Sequence[float]) -> str:
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return labels[best]


def probability_bars(prediction: Prediction) -> List[Dict[str, Any]]:
    """``[{label, probability, width}]``: probabilities rounded as the tutorial shows them,
    widths that add up to exactly 100.00%."""
    labels = list(prediction.probabilities)
    probabilities = list(prediction.probabilities.values())
    widths = [format_percent(bp) for bp in basis_points(probabilities)]
    return [{"label": label, "probability": round(p, 4), "width": width}
            for label, p, width in zip(labels, probabilities, widths)]


def has_pooler(state_dict: StateDict) -> bool:
    """BERT's sequence classifiers keep the pooler; its token classifiers (NER) have none."""
    return any(".pooler." in key or key.startswith("pooler.") for key in state_dict)


def basis_points(probabilities: List[float]) -> List[int]:
    """Probabilities in hundredths of a percent that add up to exactly 10000 (largest remainder)."""
    exact = [p * 10000 for p in probabilities]
    floors = [int(x) for x in exact]
    shortfall = 10000 - sum(floors)
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - floors[i], reverse=True)
    for i in by_remainder[:max(shortfall, 0)]:
        floors[i] += 1
    return floors


def format_percent(basis_points: int) -> str:
    whole, hundredths = divmod(basis_points, 100)
    return f"{whole}.{hundredths:02d}%"


def short_label(label: str) -> str:
    """'긍정 (positive)' -> '긍정', as the tutorial's '긍정 0.8599'."""
    return label.split(" (")[0]


def english_label(label: str) -> str:
    """'긍정 (positive)' -> 'positive'; a label without a part in parentheses stays as it is."""
    return label.rsplit(" (", 1)[1].rstrip(")") if label.endswith(")") and " (" in label else label
