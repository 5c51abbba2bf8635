"""Named entity recognition (nlpbook's NER chapter): a sentence -> a tag per word piece, and the
entities they spell, with character offsets into the sentence.

The tags come from ``label_map.txt``, which ratsnlp writes beside the training data and the
checkpoint: one tag per line, ``[CLS] [SEP] [PAD] [MASK] O`` and then ``B-…``/``I-…`` in the order
the corpus first used them, so the file, not a fixed list, says what each output means.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .arrays import softmax
from .classification import has_pooler
from .contract import (
    DEMO_MODEL_DIR,
    ExplanationTarget,
    Input,
    SkippedCorrection,
    StateDict,
    Task,
    TaskCheckpoints,
    TaskData,
    TaskPage,
    TaskPipeline,
)
from .fields import index_in
from .scoring import f1
from .text import TextInputs

if TYPE_CHECKING:  # the explained scores are computed on a PyTorch model's outputs
    import torch

LABEL_MAP = "label_map.txt"
SEPARATOR = "\u241e"  # the book's corpus: text␞labelled text, one example a line
TAGGED = re.compile(r"<(.+?):([A-Z]{3})>")  # an entity in a labelled text, as the book's corpus marks it
# The book's tag set (KLUE / 국립국어원 style) and the names its page shows.
ENTITY_NAMES = {
    "PER": "인명", "LOC": "지명", "ORG": "기관명", "DAT": "날짜", "TIM": "시간", "DUR": "기간",
    "MNY": "통화", "PNT": "비율", "NOH": "기타 수량표현", "POH": "기타",
}


class NerInputs(TextInputs):
    fields = ("sentence",)
    item_name, item_example = "sentence", "[sentence]"


class NerPipeline(TaskPipeline):
    def preprocess(self, tokenizer: Any, items: List[str], max_seq_length: int) -> Any:
        encoding = tokenizer(items, padding="longest", truncation=True, max_length=max_seq_length,
                             return_offsets_mapping=True, return_special_tokens_mask=True,
                             return_tensors="np")
        encoding["tokens"] = [tokenizer.convert_ids_to_tokens(ids) for ids in encoding["input_ids"].tolist()]
        return encoding

    def postprocess(self, items: List[str], encoding: Any, outputs: Dict[str, np.ndarray],
                    labels: Sequence[str]) -> List[dict]:
        probabilities = softmax(outputs["logits"])
        top_probs, top_ids = probabilities.max(axis=-1), probabilities.argmax(axis=-1)
        results = []
        for row, sentence in enumerate(items):
            pieces = []
            for position, token in enumerate(encoding["tokens"][row]):
                if encoding["special_tokens_mask"][row, position] or not encoding["attention_mask"][row, position]:
                    continue
                start, end = encoding["offset_mapping"][row, position].tolist()
                pieces.append({"token": token, "tag": labels[int(top_ids[row, position])],
                               "probability": top_probs[row, position].item(), "start": start, "end": end})
            results.append({"sentence": sentence, "pieces": pieces, "entities": entities_of(sentence, pieces)})
        return results

    explains = True

    def explanation_target(self, tokenizer: Any, item: str, result: dict, labels: Sequence[str],
                           target: Any, max_seq_length: int) -> ExplanationTarget:
        """One entity (``target``: its index in ``entities``, the first by default): the sum of
        its word pieces' logits for the tags they were given."""
        entities = result["entities"]
        entity = entities[index_in(target, entities, "an entity's index",
                                   "no entity was found in this sentence: there is nothing to explain")]
        encoding = self.preprocess(tokenizer, [item], max_seq_length)
        tagged = {(piece["start"], piece["end"]): list(labels).index(piece["tag"]) for piece in result["pieces"]}
        chosen = [(position, tagged[(start, end)])
                  for position, (start, end) in enumerate(encoding["offset_mapping"][0].tolist())
                  if not encoding["special_tokens_mask"][0, position] and entity["start"] <= start < entity["end"]
                  and (start, end) in tagged]

        def score(outputs: Dict[str, "torch.Tensor"]) -> "torch.Tensor":
            return sum(outputs["logits"][:, position, tag] for position, tag in chosen)  # type: ignore[return-value]

        inputs = {name: encoding[name] for name in ("input_ids", "token_type_ids", "attention_mask", "offset_mapping")
                  if name in encoding}
        return ExplanationTarget(inputs, encoding.sequence_ids(0), f'{entity["text"]} ({entity["label"]})', score)

    def to_dict(self, result: dict) -> Dict[str, Any]:
        """The book's keys, ``sentence`` and ``result`` (``[{token, predicted_tag, top_prob}]``
        per word piece, ``predicted_tag`` the book's Korean type name; ``tag`` adds the B-/I- tag),
        plus ``entities``: ``[{text, label, name, start, end, probability}]``."""
        return {
            "sentence": result["sentence"],
            "result": [{"token": piece["token"], "predicted_tag": book_tag(piece["tag"]),
                        "top_prob": str(round(piece["probability"], 4)), "tag": piece["tag"]}
                       for piece in result["pieces"]],
            "entities": result["entities"],
        }

    def inference_fn(self, predictor: Any) -> Callable[..., Dict[str, Any]]:
        def inference_fn(sentence: str) -> Dict[str, Any]:
            return self.to_dict(predictor.predict([sentence])[0])

        return inference_fn

    def prediction_text(self, result: Dict[str, Any]) -> Optional[str]:
        """The sentence with its entities tagged, as the book's corpus writes it."""
        return tagged_sentence(result["sentence"], result.get("entities", []))


