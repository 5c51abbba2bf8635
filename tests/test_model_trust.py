"""The model served is the student's, or loading stops with one sentence saying why: broken and
hostile files, wrong vocabularies, checkpoints of other tasks, code in model files, no network."""

import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import PRETRAINED_DIR, ROOT, process_usage, run_cli, tiny_model, write_lightning
from lightning_format import checkpoint_filename, lightning_checkpoint, save_lightning_checkpoint

from demo_app import CheckpointError, DeployArguments, load_predictor


def load(**kwargs):
    kwargs.setdefault("pretrained_model_name", str(PRETRAINED_DIR))
    return load_predictor(DeployArguments(precision="fp32", **kwargs), verbose=False, batching=False)


def save_state(state, directory: Path, name="model.pth") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(state, directory / name)
    return directory / name


def seconds_to_load_the_demo_model() -> float:
    started = time.monotonic()
    load_predictor(DeployArguments(precision="fp32"), verbose=False, batching=False)
    return time.monotonic() - started


def refused_quickly(path, *words, **kwargs):
    """Refused before it costs more than loading a healthy model does (in this test, on this
    machine), with at most 300 MB more memory: a bad file is never read whole.

    Both take tens of milliseconds, so each is timed three times and the fastest compared: one
    scheduler hiccup on a shared machine is not a slow refusal."""
    healthy = min(seconds_to_load_the_demo_model() for _ in range(3))  # checkpoint, tokenizer, a test prediction
    before = process_usage()["rss_mb"]
    refusals = []
    for _ in range(3):
        started = time.monotonic()
        with pytest.raises(CheckpointError) as error:
            load(downstream_model_checkpoint_fpath=str(path), **kwargs)
        refusals.append(time.monotonic() - started)
    assert min(refusals) < 3 * healthy, (refusals, healthy)
    assert process_usage()["rss_mb"] - before < 300
    message = str(error.value)
    assert len(message) < 400, message
    for word in words:
        assert word in message, message
    return message


def test_a_zero_stride_bias_of_2_to_the_40_is_refused_without_allocating(tmp_path):
    state = tiny_model().state_dict()
    state["classifier.bias"] = torch.zeros(1).expand(2 ** 40)  # 4 bytes stored, 4 TB claimed
    path = save_state(state, tmp_path)
    assert path.stat().st_size < 1_000_000
    refused_quickly(path, "classifier.bias", "broken")


def test_five_million_classes_and_zero_classes_are_refused(tmp_path):
    state = tiny_model().state_dict()
    state["classifier.bias"] = torch.zeros(5_000_000)
    state["classifier.weight"] = torch.zeros(5_000_000, 1)
    refused_quickly(save_state(state, tmp_path / "many"), "1 to 10,000 classes")
    state = tiny_model().state_dict()
    state["classifier.bias"] = torch.zeros(0)
    state["classifier.weight"] = torch.zeros(0, 64)
    refused_quickly(save_state(state, tmp_path / "none"), "1 to 10,000 classes")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_or_infinite_weights_are_refused_at_load(tmp_path, value):
    state = tiny_model().state_dict()
    state["bert.encoder.layer.0.output.dense.weight"][0, 0] = value
    refused_quickly(save_state(state, tmp_path), "bert.encoder.layer.0.output.dense.weight", "NaN or infinite")


def test_empty_and_truncated_files(tmp_path):
    empty = tmp_path / "epoch=0-val_loss=0.10.ckpt"
    empty.write_bytes(b"")
    refused_quickly(empty, "empty (0 bytes)", "copy")
    whole = write_lightning(tiny_model(), tmp_path / "whole")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    refused_quickly(truncated, "truncated", "copy the checkpoint again")


@pytest.mark.parametrize("model_class, named", [
    ("BertForTokenClassification", "token-classification (NER) model, not one for the task 'classification': "
                                   "choose task='ner'"),
    ("BertForQuestionAnswering", "question-answering model (qa_outputs head), not one for the task "
                                 "'classification': choose task='qa'"),
])
def test_checkpoints_of_other_tasks_are_named_for_what_they_are(tmp_path, model_class, named):
    """In a folder named for document classification (a copy gone astray), the head still tells."""
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig.from_pretrained(PRETRAINED_DIR, num_labels=13)
    model = getattr(transformers, model_class)(config)
    checkpoint = lightning_checkpoint(model, torch.optim.AdamW(model.parameters()), epoch=0, global_step=0,
                                      val_loss=0.5, filename=checkpoint_filename(0, 0.5))
    path = save_lightning_checkpoint(checkpoint, tmp_path / "checkpoint-doccls" / checkpoint_filename(0, 0.5))
    message = refused_quickly(path, named)
    assert "pretrained_model_name" not in message
    assert "missing keys" not in message


