"""NER and QA on the task layer, with small models written as ratsnlp writes them: recognition,
label_map.txt, character offsets over arbitrary text, windows over long contexts, HTTP."""

import json
from pathlib import Path

import numpy as np
import pytest
import requests
import torch
from helpers import PRETRAINED_DIR, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lightning_format import checkpoint_filename, lightning_checkpoint, save_lightning_checkpoint

from demo_app import DeployArguments, create_app, load_predictor, make_inference_fn, serve
from demo_app.tasks.ner import entities_of
from demo_app.tasks.qa import best_spans

TAGS = ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "O", "B-PER", "B-LOC", "I-PER", "I-LOC"]
# Korean syllables, jamo, Latin letters, digits, punctuation, spaces and characters the demo
# vocabulary lacks (they become [UNK]).
TEXT = st.text(alphabet=st.sampled_from(list("이순신은조선서울에삼성 전자가나다라ㅋㅎabcXYZ019.,!?()'\"-  \t漢字😀é")),
               min_size=1, max_size=60).filter(str.strip)


def write_model(model, directory):
    checkpoint = lightning_checkpoint(model, torch.optim.AdamW(model.parameters()), epoch=1, global_step=10,
                                      val_loss=0.5, filename=checkpoint_filename(1, 0.5), dirpath=directory.name)
    return save_lightning_checkpoint(checkpoint, directory / checkpoint_filename(1, 0.5))


@pytest.fixture(scope="module")
def ner_dir(tmp_path_factory):
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(1)
    directory = tmp_path_factory.mktemp("drive") / "checkpoint-ner"
    model = BertForTokenClassification(BertConfig.from_pretrained(PRETRAINED_DIR, num_labels=len(TAGS)))
    write_model(model.eval(), directory)
    (directory / "label_map.txt").write_text("\n".join(TAGS) + "\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def ner(ner_dir):
    return load_predictor(DeployArguments(pretrained_model_name=str(PRETRAINED_DIR), downstream_model_dir=str(ner_dir),
                                           max_seq_length=64, precision="fp32"), verbose=False)


@pytest.fixture(scope="module")
def qa(tmp_path_factory):
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(2)
    directory = tmp_path_factory.mktemp("drive") / "my-qa-run"  # recognised by its head alone
    write_model(BertForQuestionAnswering(BertConfig.from_pretrained(PRETRAINED_DIR)).eval(), directory)
    return load_predictor(DeployArguments(pretrained_model_name=str(PRETRAINED_DIR),
                                          downstream_model_dir=str(directory),
                                           max_seq_length=64, precision="fp32"), verbose=False)


def test_tasks_are_recognised_and_ner_reads_its_label_map(ner, qa):
    assert ner.task.name == "ner"
    assert ner.labels == tuple(TAGS)
    assert qa.task.name == "qa"


def test_ner_without_label_map_names_the_file_and_the_class_count(ner_dir, tmp_path):
    import shutil

    bare = tmp_path / "checkpoint-ner"
    shutil.copytree(ner_dir, bare)
    (bare / "label_map.txt").unlink()
    with pytest.raises(FileNotFoundError) as error:
        load_predictor(DeployArguments(pretrained_model_name=str(PRETRAINED_DIR), downstream_model_dir=str(bare)),
                        verbose=False)
    assert "label_map.txt" in str(error.value)
    assert f"{len(TAGS)} lines" in str(error.value)


def test_word_pieces_merge_into_entities():
    pieces = [{"tag": tag, "start": start, "end": end, "probability": p}
              for tag, start, end, p in [("B-PER", 0, 2, 0.9), ("I-PER", 2, 3, 0.8), ("O", 5, 7, 0.99),
                                         ("I-LOC", 8, 10, 0.7), ("B-LOC", 10, 11, 0.6), ("I-PER", 11, 12, 0.5)]]
    sentence = "이순신은 조선 서울시내"
    entities = entities_of(sentence, pieces)
    assert [(e["text"], e["label"]) for e in entities] == [("이순신", "PER"), ("서울", "LOC"), ("시", "LOC"),
                                                          ("내", "PER")]
    assert entities[0]["probability"] == 0.8
    assert entities[0]["name"] == "인명"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sentence=TEXT)
def test_entity_offsets_point_into_the_sentence(ner, sentence):
    result = make_inference_fn(ner)(sentence)
    assert result["sentence"] == sentence
    assert {"token", "predicted_tag", "top_prob"} <= result["result"][0].keys()
    for entity in result["entities"]:
        assert sentence[entity["start"]:entity["end"]] == entity["text"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=TEXT, context=st.lists(TEXT, min_size=1, max_size=12).map(" ".join))