class NerCheckpoints(TaskCheckpoints):
    model_class = "AutoModelForTokenClassification"
    head_description = "a token-classification (NER) model"
    head_bias_keys = ("classifier.bias",)
    output_heads = ("classifier",)
    checkpoint_dir_name = "checkpoint-ner"
    demo_pretrained_dir = DEMO_MODEL_DIR / "pretrained-ner"
    demo_checkpoint_dir = DEMO_MODEL_DIR / "checkpoint-ner"
    demo_description = "a small Korean NER BERT"

    def has_head(self, state_dict: StateDict) -> bool:
        """A ``classifier`` on every token: BERT without its pooler."""
        return "classifier.weight" in state_dict and not has_pooler(state_dict)

    def recognises_files(self, directory: Path) -> bool:
        return (directory / LABEL_MAP).is_file()

    def why_recognised(self, checkpoint: Path) -> str:
        return f"the {LABEL_MAP} beside the checkpoint"

    def labels_from(self, checkpoint: Path, num_labels: int) -> Tuple[str, ...]:
        """The tags in ``label_map.txt`` beside the checkpoint (or in its directory)."""
        directory = checkpoint if checkpoint.is_dir() else checkpoint.parent
        path = directory / LABEL_MAP
        if not path.is_file():
            raise FileNotFoundError(
                f"a NER checkpoint needs its {LABEL_MAP} (one tag per line, {num_labels} lines for "
                f"this checkpoint) in {directory}: ratsnlp wrote it into the training corpus folder "
                "(downstream_corpus_root_dir/downstream_corpus_name); copy it beside the checkpoint")
        tags = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        if len(tags) != num_labels:
            raise ValueError(f"{path} has {len(tags)} tags but the checkpoint has {num_labels} "
                             "classes: it belongs to another training run")
        return tags

    def save_beside_model(self, folder: Path, labels: Sequence[str], source: Optional[Path]) -> None:
        """ratsnlp's ``label_map.txt``: one tag per line, in the model's order."""
        (folder / LABEL_MAP).write_text("\n".join(labels) + "\n", encoding="utf-8")


class NerPage(TaskPage):
    renderer = "entities"
    field_labels = {"sentence": "문장 (sentence)"}
    title = "KcBERT 개체명 인식 데모 (Named entity demo)"
    lead = "문장을 입력하면 모델이 사람, 장소, 기관, 날짜 같은 개체명을 찾아 표시합니다. "
    lead_en = "Type a sentence; the model marks people, places, organisations, dates and more."
    examples = (("이순신은 조선 중기의 무신이다",), ("2019년 5월 서울에서 삼성전자 직원 3명을 만났다",))
    correction_placeholder = "예: <이순신:PER>은 조선 중기의 무신이다"


