"""The CPU fast path's accuracy guard on a kcbert-base-sized model (random weights, seeded)."""

import pytest
import torch
from helpers import PRETRAINED_DIR
from test_classifier import held_out_sentences
from transformers import BertConfig, BertForSequenceClassification

from demo_app.inference.bf16_layers import apply_precision
from demo_app.inference.precision import MIN_HIDDEN_SIZE_FOR_BF16, choose_precision

pytestmark = pytest.mark.slow


def test_bf16_matmuls_keep_labels_and_probabilities_on_a_kcbert_sized_model():
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=300, num_labels=2)
    exact = BertForSequenceClassification(config).eval()
    fast = BertForSequenceClassification(config).eval()
    fast.load_state_dict(exact.state_dict())
    fast = apply_precision(fast, "bf16", torch.device("cpu"), ("classifier",))
    tokenizer = AutoTokenizer.from_pretrained(PRETRAINED_DIR)
    sentences = held_out_sentences()[:64]
    inputs = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.inference_mode():
        p_exact = exact(**inputs).logits.softmax(-1)
        p_fast = fast(**inputs).logits.float().softmax(-1)
    assert (p_exact - p_fast).abs().max().item() < 0.01
    # Labels match wherever fp32 itself is not a coin toss (a margin the 0.01 bound cannot flip).
    decided = (p_exact[:, 1] - p_exact[:, 0]).abs() > 0.02
    assert torch.equal(p_exact.argmax(-1)[decided], p_fast.argmax(-1)[decided])
    assert decided.sum() > len(sentences) // 2


def test_auto_precision_rules(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))  # a T4 (Colab)
    assert choose_precision(cuda, "auto") == "fp16"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))  # an A100
    assert choose_precision(cuda, "auto") == "bf16"
    assert choose_precision(cpu, "auto", hidden_size=64) == "fp32"  # small models: casts cost more
    assert choose_precision(cpu, "fp32", hidden_size=768) == "fp32"
    with pytest.raises(ValueError, match="CUDA"):
        choose_precision(cpu, "fp16")
    big = choose_precision(cpu, "auto", hidden_size=MIN_HIDDEN_SIZE_FOR_BF16)
    from demo_app.inference.precision import cpu_has_native_bf16
    assert big == ("bf16" if cpu_has_native_bf16() else "fp32")
