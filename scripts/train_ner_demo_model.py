"""Train demo_app's bundled NER demo model: a tiny Korean token-classification BERT, saved as
ratsnlp saves one.

    python scripts/build_ner_corpus.py          # the corpus (data/demo_ner)
    python scripts/train_ner_demo_model.py      # a couple of minutes on one CPU core

Writes, next to the other demo models in ``demo_app/demo_model/``:
  pretrained-ner/   config.json, vocab.txt, tokenizer files; the sentiment demo model's
                    architecture with a vocabulary counted from the NER corpus
  checkpoint-ner/   epoch=N-val_loss=X.XX.ckpt, in the layout ratsnlp's trainer writes for
                    nlpbook's NER tutorial (``state_dict`` with ``model.`` keys, a
                    ``BertForTokenClassification``: no pooler, ``model.classifier.weight`` of
                    shape [number of tags, hidden]), and label_map.txt as ``NERCorpus.get_labels``
                    writes it: [CLS] [SEP] [PAD] [MASK] O, then B- and I- tags in the order the
                    tags first appear in train.txt

A sentence is encoded as ratsnlp's ``NERDataset`` does (``ratsnlp/nlpbook/ner/corpus.py``):
``tokenizer.tokenize(sentence)``, cut to max_seq_length - 2 word pieces, ``[CLS] ... [SEP]``,
padded to max_seq_length (64, as the book); the labels come from ``_process_target_sentence``,
ported below line for line: the first word piece that starts inside an entity is B-, the rest
I-, everything else O, and [CLS] / [SEP] / [PAD] get those labels (ratsnlp trains on them: the
loss covers every position, padding included). Seeded and single-threaded, so a re-run writes
the same checkpoint. Prints held-out token accuracy and entity F1 and checks obvious sentences.
"""

from __future__ import annotations

import random
import re
import shutil
import sys
from pathlib import Path

import torch
from lightning_format import checkpoint_filename, lightning_checkpoint, save_lightning_checkpoint
from train_demo_model import train_tokenizer  # (the deterministic WordPiece vocab)
from transformers import BertConfig, BertForTokenClassification

ROOT = Path(__file__).resolve().parent.parent

CORPUS_DIR = ROOT / "data" / "demo_ner"
MODEL_DIR = ROOT / "demo_app" / "demo_model"
PRETRAINED_DIR = MODEL_DIR / "pretrained-ner"
CHECKPOINT_DIR = MODEL_DIR / "checkpoint-ner"
SEED = 7
EPOCHS = 30
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
MAX_SEQ_LENGTH = 64  # as nlpbook's NER tutorial
SPECIAL_LABELS = ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "O"]  # ratsnlp's NERCorpus.get_labels
TAG = re.compile("<(.+?):[A-Z]{3}>")  # ratsnlp's regex_ner
OBVIOUS = [("이순신은 조선 중기의 무신이다", {("이순신", "PER"), ("조선", "LOC")}),
           ("2019년 5월 서울에서 삼성전자 직원 3명을 만났다",
            {("2019년5월", "DAT"), ("서울", "LOC"), ("삼성전자", "ORG"), ("3명", "NOH")}),
           ("김민준은 오후 3시에 부산역에서 친구를 만났다",
            {("김민준", "PER"), ("오후3시", "TIM"), ("부산", "LOC")})]
SHOWN = [("한국은행은 기준금리를 0.5% 내렸다", {("한국은행", "ORG"), ("0.5%", "PNT")})]  # not required


def read_corpus(name: str):
    """(sentence, tagged sentence) pairs, split as NERCorpus.get_examples splits them (the
    tagged half keeps its line end, as there)."""
    lines = open(CORPUS_DIR / name, "r", encoding="utf-8").readlines()
    return [tuple(line.split("\u241e")) for line in lines]


def label_list() -> list:
    """NERCorpus.get_labels: tags in the order they first appear in train.txt."""
    tags = []
    for _, tagged in read_corpus("train.txt"):
        for match in TAG.finditer(tagged.strip()):
            if match[0][-4:-1] not in tags:
                tags.append(match[0][-4:-1])
    return SPECIAL_LABELS + [f"B-{tag}" for tag in tags] + [f"I-{tag}" for tag in tags]


def vocab_texts(rows) -> list:
    """The training sentences with every entity set off by spaces ("<이순신:PER>은" counts as
    "이순신 은"), so the vocabulary has 이순신 and ##은 rather than the whole word 이순신은 and
    word pieces end where entities end."""
    return [TAG.sub(lambda m: f" {m.group(1)} ", tagged.strip()) for _, tagged in rows]


