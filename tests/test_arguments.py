import os
import time
from pathlib import Path

import pytest

from demo_app import DeployArguments, find_best_checkpoint


def touch(path, mtime=None):
    path.write_bytes(b"x")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_lowest_val_loss_wins(tmp_path):
    for name in ["epoch=0-val_loss=0.52.ckpt", "epoch=1-val_loss=0.31.ckpt", "epoch=2-val_loss=0.40.ckpt"]:
        touch(tmp_path / name)
    assert find_best_checkpoint(tmp_path).name == "epoch=1-val_loss=0.31.ckpt"


def test_v1_duplicate_names_are_parsed(tmp_path):
    touch(tmp_path / "epoch=1-val_loss=0.31.ckpt", mtime=time.time() - 100)
    touch(tmp_path / "epoch=1-val_loss=0.29-v1.ckpt")
    touch(tmp_path / "epoch=3-val_loss=0.31-v1.ckpt")
    assert find_best_checkpoint(tmp_path).name == "epoch=1-val_loss=0.29-v1.ckpt"


def test_tie_goes_to_newest(tmp_path):
    touch(tmp_path / "epoch=1-val_loss=0.31.ckpt", mtime=time.time() - 100)
    touch(tmp_path / "epoch=1-val_loss=0.31-v1.ckpt")
    assert find_best_checkpoint(tmp_path).name == "epoch=1-val_loss=0.31-v1.ckpt"


@pytest.mark.parametrize("folder", ["tmp", "temp", "my_tmp_runs", "Temporary"])
def test_directories_named_tmp_or_temp_work(tmp_path, folder):
    # ratsnlp refused any path containing "tmp" or "temp"; only the file's own name matters.
    directory = tmp_path / folder / "checkpoint-doccls"
    directory.mkdir(parents=True)
    touch(directory / "epoch=0-val_loss=0.30.ckpt")
    assert find_best_checkpoint(directory).name == "epoch=0-val_loss=0.30.ckpt"


def test_temporary_files_are_skipped(tmp_path):
    touch(tmp_path / "epoch=0-val_loss=0.50.ckpt")
    touch(tmp_path / "tmp_epoch=1-val_loss=0.10.ckpt")
    touch(tmp_path / ".epoch=2-val_loss=0.05.ckpt")
    assert find_best_checkpoint(tmp_path).name == "epoch=0-val_loss=0.50.ckpt"


def test_last_ckpt_only_when_nothing_has_a_val_loss(tmp_path):
    touch(tmp_path / "last.ckpt")
    assert find_best_checkpoint(tmp_path).name == "last.ckpt"
    touch(tmp_path / "epoch=4-val_loss=0.90.ckpt")
    assert find_best_checkpoint(tmp_path).name == "epoch=4-val_loss=0.90.ckpt"


def test_empty_directory_error_says_what_was_looked_for_and_found(tmp_path):
    touch(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError) as error:
        find_best_checkpoint(tmp_path)
    assert "*.ckpt" in str(error.value)
    assert "notes.txt" in str(error.value)


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        find_best_checkpoint(tmp_path / "nope")


def test_arguments_keep_ratsnlp_names_and_check_values():
    args = DeployArguments(pretrained_model_name="beomi/kcbert-base",
                           downstream_model_dir="/gdrive/My Drive/nlpbook/checkpoint-doccls")
    assert args.max_seq_length == 128
    assert not args.uses_demo_model
    assert DeployArguments().uses_demo_model
    with pytest.raises(ValueError, match="device"):
        DeployArguments(device="tpu")
    with pytest.raises(ValueError, match="max_seq_length"):
        DeployArguments(max_seq_length=0)
    with pytest.raises(TypeError, match="labels"):
        DeployArguments(labels="negative,positive")


def test_a_choice_among_several_checkpoints_is_said_once_and_recorded(tmp_path, capsys):
    """Three checkpoints in one folder: the log says which is served and why, once, and the
    history records that one (its name and hash), not the first file by name."""
    from helpers import PRETRAINED_DIR, tiny_model, write_lightning

    from demo_app import load_predictor
    from demo_app.history import model_identity

    model = tiny_model()
    for epoch, val_loss in ((0, 0.52), (7, 0.37), (9, 0.41)):
        write_lightning(model, tmp_path, epoch=epoch, val_loss=val_loss)
    predictor = load_predictor(DeployArguments(pretrained_model_name=str(PRETRAINED_DIR),
                                               downstream_model_dir=str(tmp_path), precision="fp32"))
    captured = capsys.readouterr()
    said = captured.out + captured.err
    assert said.count("3 checkpoints in") == 1
    assert "serving epoch=7-val_loss=0.37.ckpt, the lowest val_loss." in said
    name, digest = model_identity(str(tmp_path))
    assert name == "epoch=7-val_loss=0.37.ckpt"
    assert name == Path(predictor.source).name
    assert len(digest) == 64


def test_a_save_pretrained_folder_is_recorded_with_its_weights_hash(tmp_path):
    from helpers import tiny_model

    from demo_app.history import model_identity

    tiny_model().save_pretrained(tmp_path / "model")
    name, digest = model_identity(str(tmp_path / "model"))
    assert name == "model"
    assert len(digest) == 64
    assert model_identity(str(tmp_path / "nothing-here")) == ("nothing-here", "")
