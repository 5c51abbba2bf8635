"""Sentence-pair classification (nlpbook's NLI chapter): a checkpoint written by ratsnlp 1.0.53
itself (tests/fixtures/ratsnlp-1.0.53/README-paircls.md), the bundled pair demo model, the
Python API, the CLI, HTTP and the page in a real browser."""

import json
import shutil
from pathlib import Path

import pytest
import requests
from helpers import XSS_PAYLOADS
from test_cli import run_cli

from demo_app import DeployArguments, create_app, get_task, load_predictor, make_inference_fn, serve

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "ratsnlp-1.0.53"
PAIR_PRETRAINED = Path(__file__).resolve().parent.parent / "demo_app" / "demo_model" / "pretrained-paircls"
BOOK = [json.loads(line) for line in
        (FIXTURE / "tutorial_outputs_paircls.jsonl").read_text(encoding="utf-8").splitlines()]
BOOK_EXACT = [json.loads(line) for line in
              (FIXTURE / "tutorial_probabilities_paircls.jsonl").read_text(encoding="utf-8").splitlines()]
OBVIOUS = [("나는 밥을 먹었다", "나는 식사를 했다", "참 (entailment)"),
           ("나는 밥을 먹었다", "나는 밥을 먹지 않았다", "거짓 (contradiction)"),
           ("나는 밥을 먹었다", "나는 배가 고프다", "중립 (neutral)")]
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def book_checkpoint_dir(tmp_path_factory):
    # nlpbook's directory name, under a path with "tmp" in it (ratsnlp's picker refused those).
    directory = tmp_path_factory.mktemp("tmp_drive") / "nlpbook" / "checkpoint-paircls"
    shutil.copytree(FIXTURE / "checkpoint-paircls", directory)
    return directory


@pytest.fixture(scope="module")
def book_predictor(book_checkpoint_dir):
    args = DeployArguments(pretrained_model_name=str(PAIR_PRETRAINED),
                           downstream_model_dir=str(book_checkpoint_dir), max_seq_length=64,
                           precision="fp32")
    return load_predictor(args, verbose=False)  # no task=: recognised from the directory name


@pytest.fixture(scope="module")
def pair_demo():
    return load_predictor(DeployArguments(task="pair-classification", precision="fp32"), verbose=False)


def assert_matches_the_book(result, book):
    for key in ("premise", "hypothesis", "prediction"):
        assert result[key] == book[key]
    exact = {bar["label"]: bar for bar in result["probabilities"]}
    for key, label in (("entailment", "참 (entailment)"), ("contradiction", "거짓 (contradiction)"),
                       ("neutral", "중립 (neutral)")):
        name, number = book[f"{key}_data"].split()
        ours_name, ours_number = result[f"{key}_data"].split()
        assert ours_name == name
        assert round(float(ours_number), 2) == pytest.approx(float(number), abs=0.0051)
        # The book prints 2 decimals (and float artifacts: '14.000000000000002%'); we print 4.
        assert float(result[f"{key}_width"][:-1]) == pytest.approx(float(book[f"{key}_width"][:-1]), abs=0.51)
        assert exact[label]["width"] == result[f"{key}_width"]


def test_the_fixture_is_what_ratsnlp_writes():
    import torch

    [path] = (FIXTURE / "checkpoint-paircls").glob("*.ckpt")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    assert checkpoint["pytorch-lightning_version"] == "1.6.1"
    assert checkpoint["state_dict"]["model.classifier.weight"].shape[0] == 3
    assert "model.bert.embeddings.position_ids" in checkpoint["state_dict"]


def test_a_ratsnlp_paircls_checkpoint_is_recognised_and_reproduces_the_book(book_predictor):
    assert book_predictor.task.name == "pair-classification"
    assert book_predictor.labels == ("참 (entailment)", "거짓 (contradiction)", "중립 (neutral)")
    inference_fn = make_inference_fn(book_predictor)
    for book in BOOK:
        assert_matches_the_book(inference_fn(book["premise"], book["hypothesis"]), book)


def test_dynamic_padding_in_one_batch_equals_the_books_pad_to_64_one_at_a_time(book_predictor):
    pairs = [(row["premise"], row["hypothesis"]) for row in BOOK_EXACT]
    predictions = book_predictor.predict(pairs)  # one padded batch, longest pair first
    for prediction, row in zip(predictions, BOOK_EXACT, strict=True):
        assert list(prediction.probabilities.values()) == pytest.approx(row["probabilities"], abs=1e-5)


