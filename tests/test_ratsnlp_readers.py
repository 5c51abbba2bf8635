"""What the book's next training run reads from a demo's corrections: each export read by
ratsnlp 1.0.53's own corpus class (``ratsnlp_readers.py``), and the rows an export skipped or
that the reader leaves out counted exactly as the export said."""

import pytest
from ratsnlp_readers import corpus_module

from demo_app import History
from demo_app.history import dump
from demo_app.history.dumps import CorrectionsReport
from demo_app.tasks import TASKS

pytestmark = pytest.mark.slow


def flagged_history(path, task_name, rows):
    """A history of ``rows`` ((inputs, correction)), every one flagged as an older demo_app
    stored them (without the checks /flag makes now)."""
    history = History(path)
    for inputs, correction in rows:
        result = {"sentence": inputs, "entities": [], "answer": "", "generated": "", "result": ""}
        item = TASKS[task_name].inputs.check_item(inputs, 0)  # a generation prompt with its settings
        [(row_id, token)] = history.record(TASKS[task_name], [item], [result], source="page")
        assert history.flag(row_id, token, correction)
    return history


def export(history, directory, format, name):
    report = CorrectionsReport()
    with open(directory / name, "w", encoding="utf-8", newline="") as stream:
        dump(history, stream, format, report=report)
    return report


def test_generation_corrections_become_the_generation_chapters_nsmc_file(tmp_path):
    history = flagged_history(tmp_path / "g.sqlite", "generation", [
        ("긍정 아 정말", "긍정 아 정말 \"재밌었어요\"\t최고"),  # the whole better text, its label word first
        ("부정 스토리가", "연기도 지루했다"),  # the continuation alone: the prompt's label word
        ("그냥", "그냥 그래요"),  # no label word anywhere: skipped, and said
    ])
    report = export(history, tmp_path, "nsmc-generation", "ratings_train.txt")
    assert report.written == 2
    assert report.skipped == {"neither the text nor its prompt starts with 긍정 or 부정, the word the book's "
                              "generation corpus puts first": 1}
    examples = corpus_module("generation").NsmcCorpus().get_examples(str(tmp_path), "train")
    assert [example.text for example in examples] == ["긍정 아 정말 \"재밌었어요\"\t최고", "부정 연기도 지루했다"]


def test_ner_corrections_are_read_by_the_books_ner_corpus(tmp_path):
    history = flagged_history(tmp_path / "n.sqlite", "ner", [
        ("이순신은 무신이다", "<이순신:PER>은 무신이다"),
        ("<세종:PER>은 임금이다", "<<세종:PER>:PER>은 임금이다"),  # the sentence holds the markup itself
    ])
    report = export(history, tmp_path, "ner", "train.txt")
    assert (report.written, sum(report.skipped.values())) == (1, 1)
    corpus = corpus_module("ner")
    examples = corpus.NERCorpus(corpus.NERTrainArguments()).get_examples(str(tmp_path), "train")
    read = [(example.text, example.label.strip()) for example in examples]
    assert read == [("이순신은 무신이다", "<이순신:PER>은 무신이다")]


def test_korquad_corrections_are_read_by_the_books_corpus_less_what_it_drops(tmp_path):
    history = flagged_history(tmp_path / "q.sqlite", "qa", [
        (("본사는 어디?", "본사는 목포에 있다"), "목포"),
        (("어디에 본사가?", "목포에 본사가 있다"), "목포"),  # at character 0: ratsnlp leaves it out
        (("본사는?", "본사는 목포에 있다"), "부산"),  # not in the context: skipped
    ])
    report = export(history, tmp_path, "korquad", "KorQuAD_v1.0_train.json")
    assert report.written == 2
    assert sum(report.skipped.values()) == 1
    assert sum(report.reader_drops.values()) == 1
    examples = corpus_module("qa").KorQuADV1Corpus().get_examples(str(tmp_path), "train")
    assert len(examples) == report.written - sum(report.reader_drops.values())
    assert [(example.question_text, example.answer_text) for example in examples] == [("본사는 어디?", "목포")]
