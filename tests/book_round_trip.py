"""A history full of hostile text (quotes, tabs, line breaks, #, =, the corpus separator ␞),
exported in the book's four training formats: what the round-trip test and the record script
``tests/fixtures/ratsnlp-1.0.53/read_exports_with_ratsnlp.py`` (ratsnlp's own corpus readers, run
in the old environment) both read. Deterministic: the same files on every run."""

from pathlib import Path

from demo_app.history import History, dump
from demo_app.tasks import get_task, training_formats

HOSTILE = ['"따옴표로 시작하는" 영화', "탭이\t들어간 리뷰", "줄이\n바뀌는 리뷰", "#해시 =1+1 @누구 -빼기",
           "구분자 \u241e 가 들어간 글", '끝이 따옴표"', '쉼표, 그리고 "인용" 부호', "이모지 😀 리뷰"]
NSMC_LABELS = ["부정 (negative)", "긍정 (positive)"]
NLI_LABELS = ["참 (entailment)", "거짓 (contradiction)", "중립 (neutral)"]
FILES = {"nsmc": "ratings_train.txt", "klue-nli": "klue_nli_train.json", "ner": "train.txt",
         "korquad": "KorQuAD_v1.0_train.json"}


def corrections():
    """(task, inputs, correction) for every row, in order."""
    rows = []
    for index, text in enumerate(HOSTILE):
        rows.append(("classification", (text,), NSMC_LABELS[index % 2]))
        rows.append(("pair-classification", (text, f'가설 "{index}"\t끝'), NLI_LABELS[index % 3]))
        rows.append(("ner", (f"이순신은 {text}",), f"<이순신:PER>은 {text}"))
        context = f"{text} 그리고 정답은 「{index}번 답」이다."
        rows.append(("qa", (f'질문 "{index}"?', context), f"「{index}번 답」"))
    return rows


def write_history(path: Path) -> None:
    """One history per task (a format must fit its history's task), all rows flagged."""
    for task_name in ("classification", "pair-classification", "ner", "qa"):
        task = get_task(task_name)
        history = History(path.parent / f"{task_name}-{path.name}")
        for name, inputs, correction in corrections():
            if name != task_name:
                continue
            labels = NSMC_LABELS if name == "classification" else NLI_LABELS
            result = {"sentence": inputs[0], "entities": [], "answer": "", "prediction": labels[0],
                      "probabilities": [{"label": label} for label in labels]}
            [(row_id, token)] = history.record(task, [inputs if len(inputs) > 1 else inputs[0]], [result],
                                               source="page")
            history.flag(row_id, token, correction)
        history.close()


def export_all(directory: Path) -> dict:
    """Write the hostile history's four exports into ``directory``; returns format -> file."""
    directory.mkdir(parents=True, exist_ok=True)
    write_history(directory / "history.sqlite")
    written = {}
    for format, name in FILES.items():
        task = training_formats()[format]
        history = History(directory / f"{task.name}-history.sqlite")
        with open(directory / name, "w", encoding="utf-8", newline="") as stream:
            dump(history, stream, format, flagged_only=True)
        history.close()
        written[format] = directory / name
    return written
