"""predict(), inference_fn() and the micro-batcher, on the bundled demo model and small models."""

import json
import re
import threading
from pathlib import Path

import pytest
from helpers import PRETRAINED_DIR, SENTENCES, tiny_model, tutorial_probabilities, write_lightning
from transformers import AutoTokenizer

from demo_app import DeployArguments, Prediction, get_task, load_predictor, make_inference_fn

prediction_to_dict = get_task("classification").pipeline.to_dict
ROOT = Path(__file__).resolve().parent.parent
TEST_SET = ROOT / "data" / "demo_reviews" / "ratings_test.txt"


def held_out_sentences():
    lines = TEST_SET.read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[1] for line in lines]


def test_dynamic_padding_matches_the_tutorial_within_1e_5(demo_classifier):
    """Batches padded to their longest sentence give the tutorial's pad-to-128, one-at-a-time
    probabilities."""
    sentences = held_out_sentences()[:64] + SENTENCES
    predictions = demo_classifier.predict(sentences)
    for sentence, prediction in zip(sentences, predictions):
        expected = tutorial_probabilities(demo_classifier.model, demo_classifier.tokenizer, sentence)
        assert list(prediction.probabilities.values()) == pytest.approx(expected, abs=1e-5)


def test_truncation_at_max_seq_length_matches_the_tutorial(tmp_path):
    model = tiny_model(seed=11)
    write_lightning(model, tmp_path)
    classifier = load_predictor(DeployArguments(pretrained_model_name=str(PRETRAINED_DIR),
                                                 downstream_model_dir=str(tmp_path), max_seq_length=16,
                                                 precision="fp32"), verbose=False)
    tokenizer = AutoTokenizer.from_pretrained(PRETRAINED_DIR)
    long_text = " ".join(["배우들 연기가 좋았고 음악도 멋졌어요"] * 40)
    [prediction] = classifier.predict([long_text])
    assert list(prediction.probabilities.values()) == pytest.approx(
        tutorial_probabilities(model, tokenizer, long_text, max_seq_length=16), abs=1e-5)


def test_demo_model_gets_obvious_sentences_right(demo_classifier):
    labels = [p.label for p in demo_classifier.predict(
        ["이 영화 정말 재밌어요", "배우들 연기가 정말 좋았어요", "정말 재미없어요", "시간이 아까웠습니다"])]
    assert labels == ["긍정 (positive)", "긍정 (positive)", "부정 (negative)", "부정 (negative)"]


def test_demo_model_held_out_accuracy(demo_classifier):
    lines = TEST_SET.read_text(encoding="utf-8").splitlines()[1:]
    texts = [line.split("\t")[1] for line in lines]
    gold = [int(line.split("\t")[2]) for line in lines]
    predicted = [demo_classifier.labels.index(p.label) for p in demo_classifier.predict(texts)]
    accuracy = sum(p == g for p, g in zip(predicted, gold)) / len(gold)
    assert accuracy >= 0.9


def test_inference_fn_returns_ratsnlp_dict(demo_classifier):
    result = make_inference_fn(demo_classifier)("이 영화 정말 재밌어요")
    assert list(result)[:6] == ["sentence", "prediction", "positive_data", "negative_data",
                                "positive_width", "negative_width"]
    assert result["sentence"] == "이 영화 정말 재밌어요"
    assert result["prediction"] == "긍정 (positive)"
    assert re.fullmatch(r"긍정 0\.\d{1,4}", result["positive_data"])
    assert re.fullmatch(r"부정 0\.\d{1,4}", result["negative_data"])
    for key in ("positive_width", "negative_width"):
        assert re.fullmatch(r"\d{1,3}\.\d{2}%", result[key])
    total = float(result["positive_width"][:-1]) + float(result["negative_width"][:-1])
    assert round(total, 2) == 100.0
    assert [p["label"] for p in result["probabilities"]] == ["부정 (negative)", "긍정 (positive)"]
    json.dumps(result)  # plain JSON types only


def test_rounding_follows_the_tutorial_and_widths_have_no_float_artifacts():
    # 0.1378 * 100 is 13.780000000000001 in Python: the tutorial printed that.
    result = prediction_to_dict(Prediction("x", "긍정 (positive)",
                                           {"부정 (negative)": 0.13780000001, "긍정 (positive)": 0.86219999999}))
    assert result["negative_data"] == "부정 0.1378"
    assert result["positive_data"] == "긍정 0.8622"
    assert result["negative_width"] == "13.78%"
    assert result["positive_width"] == "86.22%"


@pytest.mark.parametrize("probabilities", [
    [0.123450, 0.876550], [0.333333, 0.333333, 0.333334], [0.5, 0.5], [1e-9, 1 - 1e-9],
    [0.1, 0.2, 0.3, 0.15, 0.25],
])
def test_widths_always_sum_to_100_percent(probabilities):
    labels = [f"class {i}" for i in range(len(probabilities))]
    result = prediction_to_dict(Prediction("x", labels[0], dict(zip(labels, probabilities))))
    basis_points = [int(p["width"][:-1].replace(".", "")) for p in result["probabilities"]]
    assert sum(basis_points) == 10000
    if len(probabilities) != 2:
        assert "positive_data" not in result  # N-class models get only "probabilities"


