"""Train demo_app's bundled demo model: a tiny Korean sentiment BERT, saved as ratsnlp saves one.

    python scripts/build_demo_corpus.py     # the corpus (already committed)
    python scripts/train_demo_model.py      # about a minute on 2 CPU cores

Writes ``demo_app/demo_model/``:
  pretrained/         config.json, vocab.txt, tokenizer files (what ``beomi/kcbert-base`` is to a
                      real model: the architecture and the tokenizer)
  checkpoint-doccls/  epoch=N-val_loss=X.XX.ckpt, written in PyTorch Lightning 1.6's layout as
                      ratsnlp's trainer writes it (``state_dict`` with ``model.`` keys, AdamW
                      moments in ``optimizer_states``, ``lr_schedulers``, ``callbacks``, ``loops``)

Seeded and single-threaded, so a re-run trains the same model. Prints held-out accuracy.
No Lightning or ratsnlp is imported: the checkpoint dict is built here field by field.
"""

from __future__ import annotations

import random
import shutil
import sys
from collections import Counter
from pathlib import Path

import torch
from lightning_format import checkpoint_filename, lightning_checkpoint, save_lightning_checkpoint
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = ROOT / "data" / "demo_reviews"
MODEL_DIR = ROOT / "demo_app" / "demo_model"
SEED = 7
EPOCHS = 25
BATCH_SIZE = 32
LEARNING_RATE = 5e-4
MAX_SEQ_LENGTH = 64
OBVIOUS = [("이 영화 정말 재밌어요", 1), ("최고의 영화였습니다", 1), ("정말 재미없어요", 0),
           ("시간이 아까웠습니다 최악", 0)]


def read_corpus(name: str):
    lines = (CORPUS_DIR / name).read_text(encoding="utf-8").splitlines()[1:]
    rows = [line.split("\t") for line in lines if line.strip()]
    return [text for _, text, _ in rows], [int(label) for _, _, label in rows]


def build_vocab(texts) -> list:
    """A WordPiece vocabulary built by counting, so that it is the same on every run (the
    tokenizers library's trainer breaks ties in a different order each time).

    Every character (alone and as a ``##`` continuation), every word seen twice, and the word
    beginnings and endings (2-4 characters) seen three times: Korean endings like ``##었어요``.
    """
    words = Counter(word for text in texts for word in text.split())
    pieces = set()
    for word, count in words.items():
        pieces.update(word)
        pieces.update("##" + char for char in word[1:])
        if count >= 2:
            pieces.add(word)
    beginnings, endings = Counter(), Counter()
    for word, count in words.items():
        for size in range(2, min(4, len(word) - 1) + 1):
            beginnings[word[:size]] += count
            endings["##" + word[-size:]] += count
    pieces.update(piece for counter in (beginnings, endings) for piece, n in counter.items() if n >= 3)
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(pieces)


def train_tokenizer(texts, directory: Path) -> BertTokenizerFast:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(build_vocab(texts)) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(str(directory / "vocab.txt"), do_lower_case=False,
                                  model_max_length=300)
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def evaluate(model, tokenizer, texts, labels):
    model.eval()
    with torch.inference_mode():
        inputs = tokenizer(texts, padding=True, truncation=True, max_length=MAX_SEQ_LENGTH,
                           return_tensors="pt")
        logits = model(**inputs).logits
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels)).item()
        accuracy = (logits.argmax(-1) == torch.tensor(labels)).float().mean().item()
    model.train()
    return loss, accuracy


def main() -> int:
    random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    train_texts, train_labels = read_corpus("ratings_train.txt")
    test_texts, test_labels = read_corpus("ratings_test.txt")
    pretrained_dir = MODEL_DIR / "pretrained"
    checkpoint_dir = MODEL_DIR / "checkpoint-doccls"
    for directory in (pretrained_dir, checkpoint_dir):  # the pair demo model lives beside them
        shutil.rmtree(directory, ignore_errors=True)
    tokenizer = train_tokenizer(train_texts, pretrained_dir)

    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128, max_position_embeddings=300,
                        hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)
    config.save_pretrained(str(pretrained_dir))  # the "pretrained" config: no class count, like kcbert
    config.num_labels = 2
    model = BertForSequenceClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.95)  # as ratsnlp

    best = None
    global_step = 0
    order = list(range(len(train_texts)))
    for epoch in range(EPOCHS):
        random.shuffle(order)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            inputs = tokenizer([train_texts[i] for i in batch], padding=True, truncation=True,
                               max_length=MAX_SEQ_LENGTH, return_tensors="pt")
            loss = model(**inputs, labels=torch.tensor([train_labels[i] for i in batch])).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            global_step += 1
        scheduler.step()
        val_loss, accuracy = evaluate(model, tokenizer, test_texts, test_labels)
        if best is None or val_loss < best[0]:
            path = checkpoint_dir / checkpoint_filename(epoch, val_loss)
            best = (val_loss, accuracy, epoch, lightning_checkpoint(
                model, optimizer, scheduler, epoch=epoch, global_step=global_step,
                val_loss=val_loss, filename=path.name), path)
        print(f"epoch {epoch:2d}  val_loss {val_loss:.4f}  held-out accuracy {accuracy:.3f}")

    val_loss, accuracy, epoch, checkpoint, path = best
    save_lightning_checkpoint(checkpoint, path)
    model.load_state_dict({k[len("model."):]: v for k, v in checkpoint["state_dict"].items()})
    print(f"saved {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"held-out accuracy {accuracy:.3f} on {len(test_texts)} sentences (epoch {epoch})")
    texts, expected = zip(*OBVIOUS)
    _, obvious_accuracy = evaluate(model, tokenizer, list(texts), list(expected))
    print(f"obvious sentences right: {obvious_accuracy:.0%}")
    return 0 if obvious_accuracy == 1.0 and accuracy >= 0.8 else 1


if __name__ == "__main__":
    sys.exit(main())