def test_a_missing_vocabulary_is_refused_naming_both_numbers(tmp_path):
    pretrained = tmp_path / "pretrained"
    shutil.copytree(PRETRAINED_DIR, pretrained)
    for name in ("vocab.txt", "tokenizer.json"):
        (pretrained / name).unlink()
    checkpoint = write_lightning(tiny_model(), tmp_path / "ckpt")
    with pytest.raises(CheckpointError) as error:
        load(pretrained_model_name=str(pretrained), downstream_model_checkpoint_fpath=str(checkpoint))
    message = str(error.value)
    assert len(message) < 400, message
    assert "no tokenizer vocabulary" in message, message
    assert "vocab.txt" in message, message


def test_a_foreign_vocabulary_is_refused_naming_both_numbers(tmp_path):
    pretrained = tmp_path / "pretrained"
    shutil.copytree(PRETRAINED_DIR, pretrained)
    words = (PRETRAINED_DIR / "vocab.txt").read_text(encoding="utf-8").split()
    (pretrained / "vocab.txt").write_text("\n".join(words[:300]) + "\n", encoding="utf-8")
    (pretrained / "tokenizer.json").unlink()
    checkpoint = write_lightning(tiny_model(), tmp_path / "ckpt")
    with pytest.raises(CheckpointError) as error:
        load(pretrained_model_name=str(pretrained), downstream_model_checkpoint_fpath=str(checkpoint))
    assert "300 tokens" in str(error.value)
    assert "1,119 rows" in str(error.value)


def test_shape_mismatches_are_a_short_sentence(tmp_path):
    pretrained = tmp_path / "pretrained"
    shutil.copytree(PRETRAINED_DIR, pretrained)
    config = json.loads((pretrained / "config.json").read_text())
    config["hidden_size"], config["intermediate_size"] = 32, 64  # another model's config
    (pretrained / "config.json").write_text(json.dumps(config))
    checkpoint = write_lightning(tiny_model(), tmp_path / "ckpt")
    with pytest.raises(CheckpointError) as error:
        load(pretrained_model_name=str(pretrained), downstream_model_checkpoint_fpath=str(checkpoint))
    message = str(error.value)
    assert "differ, e.g." in message
    assert "[1119, 64] vs [1119, 32]" in message
    assert len(message) < 500


def test_code_in_a_pretrained_dir_never_runs_and_nothing_prompts(tmp_path):
    pretrained = tmp_path / "pretrained"
    shutil.copytree(PRETRAINED_DIR, pretrained)
    marker = tmp_path / "code-ran"
    (pretrained / "evil_model.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                              "from transformers import PretrainedConfig\n"
                                              "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n")
    config = json.loads((pretrained / "config.json").read_text())
    config.update(model_type="evil", auto_map={"AutoConfig": "evil_model.EvilConfig"})
    (pretrained / "config.json").write_text(json.dumps(config))
    checkpoint = write_lightning(tiny_model(), tmp_path / "ckpt")
    result = subprocess.run([sys.executable, "-m", "demo_app", "predict", "--pretrained", str(pretrained),
                             "--checkpoint", str(checkpoint), "x"], input="y\n", capture_output=True,
                            text=True, cwd=ROOT, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1, result.stderr
    assert not marker.exists(), result.stderr
    assert "never runs code" in result.stderr
    assert "[y/N]" not in result.stdout + result.stderr


def test_a_hub_name_without_network_fails_at_once():
    started = time.monotonic()
    assert run_cli("predict", "x").returncode == 0  # the demo model: the CLI's start, a load, an answer
    local = time.monotonic() - started
    started = time.monotonic()
    result = run_cli("predict", "--pretrained", "beomi/kcbert-base", "--checkpoint-dir",
                     str(Path(__file__).parent / "fixtures" / "ratsnlp-1.0.53" / "checkpoint-doccls"), "x")
    offline = time.monotonic() - started
    assert result.returncode == 1
    assert "no network" in result.stderr
    assert "local directory" in result.stderr
    assert offline < 2 * local, (offline, local)  # no waiting on the network, no retries


@pytest.mark.parametrize("state, words", [
    ("missing", ["there is no Colab secret NGROK_AUTHTOKEN", "add one"]),
    ("no-access", ["exists but this notebook may not read it", "Notebook access"]),
])
def test_colab_secret_states_each_have_their_fix(monkeypatch, state, words):
    # tests/fake_colab stands in for google.colab, which cannot exist outside Colab.
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fake_colab"))
    monkeypatch.setenv("FAKE_COLAB_SECRET_STATE", state)
    from demo_app.colab import colab_secret_problem

    before = set(sys.modules)
    try:
        importlib.import_module("google.colab")
        message = colab_secret_problem("NGROK_AUTHTOKEN")
    finally:  # later tests must not believe they run in Colab
        for name in set(sys.modules) - before:
            if name == "google" or name.startswith("google."):
                del sys.modules[name]
        importlib.invalidate_caches()
    for word in words:
        assert word in message