def basic_tokens(tokenizer, text: str) -> list:
    """What BertTokenizer's basic_tokenizer (transformers 4) gives: the fast tokenizer's
    normalizer and pre-tokenizer are the same steps."""
    backend = tokenizer.backend_tokenizer
    return [word for word, _ in backend.pre_tokenizer.pre_tokenize_str(
        backend.normalizer.normalize_str(text))]


def process_target_sentence(tokens, origin_sentence, target_sentence, max_length, label_map,
                            tokenizer) -> list:
    """ratsnlp's ``_process_target_sentence`` (ner/corpus.py), the same steps."""
    if "[UNK]" in tokens:  # the word that became [UNK] counts with its own characters
        processed_tokens = []
        for basic_token in basic_tokens(tokenizer, origin_sentence):
            current_tokens = tokenizer.tokenize(basic_token)
            if "[UNK]" in current_tokens:
                processed_tokens.append(basic_token)
            else:
                processed_tokens.extend(current_tokens)
    else:
        processed_tokens = tokens

    # Character positions with the spaces taken out: where each word piece starts...
    prefix_sum_of_token_start_index, total = [0], 0
    for token in processed_tokens:
        total += len(token) - 2 if token.startswith("##") else len(token)
        prefix_sum_of_token_start_index.append(total)
    # ... and where each entity starts and ends (each tag's <, :, XXX and > are 6 characters).
    spans, tags = [], []
    for count, match in enumerate(TAG.finditer(target_sentence.replace(" ", ""))):
        tags.append(match[0][-4:-1])
        spans.append((match.start() - 6 * count, match.end() - 6 - 6 * count))

    label_sequence, entity_index, is_entity_still_b = [], 0, True
    for token, index in zip(processed_tokens, prefix_sum_of_token_start_index):
        if entity_index < len(spans):
            start, end = spans[entity_index]
            if end < index:  # past this entity: on to the next (an entity that starts exactly
                is_entity_still_b = True  # where the previous one ends is missed; see the corpus)
                entity_index = entity_index + 1 if entity_index + 1 < len(spans) else entity_index
                start, end = spans[entity_index]
            if start <= index < end:
                label_sequence.append(("B-" if is_entity_still_b else "I-") + tags[entity_index])
                is_entity_still_b = False
            else:
                is_entity_still_b = True
                label_sequence.append("O")
        else:
            label_sequence.append("O")

    label_sequence = ["[CLS]"] + label_sequence[:max_length - 2] + ["[SEP]"]
    label_sequence += ["[PAD]"] * max(max_length - len(label_sequence), 0)
    return [label_map[label] for label in label_sequence]


def encode(tokenizer, rows, labels: list):
    """input_ids / attention_mask / token_type_ids / labels tensors, as NERDataset's features."""
    label_map = {label: i for i, label in enumerate(labels)}
    input_ids, attention_mask, label_ids = [], [], []
    for sentence, tagged in rows:
        tokens = tokenizer.tokenize(sentence)
        ids = ([tokenizer.cls_token_id] + tokenizer.convert_tokens_to_ids(tokens[:MAX_SEQ_LENGTH - 2])
               + [tokenizer.sep_token_id])
        pad = MAX_SEQ_LENGTH - len(ids)
        input_ids.append(ids + [tokenizer.pad_token_id] * pad)
        attention_mask.append([1] * len(ids) + [0] * pad)
        label_ids.append(process_target_sentence(tokens, sentence, tagged, MAX_SEQ_LENGTH,
                                                 label_map, tokenizer))
    input_ids = torch.tensor(input_ids)
    return {"input_ids": input_ids, "attention_mask": torch.tensor(attention_mask),
            "token_type_ids": torch.zeros_like(input_ids), "labels": torch.tensor(label_ids)}


def entities(pieces, tags) -> set:
    """(text without spaces, type) of each B-/I- run of word pieces."""
    found, current = [], None
    for piece, tag in zip(pieces, tags):
        text = piece[2:] if piece.startswith("##") else piece
        if tag.startswith("I-") and current is not None and current[1] == tag[2:]:
            current[0] += text
            continue
        if current is not None:
            found.append(tuple(current))
            current = None
        if tag[:2] in ("B-", "I-"):
            current = [text, tag[2:]]
    if current is not None:
        found.append(tuple(current))
    return set(found)