def test_answer_offsets_point_into_the_context(qa, question, context):
    result = make_inference_fn(qa)(question, context)
    assert {"question", "context", "answer", "start", "end", "probability", "candidates"} <= result.keys()
    for candidate in result["candidates"]:
        assert context[candidate["start"]:candidate["end"]] == candidate["text"]
    if not result["no_answer"]:
        assert context[result["start"]:result["end"]] == result["answer"]


def test_an_answer_beyond_the_first_window_is_found(qa):
    """A context three windows long, and logits that point at a span in the last window: the
    windows, their offsets and the joint scoring find it."""
    task, tokenizer = qa.task, qa.tokenizer
    context = " ".join(["조선 시대에 서울에서 많은 일이 있었다."] * 20) + " 정답은 이순신 장군이다."
    item = ("누구인가?", context)
    encoding = task.pipeline.preprocess(tokenizer, [item], 64)
    windows = encoding["input_ids"].shape[0]
    assert windows >= 3
    last = windows - 1
    offsets = encoding["offset_mapping"][last].tolist()
    target_start = context.index("이순신")
    first = next(i for i, (s, e) in enumerate(offsets) if s == target_start and encoding.sequence_ids(last)[i] == 1)
    start_logits = torch.zeros(encoding["input_ids"].shape)
    end_logits = torch.zeros(encoding["input_ids"].shape)
    start_logits[last, first] = end_logits[last, first] = 12.0
    [result] = task.pipeline.postprocess([item], encoding, {"start_logits": start_logits, "end_logits": end_logits},
                                qa.labels)
    answer = task.pipeline.to_dict(result)
    assert answer["answer"] == context[answer["start"]:answer["end"]]
    assert answer["answer"].startswith("이")
    assert answer["start"] == target_start


def test_spans_end_after_they_start():
    start = np.array([0.0, 0.0, 0.0, 9.0], dtype=np.float32)
    # The book's independent argmax: end before start. (At 9 and 9 the spans "0 0" and "6 8"
    # would tie exactly: 8 makes the later one the joint best.)
    end = np.array([0.0, 8.0, 0.0, 0.0], dtype=np.float32)
    spans = best_spans(start, end, np.array([False, True, True, True]),
                       np.array([[0, 0], [0, 2], [3, 5], [6, 8]]))
    assert all(span["end"] > span["start"] for span in spans)
    assert spans[0]["start"] == 6


def test_http_takes_the_books_bodies(ner, qa):
    with serve(create_app(ner), port=0, quiet=True) as server:
        body = requests.post(server.url + "/api", data=json.dumps("이순신은 조선의 무신이다"),
                             headers={"Content-Type": "application/json"}, timeout=30).json()
        assert body["sentence"] == "이순신은 조선의 무신이다"
        assert "entities" in body
        assert body["result"]
        page = requests.get(server.url + "/", timeout=10).text
        assert 'id="entities"' in page
        assert 'data-renderer="entities"' in page
    with serve(create_app(qa), port=0, quiet=True) as server:
        pair = {"question": "누구?", "context": "이순신은 조선의 무신이다. " * 300}  # ~4,500 characters
        body = requests.post(server.url + "/api", json=pair, timeout=30).json()
        assert {"question", "context", "answer"} <= body.keys()
        too_long = requests.post(server.url + "/predict", json={"question": "누구?", "context": "가" * 20_001},
                                 timeout=30)
        assert too_long.status_code == 413
        assert "20000" in too_long.json()["error"]
        missing = requests.post(server.url + "/api", json={"question": "누구?"}, timeout=30)
        assert missing.status_code == 400
        assert 'missing "context"' in missing.json()["error"]


# -- the pages in a real browser ------------------------------------------------------------

XSS = "<img src=x onerror=\"window.__xss='img'\"> 이순신 <script>window.__xss='s'</script>"


@pytest.fixture
def page_for(browser):
    servers, contexts = [], []

    def open_page(predictor):
        server = serve(create_app(predictor), port=0, quiet=True)
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR")
        servers.append(server)
        contexts.append(context)
        page = context.new_page()
        page.goto(server.url + "/")
        return page, server

    yield open_page
    for context in contexts:
        context.close()
    for server in servers:
        server.stop()


