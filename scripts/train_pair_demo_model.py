"""Train demo_app's bundled pair demo model: a tiny Korean NLI BERT, saved as ratsnlp saves one.

    python scripts/build_nli_corpus.py          # the corpus (data/demo_nli)
    python scripts/train_pair_demo_model.py     # about two minutes on one CPU core

Writes, next to the sentiment demo model in ``demo_app/demo_model/``:
  pretrained-paircls/  config.json, vocab.txt, tokenizer files; the same architecture as
                       ``pretrained/`` with a vocabulary counted from the NLI corpus
  checkpoint-paircls/  epoch=N-val_loss=X.XX.ckpt, in the layout ratsnlp's trainer writes for
                       nlpbook's pair-classification tutorial (``state_dict`` with ``model.``
                       keys, ``model.classifier.weight`` of shape [3, hidden])

The three classes are in ratsnlp's ``KlueNLICorpus.get_labels()`` order: entailment,
contradiction, neutral. A pair is encoded as ratsnlp's ClassificationDataset does,
``tokenizer(premise, hypothesis)``: ``[CLS] premise [SEP] hypothesis [SEP]``, the hypothesis with
token_type_id 1. Seeded and single-threaded, so a re-run writes the same checkpoint, byte for
byte. Prints held-out (dev) accuracy and checks three obvious pairs.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

import torch
from lightning_format import checkpoint_filename, lightning_checkpoint, save_lightning_checkpoint
from train_demo_model import train_tokenizer  # (the deterministic WordPiece vocab)
from transformers import BertConfig, BertForSequenceClassification

ROOT = Path(__file__).resolve().parent.parent

CORPUS_DIR = ROOT / "data" / "demo_nli"
MODEL_DIR = ROOT / "demo_app" / "demo_model"
PRETRAINED_DIR = MODEL_DIR / "pretrained-paircls"
CHECKPOINT_DIR = MODEL_DIR / "checkpoint-paircls"
LABELS = ["entailment", "contradiction", "neutral"]  # ratsnlp's KlueNLICorpus order
SEED = 7
EPOCHS = 30
BATCH_SIZE = 32
LEARNING_RATE = 5e-4
MAX_SEQ_LENGTH = 64  # as nlpbook's pair-classification tutorial
OBVIOUS = [("나는 밥을 먹었다", "나는 식사를 했다", "entailment"),
           ("나는 밥을 먹었다", "나는 밥을 먹지 않았다", "contradiction"),
           ("나는 밥을 먹었다", "나는 배가 고프다", "neutral")]


def read_corpus(name: str):
    """(premises, hypotheses, label ids) of a KLUE-NLI-layout JSON file."""
    records = json.loads((CORPUS_DIR / name).read_text(encoding="utf-8"))
    return ([r["premise"] for r in records], [r["hypothesis"] for r in records],
            [LABELS.index(r["gold_label"]) for r in records])


def encode(tokenizer, premises, hypotheses):
    return tokenizer(list(premises), list(hypotheses), padding=True, truncation=True,
                     max_length=MAX_SEQ_LENGTH, return_tensors="pt")


def evaluate(model, tokenizer, premises, hypotheses, labels):
    model.eval()
    with torch.inference_mode():
        logits = model(**encode(tokenizer, premises, hypotheses)).logits
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels)).item()
        accuracy = (logits.argmax(-1) == torch.tensor(labels)).float().mean().item()
    model.train()
    return loss, accuracy


def main() -> int:
    random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    train_premises, train_hypotheses, train_labels = read_corpus("klue_nli_train.json")
    dev_premises, dev_hypotheses, dev_labels = read_corpus("klue_nli_dev.json")
    shutil.rmtree(PRETRAINED_DIR, ignore_errors=True)
    shutil.rmtree(CHECKPOINT_DIR, ignore_errors=True)
    tokenizer = train_tokenizer(train_premises + train_hypotheses, PRETRAINED_DIR)

    # The sentiment demo model's architecture (demo_model/pretrained/config.json).
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128, max_position_embeddings=300,
                        hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)
    config.save_pretrained(str(PRETRAINED_DIR))  # no class count, like kcbert's config
    config.num_labels = len(LABELS)
    model = BertForSequenceClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.95)  # as ratsnlp

    best = None
    global_step = 0
    order = list(range(len(train_labels)))
    for epoch in range(EPOCHS):
        random.shuffle(order)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            inputs = encode(tokenizer, [train_premises[i] for i in batch],
                            [train_hypotheses[i] for i in batch])
            loss = model(**inputs, labels=torch.tensor([train_labels[i] for i in batch])).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            global_step += 1
        scheduler.step()
        val_loss, accuracy = evaluate(model, tokenizer, dev_premises, dev_hypotheses, dev_labels)
        if best is None or val_loss < best[0]:
            path = CHECKPOINT_DIR / checkpoint_filename(epoch, val_loss)
            checkpoint = lightning_checkpoint(
                model, optimizer, scheduler, epoch=epoch, global_step=global_step,
                val_loss=val_loss, filename=path.name, dirpath=CHECKPOINT_DIR.name)
            best = (val_loss, accuracy, epoch, checkpoint, path)
        print(f"epoch {epoch:2d}  val_loss {val_loss:.4f}  held-out accuracy {accuracy:.3f}")

    val_loss, accuracy, epoch, checkpoint, path = best
    save_lightning_checkpoint(checkpoint, path)
    model.load_state_dict({k[len("model."):]: v for k, v in checkpoint["state_dict"].items()})
    print(f"saved {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"held-out accuracy {accuracy:.3f} on {len(dev_labels)} pairs (epoch {epoch})")
    premises, hypotheses, expected = zip(*OBVIOUS)
    _, obvious_accuracy = evaluate(model, tokenizer, premises, hypotheses,
                                   [LABELS.index(label) for label in expected])
    print(f"obvious pairs right: {obvious_accuracy:.0%}")
    return 0 if obvious_accuracy == 1.0 and accuracy >= 0.85 else 1


if __name__ == "__main__":
    sys.exit(main())