class NerData(TaskData):
    output_columns = ("tagged", "entities")
    gold_columns = ("label", "labelled_text", "gold_label")
    training_format = "ner"

    def check_correction(self, correction: str, inputs: Dict[str, Any], labels: Sequence[str]) -> None:
        """The sentence itself with ``<text:TAG>`` around its entities, each TAG one of the
        served model's (its ``label_map.txt``): what ratsnlp's NER corpus reads back as written."""
        tags = sorted({label.split("-", 1)[1] for label in labels if "-" in label})
        for text, tag in TAGGED.findall(correction):
            if "<" in text:  # the sentence's own "<" before an entity: the reader's regex starts there
                raise ValueError(f'"<{text[:40]}:{tag}>" would be read as one entity: the sentence has a "<" of its '
                                 "own before it, where ratsnlp's NER reader starts an entity, so this sentence "
                                 "cannot be labelled in the book's corpus format")
            if tag not in tags:
                raise ValueError(f'"<{text[:40]}:{tag}>": {tag} is not a tag of this model; use one of '
                                 f"{', '.join(tags)}")
        sentence = str(inputs.get("sentence", ""))
        if TAGGED.sub(lambda match: match.group(1), correction) != sentence:
            raise ValueError("the labelled text must be the sentence itself, with <text:TAG> around each entity "
                             f"(e.g. {tagged_sentence(sentence, [])[:80]!r} with its entities marked)")

    def result_columns(self, result: Dict[str, Any]) -> Dict[str, Any]:
        """``tagged``: the sentence in the book's corpus format (``<이순신:PER>은 ...``), and
        ``entities`` as JSON."""
        entities = [{key: entity[key] for key in ("text", "label", "start", "end", "probability")}
                    for entity in result["entities"]]
        return {"tagged": tagged_sentence(result["sentence"], entities),
                "entities": json.dumps(entities, ensure_ascii=False)}

    def read_gold(self, value: Any, labels: Sequence[str]) -> Any:
        """A labelled text (``<이순신:PER>은 ...``) as its entities: ``{(start, end, label)}``."""
        return set(labelled_entities(str(value)))

    def scorer(self, labels: Sequence[str]) -> "EntityScore":
        return EntityScore()

    def training_row(self, inputs: Input, label: str, labels: Sequence[str]) -> Dict[str, Any]:
        """The book's ``text␞labelled_text`` line; ``label`` is the corrected labelled text."""
        if not label.strip():
            raise SkippedCorrection("the correction is empty")
        if TAGGED.search(inputs[0]):
            raise SkippedCorrection("the sentence itself holds <text:TAG>, which ratsnlp's NER reader "
                                    "takes for an entity")
        return {"text": inputs[0], "labelled_text": label.strip()}

    def write_training_data(self, examples: List[Tuple[int, Dict[str, Any]]], stream: IO[str]) -> None:
        """The book's NER corpus (``train.txt``): one ``text␞labelled_text`` line per example, as
        ratsnlp's ``NERCorpus`` reads it (``readlines``, ``split("␞")``): line breaks and tabs
        inside a text become spaces and a ``␞`` inside one is dropped, or the line would not
        read back as one example."""
        for _, example in examples:
            stream.write(f"{_corpus_text(example['text'])}{SEPARATOR}{_corpus_text(example['labelled_text'])}\n")

    def is_training_file(self, head: str, suffix: str) -> bool:
        return SEPARATOR in head.split("\n", 1)[0]

    def read_training_data(self, text: IO[str]) -> Iterator[Dict[str, Any]]:
        """The book's NER corpus lines as rows: ``sentence`` and its ``labelled_text`` (gold)."""
        for line in text:
            if line.strip():
                sentence, _, labelled = line.rstrip("\r\n").partition(SEPARATOR)
                yield {"sentence": sentence, "labelled_text": labelled.strip()}


NAMED_ENTITY_RECOGNITION = Task("ner", NerInputs(), NerPipeline(), NerCheckpoints(), NerPage(), NerData())


def labelled_entities(labelled: str) -> List[Tuple[int, int, str]]:
    """The entities of a labelled text: their character spans in the plain sentence, and labels."""
    spans, position, length = [], 0, 0
    for match in TAGGED.finditer(labelled):
        length += match.start() - position  # the plain text before the entity
        spans.append((length, length + len(match.group(1)), match.group(2)))
        length += len(match.group(1))
        position = match.end()
    return spans


