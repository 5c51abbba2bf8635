"""`python -m demo_app predict`, run as a user runs it: a real subprocess."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from helpers import PRETRAINED_DIR, RunsCode, run_cli, tiny_model, trained_like_lightning, write_lightning

ROOT = Path(__file__).resolve().parent.parent


def test_predict_with_the_demo_model_prints_one_utf8_json_line_per_sentence():
    result = run_cli("predict", "이 영화 정말 재밌어요", "시간이 아까웠습니다")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert "이 영화 정말 재밌어요" in lines[0]  # not \u-escaped
    first, second = (json.loads(line) for line in lines)
    assert first["prediction"] == "긍정 (positive)"
    assert second["prediction"] == "부정 (negative)"
    assert "demo model" in result.stderr


def test_predict_with_a_lightning_checkpoint_dir(tmp_path):
    write_lightning(tiny_model(seed=9), tmp_path / "tmp" / "checkpoint-doccls")
    result = run_cli("predict", "--pretrained", str(PRETRAINED_DIR), "--checkpoint-dir",
                     str(tmp_path / "tmp" / "checkpoint-doccls"), "--max-seq-length", "64", "좋아요")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sentence"] == "좋아요"


def assert_one_line_error(result, *expected):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr
    for text in expected:
        assert text in error_lines[0], error_lines[0]


def test_bad_paths_and_files_fail_with_one_line(tmp_path):
    assert_one_line_error(run_cli("predict", "--checkpoint-dir", str(tmp_path / "missing"), "x"),
                          "not found")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("predict", "--checkpoint-dir", str(tmp_path / "empty"), "x"), "*.ckpt")
    (tmp_path / "corrupt.ckpt").write_bytes(b"\x80\x04garbage")
    assert_one_line_error(run_cli("predict", "--pretrained", str(PRETRAINED_DIR), "--checkpoint",
                                  str(tmp_path / "corrupt.ckpt"), "x"), "not a readable")
    assert_one_line_error(run_cli("predict", "--pretrained", str(tmp_path / "nope"), "--checkpoint",
                                  str(tmp_path / "corrupt.ckpt"), "x"), "not found")


def test_foreign_model_checkpoint_names_the_mismatched_keys(tmp_path):
    torch.save({"encoder.weight": torch.zeros(2, 2), "classifier.bias": torch.zeros(2)}, tmp_path / "other.pth")
    assert_one_line_error(run_cli("predict", "--pretrained", str(PRETRAINED_DIR), "--checkpoint",
                                  str(tmp_path / "other.pth"), "x"), "missing keys", "encoder.weight")


def test_malicious_checkpoint_is_refused_by_the_cli(tmp_path):
    marker = tmp_path / "code-ran"
    checkpoint = trained_like_lightning(tiny_model())
    checkpoint["callbacks"] = RunsCode(marker)
    torch.save(checkpoint, tmp_path / "epoch=0-val_loss=0.01.ckpt")
    result = run_cli("predict", "--pretrained", str(PRETRAINED_DIR), "--checkpoint-dir", str(tmp_path), "x")
    assert_one_line_error(result, "not a plain weights file")
    assert not marker.exists()


def test_blank_sentence_is_an_error():
    assert_one_line_error(run_cli("predict", "   "), "empty")


def test_serve_auth_with_a_bare_user_generates_a_strong_password_shown_once():
    import base64
    import re
    import signal

    import requests
    from helpers import free_port

    env_without = {k: v for k, v in os.environ.items() if k != "DEMO_APP_AUTH"}
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "demo_app", "serve", "--port", str(port), "--auth", "student"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               stdin=subprocess.DEVNULL, env=dict(env_without, PYTHONPATH=str(ROOT)))
    try:
        shown = next(line for line in process.stderr if "Visitors log in as" in line)
        password = re.search(r"with the password (\S+)", shown).group(1)
        assert len(password) >= 16
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(url + "/healthz", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        right = "Basic " + base64.b64encode(f"student:{password}".encode()).decode()
        assert requests.get(url + "/", headers={"Authorization": right}, timeout=10).status_code == 200
        assert requests.get(url + "/", timeout=10).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        output, errors = process.communicate(timeout=30)
    assert password not in output + errors  # shown once, never logged again
