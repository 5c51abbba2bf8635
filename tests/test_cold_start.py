"""A model served from the conversion cache starts without torch or transformers (the cold start
of issue 27): the tokenizer saved beside a conversion encodes as transformers' does on every
encoder task, and a fresh process serving the four demo models from the cache imports neither,
answers and explains as the first load did. (``benchmarks/serve_benchmark.py`` measures the time
and memory this saves; here only what can be counted is asserted.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import put_in_hub_cache

from demo_app import DeployArguments, create_app, load_predictor
from demo_app.loading.standalone_tokenizer import StandaloneTokenizer, save_standalone
from demo_app.loading.text_model import load_tokenizer
from demo_app.tasks import get_task

pytest.importorskip("openvino")

ROOT = Path(__file__).resolve().parent.parent
ENCODER_TASKS = ("classification", "pair-classification", "ner", "qa")
CONTEXT = "세종대왕은 1397년에 태어났다. 조선의 네 번째 임금이다. " * 12  # several windows at 64 tokens
# Beyond each task's own examples: characters the vocabularies lack, and texts to truncate.
MORE_ITEMS = {
    "classification": ["이 영화 정말 재밌어요 漢字😀 ㅋㅋㅋ", "좋아요 " * 80],
    "pair-classification": [("나는 밥을 먹었다 " * 20, "나는 식사를 했다"), ("é😀", "漢字")],
    "ner": ["이순신은 조선의 무신이다 " * 10, "삼성전자가 서울에 있다 😀"],
    "qa": [("세종대왕은 언제 태어났나?", CONTEXT), ("누가?", "漢字 é 😀 아무도 없다")],
}


def encodings_of(task, tokenizer, items, max_seq_length):
    try:
        return task.pipeline.preprocess(tokenizer, items, max_seq_length)
    except ValueError as error:  # QA: a question that leaves no room for the context
        return str(error)


@pytest.mark.parametrize("task_name", ENCODER_TASKS)
def test_the_saved_tokenizer_encodes_as_transformers_does(task_name, tmp_path):
    task = get_task(task_name)
    transformers_tokenizer = load_tokenizer(str(task.checkpoints.demo_pretrained_dir), "bert", task)
    save_standalone(transformers_tokenizer, tmp_path)
    standalone = StandaloneTokenizer(tmp_path)
    items = task.inputs.check_inputs(task.page.example_items() + MORE_ITEMS[task_name])
    for max_seq_length in (16, 64, 128):
        expected = encodings_of(task, transformers_tokenizer, items, max_seq_length)
        got = encodings_of(task, standalone, items, max_seq_length)
        if isinstance(expected, str):
            assert got == expected
            continue
        assert list(got) == list(expected)
        for name in expected:
            assert np.asarray(got[name]).dtype == np.asarray(expected[name]).dtype, name
            assert np.array_equal(np.asarray(got[name]), np.asarray(expected[name])), (name, max_seq_length)
        rows = len(expected["input_ids"])
        assert [got.sequence_ids(row) for row in range(rows)] == [expected.sequence_ids(row) for row in range(rows)]
    for text in ["이 영화 정말 재밌어요 漢字😀", "a"]:
        assert standalone(text)["input_ids"] == transformers_tokenizer(text)["input_ids"]
        pieces = {"add_special_tokens": False, "return_offsets_mapping": True}
        assert standalone(text, **pieces)["offset_mapping"] == transformers_tokenizer(text, **pieces)["offset_mapping"]
    assert len(standalone) == len(transformers_tokenizer)
    for name in ("unk_token_id", "pad_token_id", "cls_token_id", "sep_token_id"):
        assert getattr(standalone, name) == getattr(transformers_tokenizer, name), name


SERVE_FROM_THE_CACHE = """
import json, sys
from demo_app import DeployArguments, create_app, load_predictor
from demo_app.tasks import get_task

cache, first_inputs = sys.argv[1], json.loads(sys.argv[2])
answers, apps = {}, []
for name in %r:
    predictor = load_predictor(DeployArguments(task=name, backend="openvino", cache_dir=cache), batching=False)
    items = [tuple(item) if isinstance(item, list) else item for item in first_inputs[name]]
    answers[name] = [predictor.task.pipeline.to_dict(result) for result in predictor.predict(items)]
    apps.append((name, predictor, items[0], create_app(predictor)))
imported = sorted(module for module in ("torch", "transformers") if module in sys.modules)
for name, predictor, item, app in apps:  # explanations read the weights again: torch from here on
    answers[name + " explained"] = predictor.explain(item)
print(json.dumps({"imported": imported, "answers": answers}, ensure_ascii=False))
""" % (ENCODER_TASKS,)


def test_a_fresh_process_serves_the_cache_without_torch_or_transformers(tmp_path):
    cache = tmp_path / "cache"
    inputs, first = {}, {}
    for name in ENCODER_TASKS:
        predictor = load_predictor(DeployArguments(task=name, backend="openvino", cache_dir=str(cache)),
                                   verbose=False, batching=False)
        items = predictor.task.inputs.check_inputs(predictor.task.page.example_items() + MORE_ITEMS[name][:1])
        inputs[name] = items
        first[name] = [predictor.task.pipeline.to_dict(result) for result in predictor.predict(items)]
        first[name + " explained"] = predictor.explain(items[0])
        create_app(predictor)
    run = subprocess.run([sys.executable, "-c", SERVE_FROM_THE_CACHE, str(cache), json.dumps(inputs)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.count("Using the OpenVINO conversion made at an earlier load") == len(ENCODER_TASKS)
    served = json.loads(run.stdout.splitlines()[-1])
    assert served["imported"] == []
    expected = json.loads(json.dumps(first, ensure_ascii=False))  # tuples as JSON lists, as the process printed them
    for name in expected:
        assert served["answers"][name] == expected[name], name


HUB_NAMED_LOAD = """
import json, sys
from demo_app import DeployArguments, load_predictor

predictor = load_predictor(DeployArguments(pretrained_model_name="beomi/kcbert-base", downstream_model_dir=sys.argv[1],
                                           backend="openvino", cache_dir=sys.argv[2]), batching=False)
answers = [predictor.task.pipeline.to_dict(result) for result in predictor.predict(["이 영화 정말 재밌어요", "별로"])]
imported = sorted(module for module in ("torch", "transformers") if module in sys.modules)
print(json.dumps({"imported": imported, "answers": answers}, ensure_ascii=False))
"""


def test_a_hub_named_model_in_the_local_hugging_face_cache_starts_so_too(tmp_path):
    """Colab's notebooks name the pretrained model as the book does (``beomi/kcbert-base``). The
    hub cannot be reached here, so its files are put where huggingface_hub keeps a download
    (the demo model's config and vocabulary as revision "0123abc"), and the hub is off."""
    demo = get_task("classification").checkpoints
    put_in_hub_cache(tmp_path / "hub", "beomi/kcbert-base", demo.demo_pretrained_dir)
    environment = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-c", HUB_NAMED_LOAD, str(demo.demo_checkpoint_dir), str(tmp_path / "cache")]
    runs = [subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environment, timeout=600)
            for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], runs[-1].stderr[-3000:]
    assert "Converting the model to OpenVINO" in runs[0].stderr
    assert "Using the OpenVINO conversion made at an earlier load" in runs[1].stderr
    first, second = (json.loads(run.stdout.splitlines()[-1]) for run in runs)
    assert first["imported"] == ["torch", "transformers"]  # the first load reads the weights
    assert second["imported"] == []
    assert second["answers"] == first["answers"]
