"""Why the model answered so: integrated gradients per word (``POST /explain``, ``predict
--explain``, ``Predictor.explain``) on checkpoints written by ratsnlp 1.0.53 itself and the demo
models: the attributions add up to the score's change from the baseline (completeness), sit on
the words the visitor typed, and point the way the model leans."""

import json
import shutil
from pathlib import Path

import pytest
import requests
from helpers import PRETRAINED_DIR
from test_cli import run_cli

from demo_app import DeployArguments, create_app, load_predictor, serve

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "ratsnlp-1.0.53"
DEMO = ROOT / "demo_app" / "demo_model"
BOOK = {name: [json.loads(line) for line in (FIXTURE / f"tutorial_outputs{suffix}.jsonl").read_text("utf-8").split("\n")
              if line] for name, suffix in (("doccls", ""), ("paircls", "_paircls"), ("ner", "_ner"), ("qa", "_qa"))}
SETUP = {  # the fixture's folder: (pretrained, max_seq_length, the fields of one input)
    "doccls": (PRETRAINED_DIR, 128, ("sentence",)),
    "paircls": (DEMO / "pretrained-paircls", 128, ("premise", "hypothesis")),
    "ner": (DEMO / "pretrained-ner", 64, ("sentence",)),
    "qa": (DEMO / "pretrained-qa", 128, ("question", "context")),
}


@pytest.fixture(scope="module")
def book_models(tmp_path_factory):
    """The four ratsnlp-written checkpoints, each in a student's Drive layout."""
    models = {}
    for name, (pretrained, length, _) in SETUP.items():
        directory = tmp_path_factory.mktemp("drive") / "nlpbook" / f"checkpoint-{name}"
        shutil.copytree(FIXTURE / f"checkpoint-{name}", directory)
        models[name] = load_predictor(DeployArguments(pretrained_model_name=str(pretrained), max_seq_length=length,
                                                      downstream_model_dir=str(directory), precision="fp32"),
                                      verbose=False)
    return models


def inputs_of(name, row):
    fields = SETUP[name][2]
    return row[fields[0]] if len(fields) == 1 else tuple(row[field] for field in fields)


@pytest.mark.parametrize("name", list(SETUP))
def test_attributions_add_up_to_the_scores_change_on_the_books_inputs(book_models, name):
    """Integrated gradients' completeness, on every input the book's deploy code was run with:
    the words' attributions add up to score(input) - score(baseline) within 5%."""
    predictor = book_models[name]
    explained = 0
    for row in BOOK[name]:
        item = inputs_of(name, row)
        try:
            explanation = predictor.explain(item)
        except ValueError as error:  # an input without an entity (NER) or an answer (QA)
            assert "nothing to explain" in str(error)
            continue
        change = explanation["score"] - explanation["baseline_score"]
        total = sum(word["attribution"] for word in explanation["words"])
        assert abs(total - change) <= 0.05 * abs(change) + 1e-4, (row, total, change)
        assert explanation["convergence_delta"] <= 0.05 * abs(change) + 1e-4
        texts = dict(zip(SETUP[name][2], (item,) if isinstance(item, str) else item))
        for word in explanation["words"]:  # the words as typed, at their offsets
            assert texts[word["field"]][word["start"]:word["end"]] == word["text"]
        assert [word["text"] for word in explanation["words"]] == " ".join(texts.values()).split()
        assert explanation["method"] == "integrated gradients"
        assert explanation["steps"] == (20 if name == "qa" else 12)
        explained += 1
    assert explained >= len(BOOK[name]) // 2


@pytest.fixture(scope="module")
def demo_classifier_server():
    predictor = load_predictor(DeployArguments(), verbose=False)
    with serve(create_app(predictor), port=0, quiet=True) as server:
        yield server


def test_the_words_that_decide_point_the_way_of_the_class_explained(demo_classifier_server):
    """Towards 긍정 the praising word counts for, towards 부정 the same word counts against;
    any class can be asked for, by its name or index."""
    url = demo_classifier_server.url + "/explain"
    towards = {target: requests.post(url, json={"sentence": "이 영화 정말 재밌어요", "target": target}, timeout=60)
               for target in (None, "부정", 0)}
    assert {response.status_code for response in towards.values()} == {200}
    predicted, negative, by_index = (towards[target].json() for target in (None, "부정", 0))
    assert predicted["target"] == predicted["answer"]["prediction"] == "긍정 (positive)"
    assert negative["target"] == by_index["target"] == "부정 (negative)"
    praise = {word["text"]: word["attribution"] for word in predicted["words"]}["재밌어요"]
    against = {word["text"]: word["attribution"] for word in negative["words"]}["재밌어요"]
    assert praise > 0 > against
    assert praise == max(word["attribution"] for word in predicted["words"])