@pytest.mark.browser
def test_ner_page_highlights_entities_from_offsets(page_for, ner, artifacts_dir):
    page, server = page_for(ner)
    sentence = "이순신은 조선 중기의 무신이다 " + XSS
    page.fill("#sentence", sentence)
    page.click("#submit")
    page.wait_for_function("s => document.getElementById('result-sentence').textContent === s", arg=sentence)
    assert page.text_content("#entities") == sentence  # every character, as text
    expected = requests.post(server.url + "/api", json=sentence, timeout=30).json()["entities"]
    marks = page.eval_on_selector_all("#entities mark", "marks => marks.map(m => [m.textContent, m.dataset.type])")
    assert marks == [[e["text"], e["label"]] for e in expected]
    assert page.evaluate("() => window.__xss") is None
    assert page.eval_on_selector_all("#result img, #result script, #history img", "n => n.length") == 0
    page.screenshot(path=str(artifacts_dir / "page-ner-phone.png"), full_page=True)


@pytest.mark.browser
def test_qa_page_highlights_the_answer_in_the_context(page_for, qa, artifacts_dir):
    page, server = page_for(qa)
    question, context = "누구인가? " + XSS, "조선의 장군 이순신은 임진왜란 때 수군을 이끌었다. " + XSS
    page.fill("#question", question)
    page.fill("#context", context)
    page.click("#submit")
    page.wait_for_function("q => document.getElementById('result-question').textContent === q", arg=question)
    assert page.text_content("#answer-context") == context
    answer = requests.post(server.url + "/api", json={"question": question, "context": context}, timeout=30).json()
    marks = page.eval_on_selector_all("#answer-context mark", "marks => marks.map(m => m.textContent)")
    assert marks == ([] if answer["no_answer"] else [answer["answer"]])
    assert page.evaluate("() => window.__xss") is None
    assert page.eval_on_selector_all("#result img, #result script, #history img", "n => n.length") == 0
    page.screenshot(path=str(artifacts_dir / "page-qa-phone.png"), full_page=True)


# -- a NER checkpoint written by ratsnlp 1.0.53 itself ------------------------------------------

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "ratsnlp-1.0.53"
NER_BOOK = [json.loads(line) for line in (FIXTURE / "tutorial_outputs_ner.jsonl").read_text("utf-8").splitlines()]
NER_EXACT = [json.loads(line) for line in (FIXTURE / "tutorial_logits_ner.jsonl").read_text("utf-8").splitlines()]
NER_PRETRAINED = Path(__file__).resolve().parent.parent / "demo_app" / "demo_model" / "pretrained-ner"


@pytest.fixture(scope="module")
def book_ner(tmp_path_factory):
    import shutil

    directory = tmp_path_factory.mktemp("tmp_drive") / "nlpbook" / "checkpoint-ner"
    shutil.copytree(FIXTURE / "checkpoint-ner", directory)  # the .ckpt and ratsnlp's label_map.txt
    return load_predictor(DeployArguments(pretrained_model_name=str(NER_PRETRAINED),
                                          downstream_model_dir=str(directory),
                                           max_seq_length=64, precision="fp32"), verbose=False)


def test_a_ratsnlp_ner_checkpoint_reproduces_the_books_tags(book_ner):
    assert book_ner.task.name == "ner"
    assert book_ner.labels == tuple(NER_EXACT[0]["labels"])  # label_map.txt's order, not a fixed list
    inference_fn = make_inference_fn(book_ner)
    for book in NER_BOOK:
        ours = inference_fn(book["sentence"])
        assert [(p["token"], p["predicted_tag"]) for p in ours["result"]] == \
               [(p["token"], p["predicted_tag"]) for p in book["result"]]
        for mine, theirs in zip(ours["result"], book["result"]):
            assert float(mine["top_prob"]) == pytest.approx(float(theirs["top_prob"]), abs=1.1e-4)
        for entity in ours["entities"]:
            assert book["sentence"][entity["start"]:entity["end"]] == entity["text"]


def test_dynamic_padding_in_a_batch_equals_the_books_pad_to_64(book_ner):
    results = book_ner.predict([row["sentence"] for row in NER_EXACT])
    for result, row in zip(results, NER_EXACT, strict=True):
        kept = [p for t, p in zip(row["tokens"], row["top_probs"]) if t not in ("[CLS]", "[SEP]", "[PAD]")]
        assert [piece["probability"] for piece in result["pieces"]] == pytest.approx(kept, abs=1e-5)


# -- a QA checkpoint written by ratsnlp 1.0.53 itself --------------------------------------------

QA_BOOK = [json.loads(line) for line in (FIXTURE / "tutorial_outputs_qa.jsonl").read_text("utf-8").splitlines()]
QA_EXACT = [json.loads(line) for line in (FIXTURE / "tutorial_logits_qa.jsonl").read_text("utf-8").splitlines()]
QA_PRETRAINED = Path(__file__).resolve().parent.parent / "demo_app" / "demo_model" / "pretrained-qa"


