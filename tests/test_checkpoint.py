"""Every checkpoint format, written for real inside the tests, loads back to the same model."""

import os
import subprocess
import sys

import pytest
import torch
from helpers import PRETRAINED_DIR, SENTENCES, RunsCode, tiny_model, trained_like_lightning, write_lightning
from safetensors.torch import save_file
from transformers import AutoTokenizer

from demo_app import CheckpointError, DeployArguments, load_predictor, read_state_dict


def probabilities_of(classifier):
    return torch.tensor([list(p.probabilities.values()) for p in classifier.predict(SENTENCES)])


def reference_probabilities(model):
    tokenizer = AutoTokenizer.from_pretrained(PRETRAINED_DIR)
    inputs = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).logits.softmax(-1)


def load(**kwargs):
    return load_predictor(DeployArguments(pretrained_model_name=str(PRETRAINED_DIR), precision="fp32",
                                           **kwargs), verbose=False, batching=False)


def test_lightning_checkpoint_with_optimizer_states(tmp_path):
    model = tiny_model()
    path = write_lightning(model, tmp_path)
    raw = torch.load(path, weights_only=True)
    # The file is shaped like a ratsnlp/Lightning one, AdamW moments included.
    assert {"epoch", "global_step", "pytorch-lightning_version", "state_dict", "optimizer_states",
            "lr_schedulers", "callbacks", "loops"} <= raw.keys()
    assert all(k.startswith("model.") for k in raw["state_dict"])
    assert "exp_avg" in next(iter(raw["optimizer_states"][0]["state"].values()))

    classifier = load(downstream_model_dir=str(tmp_path))
    torch.testing.assert_close(probabilities_of(classifier), reference_probabilities(model),
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("suffix", [".pth", ".bin", ".pt"])
def test_bare_state_dict(tmp_path, suffix):
    model = tiny_model(seed=1)
    path = tmp_path / f"model{suffix}"
    torch.save(model.state_dict(), path)
    classifier = load(downstream_model_checkpoint_fpath=str(path))
    torch.testing.assert_close(probabilities_of(classifier), reference_probabilities(model),
                               atol=1e-6, rtol=0)


def test_safetensors(tmp_path):
    model = tiny_model(seed=2)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    classifier = load(downstream_model_checkpoint_fpath=str(path))
    torch.testing.assert_close(probabilities_of(classifier), reference_probabilities(model),
                               atol=1e-6, rtol=0)


def test_save_pretrained_directory(tmp_path):
    model = tiny_model(seed=3)
    model.save_pretrained(tmp_path / "finetuned")
    AutoTokenizer.from_pretrained(PRETRAINED_DIR).save_pretrained(tmp_path / "finetuned")
    as_dir = load(downstream_model_dir=str(tmp_path / "finetuned"))
    torch.testing.assert_close(probabilities_of(as_dir), reference_probabilities(model), atol=1e-6, rtol=0)
    # ... and as the pretrained_model_name alone, as Hugging Face users pass it.
    alone = load_predictor(DeployArguments(pretrained_model_name=str(tmp_path / "finetuned"),
                                            precision="fp32"), verbose=False, batching=False)
    torch.testing.assert_close(probabilities_of(alone), reference_probabilities(model), atol=1e-6, rtol=0)


@pytest.mark.parametrize("with_position_ids", [True, False])
def test_position_ids_present_or_absent(tmp_path, with_position_ids):
    # transformers < 4.31 saved bert.embeddings.position_ids; newer versions do not expect it.
    model = tiny_model(seed=4)
    state = model.state_dict()
    if with_position_ids:
        state["bert.embeddings.position_ids"] = torch.arange(300).unsqueeze(0)
    else:
        state.pop("bert.embeddings.position_ids", None)
    torch.save(state, tmp_path / "model.pth")
    classifier = load(downstream_model_checkpoint_fpath=str(tmp_path / "model.pth"))
    torch.testing.assert_close(probabilities_of(classifier), reference_probabilities(model), atol=1e-6, rtol=0)


def test_other_missing_or_unexpected_keys_are_listed(tmp_path):
    state = tiny_model().state_dict()
    del state["bert.pooler.dense.weight"]
    state["bert.extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "model.pth")
    with pytest.raises(CheckpointError) as error:
        load(downstream_model_checkpoint_fpath=str(tmp_path / "model.pth"))
    assert "bert.pooler.dense.weight" in str(error.value)
    assert "bert.extra.weight" in str(error.value)


def test_num_labels_comes_from_the_classifier_bias(tmp_path):
    model = tiny_model(num_labels=3, seed=5)
    write_lightning(model, tmp_path)
    classifier = load(downstream_model_dir=str(tmp_path), labels=["부정", "중립", "긍정"])
    assert classifier.labels == ("부정", "중립", "긍정")
    torch.testing.assert_close(probabilities_of(classifier), reference_probabilities(model), atol=1e-6, rtol=0)


def test_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    checkpoint = trained_like_lightning(tiny_model())
    checkpoint["hyper_parameters"] = RunsCode(marker)
    path = tmp_path / "epoch=1-val_loss=0.10.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="not a plain weights file") as error:
        read_state_dict(path)
    assert "torch.save(model.state_dict()" in str(error.value)
    with pytest.raises(CheckpointError, match="not a plain weights file"):
        load(downstream_model_dir=str(tmp_path))
    assert not marker.exists(), "the pickled code ran"


def test_corrupt_and_foreign_files(tmp_path):
    (tmp_path / "garbage.ckpt").write_bytes(b"not a checkpoint at all")
    (tmp_path / "broken.safetensors").write_bytes(b"\x00\x01")
    torch.save({"epoch": 3}, tmp_path / "no_weights.ckpt")
    torch.save([1, 2, 3], tmp_path / "a_list.pth")
    for name, expected in [("garbage.ckpt", "not a readable PyTorch checkpoint"),
                           ("broken.safetensors", "not a readable .safetensors"),
                           ("no_weights.ckpt", "not a state_dict"),
                           ("a_list.pth", "holds no model weights")]:
        with pytest.raises(CheckpointError, match=expected):
            read_state_dict(tmp_path / name)


def test_lightning_checkpoint_is_memory_mapped_not_read(tmp_path):
    """Optimizer states of a Lightning file are mapped, never copied into memory: loading a
    file padded with 400 MB of optimizer state costs far less than 400 MB."""
    model = tiny_model()
    checkpoint = trained_like_lightning(model)
    checkpoint["optimizer_states"][0]["state"][999] = {"exp_avg": torch.ones(100_000_000)}
    path = tmp_path / "epoch=0-val_loss=0.10.ckpt"
    torch.save(checkpoint, path)
    script = (
        "import sys; sys.path.insert(0, '.');"
        "from demo_app.loading.checkpoint import read_state_dict;"
        f"sd = read_state_dict({str(path)!r}); print(sum(v.numel() for v in sd.values()));"
        # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's size (this pytest).
        "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__))).stdout.split()
    peak_mb = int(out[-1]) / 1024
    assert peak_mb < 350, f"peak RSS {peak_mb:.0f} MB: the optimizer state was read"


def test_max_seq_length_longer_than_the_model_is_an_error(tmp_path):
    write_lightning(tiny_model(), tmp_path)
    with pytest.raises(ValueError, match="max_seq_length 512 .* 300 positions"):
        load(downstream_model_dir=str(tmp_path), max_seq_length=512)


@pytest.mark.parametrize("architecture", ["roberta", "electra"])
def test_other_architectures_through_the_auto_classes(tmp_path, architecture):
    """RoBERTa and ELECTRA heads (classifier.dense + classifier.out_proj) load like BERT's.
    Both reuse the demo WordPiece tokenizer here (tokenizer_config names BertTokenizer)."""
    import shutil as sh

    from transformers import AutoConfig, AutoModelForSequenceClassification

    pretrained = tmp_path / "pretrained"
    sh.copytree(PRETRAINED_DIR, pretrained)
    config = AutoConfig.for_model(architecture, vocab_size=1200, hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=64, max_position_embeddings=300,
                                  pad_token_id=0, num_labels=3)
    config.save_pretrained(pretrained)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    torch.save(model.state_dict(), tmp_path / "model.bin")
    classifier = load_predictor(DeployArguments(pretrained_model_name=str(pretrained), precision="fp32",
                                                 downstream_model_checkpoint_fpath=str(tmp_path / "model.bin")),
                                 verbose=False, batching=False)
    assert classifier.model.config.model_type == architecture
    assert len(classifier.labels) == 3
    torch.testing.assert_close(probabilities_of(classifier), reference_probabilities(model), atol=1e-6, rtol=0)