@pytest.mark.parametrize("body, says", [
    ({"sentence": "좋아요", "target": "중립"}, "none of this model's classes"),
    ({"sentence": "좋아요", "steps": 1}, "steps must be an integer from 2 to 128"),
    ({"sentence": "좋아요", "steps": "many"}, "steps must be an integer"),
    ({"sentense": "좋아요"}, 'did you mean "sentence"'),
    ({"sentence": "<b>좋아요</b>" * 1000}, "2000"),
])
def test_a_bad_explain_body_is_a_400_that_says_why(demo_classifier_server, body, says):
    answer = requests.post(demo_classifier_server.url + "/explain", json=body, timeout=60)
    assert answer.status_code in (400, 413), answer.text
    assert says in answer.json()["error"]
    assert requests.post(demo_classifier_server.url + "/explain", json={"sentence": "좋아요"},
                         timeout=60).status_code == 200  # and the server keeps serving


def test_entities_and_answers_are_explained_by_index(book_models):
    ner, qa = book_models["ner"], book_models["qa"]
    sentence = next(row["sentence"] for row in BOOK["ner"] if ner.predict([row["sentence"]])[0]["entities"])
    entities = ner.predict([sentence])[0]["entities"]
    explanation = ner.explain(sentence, len(entities) - 1)
    assert explanation["target"] == f'{entities[-1]["text"]} ({entities[-1]["label"]})'
    with pytest.raises(ValueError, match="an entity's index, 0 to"):
        ner.explain(sentence, len(entities))
    row = BOOK["qa"][0]
    answer = qa.explain((row["question"], row["context"]))
    assert answer["target"] == f'answer: {answer["answer"]["answer"]}'
    assert {word["field"] for word in answer["words"]} == {"question", "context"}


def test_the_cli_explains_and_says_what_goes_with_what():
    explained = run_cli("predict", "--explain", "--target", "부정", "이 영화 정말 재밌어요")
    assert explained.returncode == 0, explained.stderr
    result = json.loads(explained.stdout)
    assert result["target"] == "부정 (negative)"
    assert [word["text"] for word in result["words"]] == ["이", "영화", "정말", "재밌어요"]
    alone = run_cli("predict", "--steps", "10", "좋아요")
    assert alone.returncode == 1
    assert "--target and --steps go with --explain" in alone.stderr


def test_a_model_served_through_openvino_is_explained_by_its_pytorch_weights(tmp_path):
    """OpenVINO's compiled graph has no gradients: the first explanation reads the checkpoint
    again as a PyTorch model (a cached conversion never read it), and explains as PyTorch does."""
    arguments = dict(task="classification", precision="fp32", cache_dir=str(tmp_path))
    torch_served = load_predictor(DeployArguments(backend="torch", **arguments), verbose=False)
    load_predictor(DeployArguments(backend="openvino", **arguments), verbose=False)  # makes the conversion
    cached = load_predictor(DeployArguments(backend="openvino", **arguments), verbose=False)
    assert cached.backend == "openvino"
    assert cached.explains
    expected = torch_served.explain("이 영화 정말 재밌어요", "부정")
    explained = cached.explain("이 영화 정말 재밌어요", "부정")
    assert [word["attribution"] for word in explained["words"]] == \
        pytest.approx([word["attribution"] for word in expected["words"]], abs=1e-5)
    with serve(create_app(cached), port=0, quiet=True) as server:
        assert 'id="why-open"' in requests.get(server.url + "/", timeout=30).text
        assert requests.post(server.url + "/explain", json={"sentence": "좋아요"}, timeout=60).status_code == 200


def test_tasks_without_explanations_have_no_explain_route():
    generation = load_predictor(DeployArguments(task="generation"), verbose=False)
    with serve(create_app(generation), port=0, quiet=True) as server:
        answer = requests.post(server.url + "/explain", json={"prompt": "긍정"}, timeout=30)
    assert answer.status_code == 404