@pytest.fixture(scope="module")
def book_qa(tmp_path_factory):
    import shutil

    directory = tmp_path_factory.mktemp("tmp_drive") / "nlpbook" / "checkpoint-qa"
    shutil.copytree(FIXTURE / "checkpoint-qa", directory)
    return load_predictor(DeployArguments(pretrained_model_name=str(QA_PRETRAINED), downstream_model_dir=str(directory),
                                           max_seq_length=128, precision="fp32"), verbose=False)


def test_a_ratsnlp_qa_checkpoint_gives_the_same_logits_as_the_book(book_qa):
    assert book_qa.task.name == "qa"
    for row in QA_EXACT:
        encoding = book_qa.task.pipeline.preprocess(book_qa.tokenizer, [(row["question"], row["context"])], 128)
        length = sum(row["attention_mask"])
        assert encoding["input_ids"][0, :length].tolist() == row["input_ids"][:length]  # the first window
        outputs = book_qa._forward(encoding)
        assert outputs["start_logits"][0, :length].tolist() == pytest.approx(row["start_logits"][:length], abs=1e-4)
        assert outputs["end_logits"][0, :length].tolist() == pytest.approx(row["end_logits"][:length], abs=1e-4)


def test_where_the_books_argmax_is_a_valid_span_the_answer_is_the_same(book_qa):
    inference_fn = make_inference_fn(book_qa)
    compared = 0
    for book, row in zip(QA_BOOK, QA_EXACT, strict=True):
        ours = inference_fn(book["question"], book["context"])
        context_positions = [i for i, t in enumerate(row["token_type_ids"]) if t == 1 and row["attention_mask"][i]]
        valid = (row["start_pred"] <= row["end_pred"] and row["start_pred"] in context_positions
                 and row["end_pred"] in context_positions[:-1])  # the last context token is [SEP]
        if valid:
            compared += 1
            best = ours["candidates"][0]
            assert best["text"].replace(" ", "") == book["answer"].replace(" ", "").replace("##", "")
        if ours["answer"]:
            assert book["context"][ours["start"]:ours["end"]] == ours["answer"]
    assert compared >= 2


def test_the_bundled_demo_models_answer_obvious_inputs():
    ner_demo = make_inference_fn(load_predictor(DeployArguments(task="ner"), verbose=False))
    entities = ner_demo("2019년 5월 서울에서 삼성전자 직원 3명을 만났다")["entities"]
    assert [(e["text"], e["label"]) for e in entities] == [("2019년 5월", "DAT"), ("서울", "LOC"),
                                                          ("삼성전자", "ORG"), ("3명", "NOH")]
    qa_demo = load_predictor(DeployArguments(task="qa"), verbose=False)
    question, context = qa_demo.task.page.examples[0]
    answer = make_inference_fn(qa_demo)(question, context)
    assert answer["answer"] == "목포"
    assert context[answer["start"]:answer["end"]] == "목포"


def test_a_corpus_line_whose_labelled_text_is_another_sentence_is_a_bad_row(tmp_path):
    """predict --input on the book's NER corpus: a line labelled with another sentence's text, or
    with a tag the model does not have, is a bad row naming its line (ratsnlp's NERCorpus would
    fail at training or label the wrong word pieces); the others are scored."""
    from demo_app import predict_file

    corpus = tmp_path / "train.txt"
    corpus.write_text("박보검은 서울에 산다\u241e<박보검:PER>은 <서울:LOC>에 산다\n"
                      "이순신은 무신이다\u241e<박보검:PER>은 서울에 산다\n"
                      "세종은 임금이다\u241e<세종:XYZ>은 임금이다\n", encoding="utf-8")
    predictor = load_predictor(DeployArguments(task="ner"), verbose=False)
    report = predict_file(predictor, corpus, tmp_path / "out.csv", progress=False)
    assert (report.predicted, report.skipped) == (1, 2)
    assert report.problems[0].startswith("line 2: the labelled text must be the sentence itself")
    assert report.problems[1].startswith('line 3: "<세종:XYZ>": XYZ is not a tag of this model')
    stopped = run_cli("predict", "--task", "ner", "--input", str(corpus), "--output", str(tmp_path / "stop.csv"),
                      "--on-bad-row", "fail")  # the reader is left mid-file: no error from closing it late
    assert stopped.returncode == 1
    assert "line 2: the labelled text must be" in stopped.stderr
    assert "Exception ignored" not in stopped.stderr, stopped.stderr
