"""Building small real models and writing them in every checkpoint format, for the tests."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Dict, List

import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from demo_app.arguments import DEMO_PRETRAINED_DIR
from demo_app.lightning_format import checkpoint_filename, lightning_checkpoint, save_lightning_checkpoint

PRETRAINED_DIR = DEMO_PRETRAINED_DIR  # a real vocab + config, like beomi/kcbert-base but small
SENTENCES = [
    "이 영화 정말 재밌어요",
    "시간이 아까웠습니다",
    "배우들 연기가 좋았고 음악도 멋졌어요",
    "스토리가 엉성했고 결말도 실망이었습니다 다시는 안 볼 거예요",
    "ㅋㅋㅋ",
]


def tiny_model(num_labels: int = 2, seed: int = 0) -> BertForSequenceClassification:
    """A randomly initialised (seeded) classifier with the demo model's architecture."""
    torch.manual_seed(seed)
    config = BertConfig.from_pretrained(PRETRAINED_DIR, num_labels=num_labels)
    return BertForSequenceClassification(config).eval()


def trained_like_lightning(model: torch.nn.Module) -> Dict[str, object]:
    """A real AdamW step on ``model`` (so the optimizer holds moments), then Lightning's dict."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    tokenizer = AutoTokenizer.from_pretrained(PRETRAINED_DIR)
    model.train()
    inputs = tokenizer(SENTENCES[:2], padding=True, return_tensors="pt")
    model(**inputs, labels=torch.tensor([1, 0])).loss.backward()
    optimizer.step()
    scheduler.step()
    model.eval()
    return lightning_checkpoint(model, optimizer, scheduler, epoch=1, global_step=1,
                                val_loss=0.42, filename=checkpoint_filename(1, 0.42))


def write_lightning(model, directory: Path, epoch: int = 1, val_loss: float = 0.42) -> Path:
    checkpoint = trained_like_lightning(model)
    return save_lightning_checkpoint(checkpoint, Path(directory) / checkpoint_filename(epoch, val_loss))


def tutorial_probabilities(model, tokenizer, sentence: str, max_seq_length: int = 128) -> List[float]:
    """nlpbook's deploy notebook, line for line: pad to max_length, one sentence, fp32."""
    inputs = tokenizer([sentence], max_length=max_seq_length, padding="max_length", truncation=True)
    with torch.no_grad():
        outputs = model(**{k: torch.tensor(v) for k, v in inputs.items()})
        prob = outputs.logits.softmax(dim=1)
    return prob[0].tolist()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (closed again before returning)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RunsCode:
    """Pickles into a call of os.system("touch MARKER"): what a malicious checkpoint carries."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))