def evaluate(model, data, labels):
    """(loss over every position as ratsnlp's validation_step, word-piece accuracy, entity F1)."""
    model.eval()
    with torch.inference_mode():
        logits = model(**{k: v for k, v in data.items() if k != "labels"}).logits
    model.train()
    gold = data["labels"]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(labels)), gold.reshape(-1)).item()
    preds = logits.argmax(-1)
    words = gold >= SPECIAL_LABELS.index("O")  # real word pieces, not [CLS] [SEP] [PAD]
    accuracy = (preds[words] == gold[words]).float().mean().item()
    tp = n_pred = n_gold = 0
    for row_pred, row_gold, row_words in zip(preds, gold, words):
        spans_pred = spans(row_pred[row_words].tolist(), labels)
        spans_gold = spans(row_gold[row_words].tolist(), labels)
        tp, n_pred, n_gold = tp + len(spans_pred & spans_gold), n_pred + len(spans_pred), n_gold + len(spans_gold)
    f1 = 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 1.0
    return loss, accuracy, f1


def spans(ids, labels) -> set:
    """(start, end, type) of each entity in a label-id sequence (I- after O or another type
    starts one)."""
    found, start, kind = set(), None, None
    for i, tag in enumerate([labels[j] for j in ids] + ["O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == kind):
            found.add((start, i, kind))
            start = None
        if tag[:2] in ("B-", "I-") and start is None:
            start, kind = i, tag[2:]
    return found


def tag_sentence(model, tokenizer, sentence, labels):
    """(word pieces, predicted tags) for one sentence, padded to 64 as the book's inference_fn."""
    inputs = tokenizer([sentence], max_length=MAX_SEQ_LENGTH, padding="max_length",
                       truncation=True, return_tensors="pt")
    with torch.inference_mode():
        preds = model(**inputs).logits[0].argmax(-1).tolist()
    tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    kept = [(t, labels[p]) for t, p in zip(tokens, preds) if t not in ("[CLS]", "[SEP]", "[PAD]")]
    return [t for t, _ in kept], [p for _, p in kept]


def main() -> int:
    random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    train_rows, val_rows = read_corpus("train.txt"), read_corpus("val.txt")
    labels = label_list()
    shutil.rmtree(PRETRAINED_DIR, ignore_errors=True)
    shutil.rmtree(CHECKPOINT_DIR, ignore_errors=True)
    tokenizer = train_tokenizer(vocab_texts(train_rows), PRETRAINED_DIR)
    CHECKPOINT_DIR.mkdir(parents=True)
    with open(CHECKPOINT_DIR / "label_map.txt", "w", encoding="utf-8") as f:  # as NERCorpus writes it
        for tag in labels:
            f.writelines(tag + "\n")
    train, val = encode(tokenizer, train_rows, labels), encode(tokenizer, val_rows, labels)

    # The sentiment demo model's architecture (demo_model/pretrained/config.json).
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128, max_position_embeddings=300,
                        hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)
    config.save_pretrained(str(PRETRAINED_DIR))  # no tag count, like kcbert's config
    config.num_labels = len(labels)
    model = BertForTokenClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.95)

    best = None
    global_step = 0
    order = list(range(len(train_rows)))
    for epoch in range(EPOCHS):
        random.shuffle(order)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            loss = model(**{k: v[batch] for k, v in train.items()}).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            global_step += 1
        scheduler.step()
        val_loss, accuracy, f1 = evaluate(model, val, labels)
        if best is None or val_loss < best[0]:
            path = CHECKPOINT_DIR / checkpoint_filename(epoch, val_loss)
            checkpoint = lightning_checkpoint(
                model, optimizer, scheduler, epoch=epoch, global_step=global_step,
                val_loss=val_loss, filename=path.name, dirpath=CHECKPOINT_DIR.name)
            best = (val_loss, accuracy, f1, epoch, checkpoint, path)
        print(f"epoch {epoch:2d}  val_loss {val_loss:.4f}  held-out token accuracy {accuracy:.3f}"
              f"  entity F1 {f1:.3f}")

    val_loss, accuracy, f1, epoch, checkpoint, path = best
    save_lightning_checkpoint(checkpoint, path)
    model.load_state_dict({k[len("model."):]: v for k, v in checkpoint["state_dict"].items()})
    model.eval()
    print(f"saved {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"held-out token accuracy {accuracy:.3f}, entity F1 {f1:.3f} on {len(val_rows)} "
          f"sentences (epoch {epoch})")
    right = 0
    for sentence, expected in OBVIOUS + SHOWN:
        pieces, tags = tag_sentence(model, tokenizer, sentence, labels)
        found = entities(pieces, tags)
        right += found == expected and (sentence, expected) in OBVIOUS
        print(f"  {'ok ' if found == expected else 'BAD'} {sentence}: "
              + " ".join(f"{p}/{t}" for p, t in zip(pieces, tags)))
    print(f"obvious sentences right: {right}/{len(OBVIOUS)}")
    return 0 if right == len(OBVIOUS) and f1 >= 0.85 else 1


if __name__ == "__main__":
    sys.exit(main())