def test_pairs_are_encoded_as_the_book_encodes_them(book_predictor):
    task, tokenizer = book_predictor.task, book_predictor.tokenizer
    for row in BOOK_EXACT:
        encoded = task.pipeline.preprocess(tokenizer, [(row["premise"], row["hypothesis"])], 64)
        length = sum(row["attention_mask"])
        assert encoded["input_ids"][0].tolist() == row["input_ids"][:length]
        assert encoded["token_type_ids"][0].tolist() == row["token_type_ids"][:length]
    long_premise, hypothesis = BOOK_EXACT[-1]["premise"], BOOK_EXACT[-1]["hypothesis"]
    encoded = task.pipeline.preprocess(tokenizer, [(long_premise, hypothesis)], 64)["token_type_ids"][0].tolist()
    hypothesis_tokens = len(tokenizer.tokenize(hypothesis))
    assert len(encoded) == 64
    assert encoded.count(1) == hypothesis_tokens + 1


def test_bundled_pair_demo_gets_obvious_pairs_right(pair_demo):
    inference_fn = make_inference_fn(pair_demo)
    for premise, hypothesis, label in OBVIOUS:
        result = inference_fn(premise, hypothesis)
        assert result["prediction"] == label
        assert sum(int(bar["width"][:-1].replace(".", "")) for bar in result["probabilities"]) == 10000
        assert {"entailment_data", "contradiction_data", "neutral_data", "entailment_width",
                "contradiction_width", "neutral_width"} <= result.keys()


def test_pair_inputs_are_checked(pair_demo):
    with pytest.raises(TypeError, match="pair 0 must be a"):
        pair_demo.predict(["just one sentence"])
    with pytest.raises(ValueError, match="hypothesis of pair 1 is empty"):
        pair_demo.predict([("a", "b"), ("a", "  ")])
    with pytest.raises(ValueError, match="unknown task 'nli'.*pair-classification"):
        DeployArguments(task="nli")
    assert get_task("pair-classification").inputs.fields == ("premise", "hypothesis")


def test_the_books_command_line(book_checkpoint_dir):
    result = run_cli("predict", "--pretrained", str(PAIR_PRETRAINED), "--checkpoint-dir",
                     str(book_checkpoint_dir), "--max-seq-length", "64",
                     *[text for book in BOOK for text in (book["premise"], book["hypothesis"])])
    assert result.returncode == 0, result.stderr
    assert "recognised from the folder it was trained in (checkpoint-paircls" in result.stderr
    for line, book in zip(result.stdout.strip().splitlines(), BOOK, strict=True):
        assert_matches_the_book(json.loads(line), book)
    odd = run_cli("predict", "--task", "pair-classification", "나는 밥을 먹었다")
    assert odd.returncode == 1
    assert "groups of 2" in odd.stderr
    assert "Traceback" not in odd.stderr
    demo = run_cli("predict", "--task", "pair-classification", "나는 밥을 먹었다", "나는 배가 고프다")
    assert demo.returncode == 0
    assert json.loads(demo.stdout)["prediction"] == "중립 (neutral)"


@pytest.fixture(scope="module")
def pair_server(pair_demo):
    handle = serve(create_app(pair_demo), port=0, quiet=True)
    yield handle
    handle.stop()


def post(server, path, body):
    return requests.post(server.url + path, data=body if isinstance(body, str) else json.dumps(body),
                         headers=JSON, timeout=30)


def test_http_routes_take_pairs(pair_server, pair_demo):
    pair = {"premise": "나는 밥을 먹었다", "hypothesis": "나는 식사를 했다"}
    api = post(pair_server, "/api", pair).json()  # the book's page posts this to /api
    assert api["prediction"] == "참 (entailment)"
    assert api["premise"] == pair["premise"]
    assert post(pair_server, "/predict", pair).json() == api
    many = post(pair_server, "/predict", {"inputs": [pair, ["나는 밥을 먹었다", "나는 배가 고프다"]]}).json()
    assert [p["prediction"] for p in many["predictions"]] == ["참 (entailment)", "중립 (neutral)"]
    got = requests.get(pair_server.url + "/predict", params=pair, timeout=10).json()
    assert got["hypothesis"] == pair["hypothesis"]
    health = requests.get(pair_server.url + "/healthz", timeout=10).json()
    assert health["model"]["task"] == "pair-classification"
    page = requests.get(pair_server.url + "/", timeout=10).text
    assert 'id="premise"' in page
    assert 'id="hypothesis"' in page
    assert "나는 식사를 했다" in page


