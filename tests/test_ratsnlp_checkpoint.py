"""A checkpoint written by ratsnlp 1.0.53 and PyTorch Lightning 1.6.1 themselves (see
tests/fixtures/ratsnlp-1.0.53/README.md) loads with current transformers through the CLI and the
Python API, from a directory whose path contains "tmp", and reproduces the tutorial's outputs."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import PRETRAINED_DIR
from test_cli import run_cli

from demo_app import DeployArguments, load_predictor, make_inference_fn

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "ratsnlp-1.0.53"
TUTORIAL = [json.loads(line) for line in (FIXTURE / "tutorial_outputs.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def tmp_checkpoint_dir(tmp_path):
    # ratsnlp's own picker refused any path containing "tmp" or "temp".
    directory = tmp_path / "tmp_checkpoints" / "checkpoint-doccls"
    shutil.copytree(FIXTURE / "checkpoint-doccls", directory)
    return directory


def test_the_fixture_is_what_ratsnlp_writes():
    [path] = (FIXTURE / "checkpoint-doccls").glob("*.ckpt")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    assert checkpoint["pytorch-lightning_version"] == "1.6.1"
    assert "model.bert.embeddings.position_ids" in checkpoint["state_dict"]  # transformers < 4.31
    assert "exp_avg" in checkpoint["optimizer_states"][0]["state"][0]  # AdamW moments ride along


def assert_matches_tutorial(result, expected):
    for key in ("sentence", "prediction", "positive_data", "negative_data"):
        assert result[key] == expected[key]
    for key in ("positive_width", "negative_width"):  # same number, without the float artifacts
        assert float(result[key][:-1]) == pytest.approx(float(expected[key][:-1]), abs=1e-9)
        assert len(result[key].split(".")[1]) == 3  # two decimals and the % sign


def test_cli_reproduces_the_tutorial(tmp_checkpoint_dir):
    result = run_cli("predict", "--pretrained", str(PRETRAINED_DIR), "--checkpoint-dir", str(tmp_checkpoint_dir),
                     *[expected["sentence"] for expected in TUTORIAL])
    assert result.returncode == 0, result.stderr
    for line, expected in zip(result.stdout.strip().splitlines(), TUTORIAL, strict=True):
        assert_matches_tutorial(json.loads(line), expected)


def test_python_api_reproduces_the_tutorial(tmp_checkpoint_dir):
    classifier = load_predictor(DeployArguments(pretrained_model_name=str(PRETRAINED_DIR),
                                                 downstream_model_dir=str(tmp_checkpoint_dir)), verbose=False)
    inference_fn = make_inference_fn(classifier)
    for expected in TUTORIAL:
        assert_matches_tutorial(inference_fn(expected["sentence"]), expected)
