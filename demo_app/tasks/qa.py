"""Extractive question answering (nlpbook's QA chapter, KorQuAD 1.0): a question and a context ->
the span of the context that answers it.

The question is cut at ``MAX_QUERY_LENGTH`` tokens, as the book does. A context longer than one
window is read in overlapping windows (``DOC_STRIDE`` tokens of overlap) instead of being cut.
Start and end are scored together: the best span has its end at or after its start and at most
``MAX_ANSWER_TOKENS`` tokens (the book took each argmax on its own, which can give an end before
the start). The answer's offsets point into the context, so ``context[start:end] == answer``.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .arrays import softmax
from .contract import (
    DEMO_MODEL_DIR,
    ExplanationTarget,
    SkippedCorrection,
    StateDict,
    Task,
    TaskCheckpoints,
    TaskData,
    TaskPage,
    TaskPipeline,
)
from .fields import FieldError, index_in
from .scoring import f1
from .text import TextInputs

MAX_QUERY_LENGTH = 32  # the book's max_query_length
DOC_STRIDE = 64  # tokens the windows of a long context share (ratsnlp's doc_stride); less when
# max_seq_length leaves less room
MAX_ANSWER_TOKENS = 30
CANDIDATES = 3  # the answer and the next best spans
NO_ANSWER_BELOW = 0.05  # a best span less likely than this is "no confident answer"


class QaInputs(TextInputs):
    fields = ("question", "context")
    item_name, item_example = "(question, context) pair", "[(question, context)]"
    field_max_chars = {"context": 20_000}  # a context is a passage, not a sentence
    max_body_bytes = 256 * 1024  # 20,000 Korean characters are 120 KB as JSON \u escapes

    def rows(self, item, max_seq_length: int) -> int:
        """The windows the context can take at most, from its length in characters (a token
        covers at least one character), as ``preprocess`` cuts them."""
        question, context = item
        room = max_seq_length - min(len(question), MAX_QUERY_LENGTH) - 3
        if room < 2:
            return 1
        step = room - min(DOC_STRIDE, room // 2)
        return 1 + max(0, -(-(len(context) - room) // step))


class QaPipeline(TaskPipeline):
    def preprocess(self, tokenizer, items: List[Tuple[str, str]], max_seq_length: int) -> Any:
        questions = [truncate_question(tokenizer, question) for question, _ in items]
        contexts = [context for _, context in items]
        # What a window has left for the context, with the longest question and 3 special tokens;
        # windows must overlap by less than that.
        longest = max(len(tokenizer(q, add_special_tokens=False)["input_ids"]) for q in questions)
        room = max_seq_length - longest - 3
        if room < 2:
            raise ValueError(f"max_seq_length {max_seq_length} leaves no room for the context after a "
                             f"{longest}-token question; use at least {longest + 5} (the book uses 128)")
        return tokenizer(questions, contexts, truncation="only_second", max_length=max_seq_length,
                         stride=min(DOC_STRIDE, room // 2), return_overflowing_tokens=True,
                         return_offsets_mapping=True, padding="longest", return_tensors="np")

    def postprocess(self, items: List[Tuple[str, str]], encoding, outputs: Dict[str, np.ndarray],
                    labels: Sequence[str]) -> List[dict]:
        spans: List[List[dict]] = [[] for _ in items]
        for window, item_index in enumerate(encoding["overflow_to_sample_mapping"].tolist()):
            in_context = np.array([sid == 1 for sid in encoding.sequence_ids(window)])
            spans[item_index] += best_spans(outputs["start_logits"][window], outputs["end_logits"][window],
                                            in_context, encoding["offset_mapping"][window])
        results = []
        for (question, context), candidates in zip(items, spans):
            unique, seen = [], set()  # overlapping windows find the same span twice
            for span in sorted(candidates, key=lambda span: span["probability"], reverse=True):
                if (span["start"], span["end"]) not in seen:
                    seen.add((span["start"], span["end"]))
                    unique.append({**span, "text": context[span["start"]:span["end"]]})
            results.append({"question": question, "context": context, "spans": unique[:CANDIDATES]})
        return results

    explains = True
    explanation_steps = 20  # two logits over question and context: 12 points missed 5% on a fixture

    def explanation_target(self, tokenizer: Any, item: Tuple[str, str], result: dict, labels: Sequence[str],
                           target: Any, max_seq_length: int) -> ExplanationTarget:
        encoding: Any
        """The answer (``target``: its index among the candidates, the best by default): its
        start token's start logit plus its end token's end logit, in the window that holds it."""
        spans = result["spans"]
        span = spans[index_in(target, spans, "a candidate answer's index",
                              "the model found no answer in this context: there is nothing to explain")]
        encoding = self.preprocess(tokenizer, [item], max_seq_length)
        for window in range(encoding["input_ids"].shape[0]):
            sequence_ids = encoding.sequence_ids(window)
            offsets = encoding["offset_mapping"][window].tolist()
            starts = [i for i, (a, b) in enumerate(offsets) if sequence_ids[i] == 1 and a <= span["start"] < b]
            ends = [i for i, (a, b) in enumerate(offsets) if sequence_ids[i] == 1 and a < span["end"] <= b]
            if starts and ends:
                start, end = starts[0], ends[0]
                inputs: Dict[str, Any] = {name: encoding[name][window:window + 1]
                          for name in ("input_ids", "token_type_ids", "attention_mask", "offset_mapping") if name in encoding}
                return ExplanationTarget(inputs, sequence_ids, f'answer: {span["text"]}', lambda outputs: (
                    outputs["start_logits"][:, start] + outputs["end_logits"][:, end]))
        raise FieldError("the answer lies in no single window of the context: it cannot be explained")

    def to_dict(self, result: dict) -> Dict[str, Any]:
        """The book's keys, ``question``, ``context`` and ``answer``, plus ``start``/``end``
        (character offsets into the context), ``probability``, ``candidates`` and
        ``inside_word`` (the answer starts inside a word, where the book's answer showed its
        ``##`` word piece). A best span below ``NO_ANSWER_BELOW`` gives ``answer: ""`` and
        ``no_answer: true``."""
        spans = result["spans"]
        best: Dict[str, Any] = spans[0] if spans else {"probability": 0.0}
        confident = bool(spans) and best["probability"] >= NO_ANSWER_BELOW
        return {
            "question": result["question"],
            "context": result["context"],
            "answer": best["text"] if confident else "",
            "start": best["start"] if confident else None,
            "end": best["end"] if confident else None,
            "probability": round(best["probability"], 4),
            "no_answer": not confident,
            "inside_word": confident and best["start"] > 0 and result["context"][best["start"] - 1].isalnum(),
            "candidates": [{"text": s["text"], "start": s["start"], "end": s["end"],
                            "probability": round(s["probability"], 4)} for s in spans],
        }

    def inference_fn(self, predictor) -> Callable[[str, str], Dict[str, Any]]:
        def inference_fn(question: str, context: str) -> Dict[str, Any]:
            return self.to_dict(predictor.predict([(question, context)])[0])

        return inference_fn

    def prediction_text(self, result: Dict[str, Any]) -> Optional[str]:
        return result.get("answer")


class QaCheckpoints(TaskCheckpoints):
    model_class = "AutoModelForQuestionAnswering"
    outputs_are_classes = False  # its two outputs are an answer's start and end
    head_description = "a question-answering model (qa_outputs head)"
    head_bias_keys = ("qa_outputs.bias",)
    output_heads = ("qa_outputs",)
    checkpoint_dir_name = "checkpoint-qa"
    demo_pretrained_dir = DEMO_MODEL_DIR / "pretrained-qa"
    demo_checkpoint_dir = DEMO_MODEL_DIR / "checkpoint-qa"
    demo_description = "a small Korean question-answering BERT"

    def has_head(self, state_dict: StateDict) -> bool:
        return any(key.startswith("qa_outputs.") for key in state_dict)

    def default_labels(self, num_labels: int) -> Tuple[str, ...]:
        return ("start", "end") if num_labels == 2 else super().default_labels(num_labels)


class QaPage(TaskPage):
    renderer = "answer"
    field_labels = {"question": "질문 (question)", "context": "본문 (context)"}
    title = "KcBERT 질의 응답 데모 (Question answering demo)"
    lead = "질문과 본문을 입력하면 모델이 본문에서 답을 찾아 표시합니다. "
    lead_en = "Type a question and a passage; the model finds the answer in the passage."
    correction_placeholder = "본문 속의 답 (the answer, as in the context)"
    examples = (("누리식품 본사가 있는 도시는?", '누리식품은 1977년에 장보고가 세운 회사다. 본사는 목포에 있으며 직원은 약 8000명이다. 이 회사의 주력 상품은 스마트폰이다. 누리식품은 호주에도 공장 7곳을 두고 있다. 현재 대표는 김구로 회사를 이끌고 있다. 이 이야기는 지금도 여러 곳에서 소개되고 있다.'),
                ("서울 유나이티드와 울산 고래의 경기는 언제 열렸나?", '지난 2008년 4월 18일에 열린 경기에서 서울 유나이티드가 울산 고래를 4대 2로 이겼다. 경기는 중앙 경기장에서 열렸다. 첫 골은 경기 시작 44분 만에 터졌다. 이와 관련된 자료는 박물관에 보관되어 있다. 서울 유나이티드의 감독은 홍길동이다. 전문가들은 앞으로의 변화를 지켜보고 있다. 최우수 선수로는 2골을 넣은 하정민이 뽑혔다. 이날 경기장에는 관중 26,000명이 모였다. 그래도 대부분의 사람들은 이를 반겼다.'))



class QaData(TaskData):
    output_columns = ("answer", "start", "end", "probability")
    gold_columns = ("answers", "answer", "label")
    training_format = "korquad"

    def check_correction(self, correction: str, inputs: Dict[str, Any], labels: Sequence[str]) -> None:
        """An answer is a span of the context, as KorQuAD's ``answer_start`` needs it to be."""
        if correction not in str(inputs.get("context", "")):
            raise ValueError("the answer must be copied from the context exactly (KorQuAD keeps where it starts "
                             "in the context)")

    def read_gold(self, value: object, labels: Sequence[str]):
        """The right answers: a list (a KorQuAD question's), JSON of one, or one answer's text."""
        if isinstance(value, str) and value.lstrip().startswith("["):
            value = json.loads(value)
        answers = [str(answer) for answer in value] if isinstance(value, list) else [str(value)]
        return [answer for answer in answers if answer.strip()] or None

    def scorer(self, labels: Sequence[str]) -> "AnswerScore":
        return AnswerScore()

    def training_row(self, inputs, label: str, labels) -> Dict[str, Any]:
        """A KorQuAD 1.0 question with its corrected answer, when the answer is in the context."""
        question, context = inputs
        start = context.find(label.strip()) if label.strip() else -1
        if start < 0:
            raise SkippedCorrection("the answer is not in its context")
        return {"question": question, "context": context,
                "answers": [{"text": label.strip(), "answer_start": start}]}

    def reader_drops(self, example: Dict[str, Any]) -> Optional[str]:
        if example["answers"][0]["answer_start"] == 0:
            return "ratsnlp 1.0.53's KorQuADV1Corpus leaves out an answer that starts the context"
        return None

    def write_training_data(self, examples, stream: IO[str]) -> None:
        """KorQuAD 1.0 JSON: one title and paragraph per corrected question."""
        data = [{"title": f"demo-history-{row_id}", "paragraphs": [{
            "context": example["context"],
            "qas": [{"id": f"demo-history-{row_id}", "question": example["question"],
                     "answers": example["answers"]}]}]} for row_id, example in examples]
        stream.write(json.dumps({"version": "KorQuAD_v1.0_demo_history", "data": data},
                                ensure_ascii=False, indent=1) + "\n")

    def is_training_file(self, head: str, suffix: str) -> bool:
        """KorQuAD 1.0's JSON: an object with the articles under ``data``."""
        return suffix == ".json" and head.lstrip().startswith("{") and '"data"' in head

    def read_training_data(self, text: IO[str]) -> Iterator[Dict[str, Any]]:
        """KorQuAD 1.0's questions as rows: ``id``, ``question``, ``context`` and the gold
        ``answers`` (their texts)."""
        try:
            articles = json.load(text)["data"]
            for article in articles:
                for paragraph in article["paragraphs"]:
                    for qa in paragraph["qas"]:
                        yield {"id": qa.get("id", ""), "question": qa["question"], "context": paragraph["context"],
                               "answers": [answer["text"] for answer in qa.get("answers", [])]}
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a KorQuAD 1.0 file: no {error} where KorQuAD has one") from None


QUESTION_ANSWERING = Task("qa", QaInputs(), QaPipeline(), QaCheckpoints(), QaPage(), QaData())


def truncate_question(tokenizer, question: str) -> str:
    """The question cut after ``MAX_QUERY_LENGTH`` tokens, as text (the book truncates its ids)."""
    encoded = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoded["offset_mapping"]
    return question if len(offsets) <= MAX_QUERY_LENGTH else question[:offsets[MAX_QUERY_LENGTH - 1][1]]


def best_spans(start_logits: np.ndarray, end_logits: np.ndarray, in_context: np.ndarray,
               offsets: np.ndarray) -> List[dict]:
    """The ``CANDIDATES`` best spans of one window, scored jointly: P(start) * P(end) with both
    softmaxes over the window's context tokens, end >= start, at most MAX_ANSWER_TOKENS long."""
    if not in_context.any():
        return []
    start_p = softmax(np.where(in_context, start_logits, np.float32("-inf")))
    end_p = softmax(np.where(in_context, end_logits, np.float32("-inf")))
    scores = start_p[:, None] * end_p[None, :]
    length = np.arange(len(start_p))
    allowed = (length[None, :] >= length[:, None]) & (length[None, :] - length[:, None] < MAX_ANSWER_TOKENS)
    scores = np.where(allowed & in_context[:, None] & in_context[None, :], scores, np.float32(0)).ravel()
    best = np.argsort(-scores, kind="stable")[:min(CANDIDATES, int((scores > 0).sum()))]
    spans = []
    for score, flat in zip(scores[best].tolist(), best.tolist()):
        first, last = divmod(flat, len(start_p))
        spans.append({"start": int(offsets[first][0]), "end": int(offsets[last][1]), "probability": score})
    return spans


class AnswerScore:
    """KorQuAD's exact match and F1 (over characters, after the official normalisation: lower
    case, punctuation and spaces removed), each row against its best gold answer."""

    def __init__(self) -> None:
        self.total = 0
        self.exact = 0.0
        self.f1 = 0.0

    def add(self, gold: List[str], columns: Dict[str, Any]) -> None:
        predicted = _normalized(str(columns.get("answer") or ""))
        answers = [_normalized(answer) for answer in gold]
        self.total += 1
        self.exact += max(float(predicted == answer) for answer in answers)
        self.f1 += max(_character_f1(predicted, answer) for answer in answers)

    def to_dict(self) -> Dict[str, Any]:
        total = self.total or 1
        return {"metric": "exact match / f1", "rows": self.total, "exact_match": round(self.exact / total, 4),
                "f1": round(self.f1 / total, 4)}

    def format(self) -> str:
        scores = self.to_dict()
        return (f"exact match: {scores['exact_match']:.4f}, f1: {scores['f1']:.4f} "
                f"({self.total} questions with gold answers)")


def _normalized(text: str) -> str:
    text = re.sub(f"[{re.escape(string.punctuation)}‘’´`_·“”「」『』<>《》〈〉]", " ", text.lower())
    return "".join(text.split())


def _character_f1(predicted: str, gold: str) -> float:
    common = sum((Counter(predicted) & Counter(gold)).values())
    if not common:
        return 0.0
    return f1(common / len(predicted), common / len(gold))