@pytest.mark.parametrize("path, body, status, words", [
    ("/api", '"just a sentence"', 400, ['{"premise"', "a string"]),
    ("/api", {"premise": "나는 밥을 먹었다"}, 400, ['missing "hypothesis"']),
    ("/predict", {"hypothesis": "x"}, 400, ['missing "premise"']),
    ("/predict", {"premise": "", "hypothesis": "x"}, 400, ["premise is empty"]),
    ("/predict", {"premise": "x", "hypothesis": 5}, 400, ["hypothesis must be a string"]),
    ("/predict", {"premise": "x", "hypothesis": "가" * 2001}, 413, ["max_text_chars"]),
    ("/predict", {"premise": "x", "hypothesis": "\ud800"}, 400, ["Unicode"]),
    ("/predict", {"inputs": []}, 400, ["non-empty list"]),
    ("/predict", {"inputs": [{"premise": "x"}]}, 400, ['missing "hypothesis" in inputs[0]']),
    ("/predict", {"inputs": ["x"]}, 400, ["inputs[0] must be an object"]),
    ("/predict", {"inputs": [["a", "b"]] * 65}, 413, ["max_batch_sentences"]),
])
def test_bad_pairs_get_a_4xx_json_error(pair_server, path, body, status, words):
    response = post(pair_server, path, body)
    assert response.status_code == status, response.text
    for word in words:
        assert word in response.json()["error"]
    assert post(pair_server, "/api", {"premise": "a", "hypothesis": "b"}).status_code == 200


def test_get_predict_names_both_fields(pair_server):
    response = requests.get(pair_server.url + "/predict", params={"premise": "x"}, timeout=10)
    assert response.status_code == 400
    assert "premise=...&hypothesis=..." in response.json()["error"]


# -- the page in a real browser ---------------------------------------------------------------


@pytest.fixture
def pair_page(browser, pair_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR")
    page = context.new_page()
    page.goto(pair_server.url + "/")
    yield page
    context.close()


def ask(page, premise, hypothesis):
    page.fill("#premise", premise)
    page.fill("#hypothesis", hypothesis)
    page.press("#hypothesis", "Enter")
    page.wait_for_function(
        "h => document.getElementById('result-hypothesis').textContent === h && "
        "!document.getElementById('submit').disabled", arg=hypothesis)


@pytest.mark.browser
def test_two_boxes_give_three_bars(pair_page, pair_demo, artifacts_dir):
    ask(pair_page, "나는 밥을 먹었다", "나는 밥을 먹지 않았다")
    assert pair_page.text_content("#result-label") == "거짓 (contradiction)"
    widths = pair_page.eval_on_selector_all(".bar-fill", "bars => bars.map(b => b.dataset.width)")
    [expected] = pair_demo.predict([("나는 밥을 먹었다", "나는 밥을 먹지 않았다")])
    assert len(widths) == 3
    assert [float(w[:-1]) / 100 for w in widths] == pytest.approx(list(expected.probabilities.values()), abs=1e-4)
    scroll, inner = pair_page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner  # fits a phone
    pair_page.screenshot(path=str(artifacts_dir / "page-pair-phone.png"), full_page=True)
    pair_page.click(".example >> nth=0")
    pair_page.wait_for_function("() => document.querySelectorAll('#history li').length === 2")
    assert pair_page.text_content("#history li").startswith("나는 밥을 먹었다 / 나는 식사를 했다")


@pytest.mark.browser
@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_html_in_either_box_stays_text(pair_page, payload):
    ask(pair_page, payload, "가설 " + payload)
    assert pair_page.text_content("#result-premise") == payload
    assert pair_page.evaluate("() => window.__xss") is None
    assert pair_page.eval_on_selector_all("#result img, #result script, #result svg, #history img, "
                                          "#history svg", "nodes => nodes.length") == 0


@pytest.mark.browser
def test_an_empty_box_is_named(pair_page):
    pair_page.fill("#premise", "나는 밥을 먹었다")
    pair_page.click("#submit")
    pair_page.wait_for_selector("#error:not([hidden])")
    assert "hypothesis" in pair_page.text_content("#error")