def test_three_class_model_renders_every_class(tmp_path):
    write_lightning(tiny_model(num_labels=3, seed=3), tmp_path)
    classifier = load_predictor(DeployArguments(pretrained_model_name=str(PRETRAINED_DIR),
                                                 downstream_model_dir=str(tmp_path)), verbose=False)
    result = make_inference_fn(classifier)("보통이었어요")
    assert [p["label"] for p in result["probabilities"]] == ["class 0", "class 1", "class 2"]
    assert result["prediction"] in {"class 0", "class 1", "class 2"}


@pytest.mark.parametrize("bad, error, message", [
    ([], ValueError, "empty list"),
    ("one sentence", TypeError, "wrap one sentence"),
    ([None], TypeError, r"sentence 0 must be a string, got null \(None\)"),
    (["ok", 3], TypeError, "sentence 1 must be a string, got a number"),
    (["   "], ValueError, "empty or only whitespace"),
    ([""], ValueError, "empty or only whitespace"),
    ({"a": 1}, TypeError, "list of sentences"),
])
def test_bad_input_gives_clear_errors(demo_classifier, bad, error, message):
    with pytest.raises(error, match=message):
        demo_classifier.predict(bad)


def test_inference_fn_rejects_blank_sentence(demo_classifier):
    with pytest.raises(ValueError, match="empty"):
        make_inference_fn(demo_classifier)("\n\t ")


def test_concurrent_callers_are_batched_and_get_their_own_results(demo_classifier):
    sentences = held_out_sentences()[:48]
    expected = {p.sentence: p.probabilities for p in demo_classifier._predict_now(sentences)}
    sizes = []
    original = demo_classifier._predict_now

    def recording(batch):
        sizes.append(len(batch))
        return original(batch)

    demo_classifier.batcher._run_batch = recording
    results = {}
    start = threading.Barrier(len(sentences))

    def call(sentence):
        start.wait()
        results[sentence] = demo_classifier.predict([sentence])[0].probabilities

    try:
        threads = [threading.Thread(target=call, args=(s,)) for s in sentences]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        demo_classifier.batcher._run_batch = original
    assert results.keys() == expected.keys()
    for sentence, probabilities in results.items():
        assert list(probabilities.values()) == pytest.approx(list(expected[sentence].values()), abs=1e-5)
    assert sum(sizes) == len(sentences), sizes
    assert max(sizes) > 1, f"never batched: {sizes}"


def test_batcher_passes_model_errors_to_the_caller_and_keeps_working(demo_classifier):
    original = demo_classifier.batcher._run_batch

    def failing(batch):
        raise RuntimeError("CUDA out of memory (simulated)")

    demo_classifier.batcher._run_batch = failing
    try:
        with pytest.raises(RuntimeError, match="simulated"):
            demo_classifier.predict(["hello"])
    finally:
        demo_classifier.batcher._run_batch = original
    assert demo_classifier.predict(["재밌어요"])[0].label


def test_full_queue_raises_overloaded():
    from demo_app.inference.batching import MicroBatcher, Overloaded

    release = threading.Event()
    batcher = MicroBatcher(lambda batch: release.wait() and batch, max_batch_size=1, max_queue=2)
    futures = [batcher.submit(["a"])]  # taken by the worker, which then blocks
    while batcher.queued:
        pass
    futures += [batcher.submit(["b"]), batcher.submit(["c"])]
    with pytest.raises(Overloaded, match="busy"):
        batcher.submit(["d"])
    release.set()
    assert [f.result(timeout=5) for f in futures] == [["a"], ["b"], ["c"]]


def test_bf16_fast_path_matches_fp32_on_the_held_out_set(demo_classifier):
    """Accuracy guard for the CPU fast path: same labels, probabilities within 0.01."""
    fast = load_predictor(DeployArguments(precision="bf16"), verbose=False)
    sentences = held_out_sentences()
    exact = demo_classifier.predict(sentences)
    quick = fast.predict(sentences)
    assert [p.label for p in quick] == [p.label for p in exact]
    worst = max(abs(a - b) for e, q in zip(exact, quick)
                for a, b in zip(e.probabilities.values(), q.probabilities.values()))
    assert worst < 0.01


def test_load_classifier_is_a_deprecated_alias_of_load_predictor():
    from demo_app import load_classifier

    with pytest.warns(DeprecationWarning, match="load_predictor"):
        predictor = load_classifier(verbose=False)
    assert predictor.task.name == "classification"
    assert make_inference_fn(predictor)("재밌어요")["prediction"] in predictor.labels