def _corpus_text(text: str) -> str:
    """``text`` on one line of the book's corpus: whitespace runs as one space, no ``␞``."""
    return " ".join(str(text).replace(SEPARATOR, " ").split())


class EntityScore:
    """Entity-level precision, recall and F1 (an entity counts when its span and label are both
    right), over all rows and per label."""

    def __init__(self) -> None:
        self.total = 0
        self.counts: Dict[str, Counter] = {}  # label -> gold, predicted, correct

    def add(self, gold: set, columns: Dict[str, Any]) -> None:
        predicted = {(e["start"], e["end"], e["label"]) for e in json.loads(str(columns.get("entities") or "[]"))}
        self.total += 1
        for start, end, label in gold | predicted:
            count = self.counts.setdefault(label, Counter())
            count["gold"] += (start, end, label) in gold
            count["predicted"] += (start, end, label) in predicted
            count["correct"] += (start, end, label) in gold and (start, end, label) in predicted

    def _scores(self, count: Counter) -> Dict[str, float]:
        precision = count["correct"] / count["predicted"] if count["predicted"] else 0.0
        recall = count["correct"] / count["gold"] if count["gold"] else 0.0
        return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1(precision, recall), 4),
                "support": count["gold"]}

    def to_dict(self) -> Dict[str, Any]:
        overall = sum(self.counts.values(), Counter())
        return {"metric": "entity f1", "rows": self.total, **self._scores(overall),
                "per_label": {label: self._scores(count) for label, count in sorted(self.counts.items())}}

    def format(self) -> str:
        scores = self.to_dict()
        lines = [f"entity f1: {scores['f1']:.4f} (precision {scores['precision']:.4f}, recall "
                 f"{scores['recall']:.4f}; {scores['support']} entities in {self.total} labelled rows)", "",
                 f"{'label':<8} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
        for label, row in scores["per_label"].items():
            lines.append(f"{label:<8} {row['precision']:>9.4f} {row['recall']:>7.4f} {row['f1']:>7.4f} "
                         f"{row['support']:>8}")
        return "\n".join(lines)


def tagged_sentence(sentence: str, entities: List[dict]) -> str:
    """``sentence`` with each entity written as ``<text:LABEL>``, the book's corpus format."""
    parts, position = [], 0
    for entity in sorted(entities, key=lambda entity: entity["start"]):
        parts.append(sentence[position:entity["start"]])
        parts.append(f"<{sentence[entity['start']:entity['end']]}:{entity['label']}>")
        position = entity["end"]
    parts.append(sentence[position:])
    return "".join(parts)


def entities_of(sentence: str, pieces: List[dict]) -> List[Dict[str, Any]]:
    """Merge word pieces into entities: ``B-X`` opens one, ``I-X`` continues an open ``X`` (or
    opens one, as models do not always begin with ``B-``), anything else closes it. Offsets come
    from the tokenizer, so ``sentence[start:end] == text`` whatever the pieces look like."""
    entities: List[Dict[str, Any]] = []
    current: Optional[dict] = None
    for piece in pieces:
        prefix, _, kind = piece["tag"].partition("-")
        if prefix == "I" and current is not None and current["label"] == kind:
            current["end"] = piece["end"]
            current["probabilities"].append(piece["probability"])
            continue
        current = None
        if prefix in ("B", "I") and kind:
            current = {"label": kind, "start": piece["start"], "end": piece["end"],
                       "probabilities": [piece["probability"]]}
            entities.append(current)
    return [{"text": sentence[e["start"]:e["end"]], "label": e["label"],
             "name": ENTITY_NAMES.get(e["label"], e["label"]), "start": e["start"], "end": e["end"],
             "probability": round(min(e["probabilities"]), 4)} for e in entities]


def book_tag(tag: str) -> str:
    """The book's ``id_to_label``: ``B-PER``/``I-PER`` -> ``인명`` ..., others (``O``) unchanged."""
    kind = tag.partition("-")[2]
    return ENTITY_NAMES.get(kind, tag) if tag[:2] in ("B-", "I-") else tag
