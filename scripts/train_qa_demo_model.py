"""Train demo_app's bundled QA demo model: a tiny Korean extractive question-answering BERT, saved
as ratsnlp saves one.

    python scripts/build_qa_corpus.py           # the corpus (data/demo_qa)
    python scripts/train_qa_demo_model.py       # a few minutes on one CPU core

Writes, next to the other demo models in ``demo_app/demo_model/``:
  pretrained-qa/   config.json, vocab.txt, tokenizer files; the sentiment demo model's
                   architecture with a vocabulary counted from the QA corpus
  checkpoint-qa/   epoch=N-val_loss=X.XX.ckpt, in the layout ratsnlp's trainer writes for
                   nlpbook's QA tutorial (``state_dict`` with ``model.`` keys, a
                   ``BertForQuestionAnswering``: no pooler, ``model.qa_outputs.weight`` [2, hidden])

Question/paragraph pairs become training windows as ratsnlp's ``QADataset`` makes them
(``_squad_convert_example_to_features`` in ``ratsnlp/nlpbook/qa/corpus.py``, ported below):
the paragraph split on whitespace and each word split into word pieces, the question cut to
max_query_length (32) word pieces, ``[CLS] question [SEP] window [SEP]`` padded to
max_seq_length (128), windows doc_stride (64) word pieces apart, the answer's first and last
word piece as start/end positions, or [CLS] (0) for both in a window without the whole answer.
Seeded and single-threaded, so a re-run writes the same checkpoint. Prints held-out exact match
and F1, both the way the book's ``inference_fn`` answers (first window only, start and end
argmax'd apart) and with the best span over every window, and checks obvious questions.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

import torch
from lightning_format import checkpoint_filename, lightning_checkpoint, save_lightning_checkpoint
from train_demo_model import build_vocab  # (the deterministic WordPiece vocab)
from transformers import BertConfig, BertForQuestionAnswering, BertTokenizerFast

ROOT = Path(__file__).resolve().parent.parent

CORPUS_DIR = ROOT / "data" / "demo_qa"
MODEL_DIR = ROOT / "demo_app" / "demo_model"
PRETRAINED_DIR = MODEL_DIR / "pretrained-qa"
CHECKPOINT_DIR = MODEL_DIR / "checkpoint-qa"
SEED = 7
EPOCHS = 20
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
MAX_SEQ_LENGTH = 128  # ratsnlp's defaults and the book's
MAX_QUERY_LENGTH = 32
DOC_STRIDE = 64
MAX_ANSWER_TOKENS = 16  # for the best-span evaluation only
OBVIOUS = [("김민준은 어디에서 태어났나요?",
            "소설가 김민준은 1975년 3월 2일에 부산에서 태어났다. 그는 서울대학교에서 국문학을 "
            "공부했다. 이 이야기는 교과서에도 실려 있다.", "부산"),
           ("한빛전자의 본사는 어디에 있나?",
            "한빛전자는 1988년에 이영희가 세운 회사다. 본사는 수원에 있으며 직원은 약 3000명이다. "
            "자세한 내용은 관련 기록에 남아 있다.", "수원"),
           ("한빛전자를 세운 사람은?",
            "한빛전자는 1988년에 이영희가 세운 회사다. 본사는 수원에 있으며 직원은 약 3000명이다. "
            "자세한 내용은 관련 기록에 남아 있다.", "이영희")]


def read_corpus(name: str) -> list:
    """(question, context, answer, answer_start) as KorQuADV1Corpus.get_examples reads them
    (an answer at offset 0 is skipped there, and so here)."""
    data = json.loads((CORPUS_DIR / name).read_text(encoding="utf-8"))["data"]
    return [(qa["question"], paragraph["context"], answer["text"], answer["answer_start"])
            for entry in data for paragraph in entry["paragraphs"] for qa in paragraph["qas"]
            for answer in qa["answers"]
            if qa["question"] and answer["text"] and paragraph["context"] and answer["answer_start"]]


def vocab_texts(examples) -> list:
    """Paragraphs and questions, every word that starts with an answer's word cut after it
    ("부산에서" counts as "부산 에서"), so that word pieces end where answers end."""
    answer_words = {word for _, _, answer, _ in examples for word in answer.split()
                    if not word.isdigit()}

    def cut(word: str) -> str:
        for size in range(len(word) - 1, 0, -1):
            if word[:size] in answer_words:
                return word[:size] + " " + word[size:]
        return word

    texts = sorted({context for _, context, _, _ in examples}) + [q for q, _, _, _ in examples]
    return [" ".join(cut(word) for word in text.split()) for text in texts]


def train_tokenizer(texts, directory: Path) -> BertTokenizerFast:
    """train_demo_model's tokenizer, less every piece with a digit in it but the digits themselves
    ("1935년" is 1 ##9 ##3 ##5 ##년): numbers are answers here, and whole numbers as word pieces
    would not carry over to unseen ones (and would double the vocabulary)."""
    vocab = [piece for piece in build_vocab(texts)
             if not (re.search(r"\d", piece) and len(piece.lstrip("#")) > 1)]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(str(directory / "vocab.txt"), do_lower_case=False,
                                  model_max_length=300)
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def _improve_answer_span(doc_tokens, input_start, input_end, tokenizer, orig_answer_text):
    tok_answer_text = " ".join(tokenizer.tokenize(orig_answer_text))
    for new_start in range(input_start, input_end + 1):
        for new_end in range(input_end, new_start - 1, -1):
            if " ".join(doc_tokens[new_start:new_end + 1]) == tok_answer_text:
                return new_start, new_end
    return input_start, input_end


def features(tokenizer, question, context, answer=None, answer_start=None):
    """ratsnlp's ``_squad_convert_example_to_features``: a list of (input_ids, token_type_ids,
    attention_mask, start_position, end_position, window start, window length), one per window
    (with no answer given, the windows alone, positions 0)."""
    if answer is None:
        answer, answer_start = context.split()[0], 0
    doc_tokens, char_to_word_offset, prev_is_whitespace = [], [], True
    for c in context:
        if c in " \t\r\n" or ord(c) == 0x202F:
            prev_is_whitespace = True
        else:
            if prev_is_whitespace:
                doc_tokens.append(c)
            else:
                doc_tokens[-1] += c
            prev_is_whitespace = False
        char_to_word_offset.append(len(doc_tokens) - 1)
    start_position = char_to_word_offset[answer_start]
    end_position = char_to_word_offset[min(answer_start + len(answer) - 1, len(char_to_word_offset) - 1)]
    if " ".join(doc_tokens[start_position:end_position + 1]).find(" ".join(answer.split())) == -1:
        return []

    tok_to_orig_index, orig_to_tok_index, all_doc_tokens = [], [], []
    for i, token in enumerate(doc_tokens):
        orig_to_tok_index.append(len(all_doc_tokens))
        for sub_token in tokenizer.tokenize(token):
            tok_to_orig_index.append(i)
            all_doc_tokens.append(sub_token)
    tok_start_position = orig_to_tok_index[start_position]
    if end_position < len(doc_tokens) - 1:
        tok_end_position = orig_to_tok_index[end_position + 1] - 1
    else:
        tok_end_position = len(doc_tokens) - 1  # sic (words, not word pieces): see build_qa_corpus
    tok_start_position, tok_end_position = _improve_answer_span(
        all_doc_tokens, tok_start_position, tok_end_position, tokenizer, answer)

    query = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(question))[:MAX_QUERY_LENGTH]
    window = MAX_SEQ_LENGTH - len(query) - 3  # [CLS] query [SEP] ... [SEP]
    doc_ids = tokenizer.convert_tokens_to_ids(all_doc_tokens)
    out, span_start = [], 0
    while True:  # transformers 4's overflowing-token loop comes to windows DOC_STRIDE apart
        length = min(len(doc_ids) - span_start, window)
        ids = ([tokenizer.cls_token_id] + query + [tokenizer.sep_token_id]
               + doc_ids[span_start:span_start + length] + [tokenizer.sep_token_id])
        types = [0] * (len(query) + 2) + [1] * (length + 1)
        pad = MAX_SEQ_LENGTH - len(ids)
        if tok_start_position >= span_start and tok_end_position <= span_start + length - 1:
            start = tok_start_position - span_start + len(query) + 2
            end = tok_end_position - span_start + len(query) + 2
        else:
            start = end = 0  # the [CLS] token
        out.append((ids + [0] * pad, types + [0] * pad, [1] * len(ids) + [0] * pad, start, end,
                    span_start, length))
        if span_start + window >= len(doc_ids):
            break
        span_start += DOC_STRIDE
    return out


def tensors(feature_lists):
    rows = [f for fs in feature_lists for f in fs]
    return {"input_ids": torch.tensor([r[0] for r in rows]),
            "token_type_ids": torch.tensor([r[1] for r in rows]),
            "attention_mask": torch.tensor([r[2] for r in rows]),
            "start_positions": torch.tensor([r[3] for r in rows]),
            "end_positions": torch.tensor([r[4] for r in rows])}


def squeeze(text: str) -> str:
    return "".join(text.split())


def scores(prediction: str, answer: str) -> tuple:
    """(exact match, character F1), spaces ignored (as KorQuAD's evaluation compares)."""
    prediction, answer = squeeze(prediction), squeeze(answer)
    common = sum((Counter(prediction) & Counter(answer)).values())
    if not common:
        return float(prediction == answer), 0.0
    precision, recall = common / len(prediction), common / len(answer)
    return float(prediction == answer), 2 * precision * recall / (precision + recall)


def book_answer(model, tokenizer, question, context) -> str:
    """The book's inference_fn: the first window only, start and end each argmax'd."""
    query = tokenizer.encode(question, add_special_tokens=False, truncation=True,
                             max_length=MAX_QUERY_LENGTH)
    inputs = _book_inputs(tokenizer, query, context)
    with torch.inference_mode():
        outputs = model(**{k: torch.tensor([v]) for k, v in inputs.items()})
    start, end = outputs.start_logits.argmax(-1).item(), outputs.end_logits.argmax(-1).item()
    return tokenizer.decode(inputs["input_ids"][start:end + 1])


def _book_inputs(tokenizer, query, context) -> dict:
    """``tokenizer.encode_plus(text=query_ids, text_pair=context, truncation="only_second",
    padding="max_length", max_length=128)`` as transformers 4 computes it."""
    doc = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(context))
    doc = doc[:MAX_SEQ_LENGTH - len(query) - 3]
    ids = [tokenizer.cls_token_id] + query + [tokenizer.sep_token_id] + doc + [tokenizer.sep_token_id]
    pad = MAX_SEQ_LENGTH - len(ids)
    return {"input_ids": ids + [0] * pad,
            "token_type_ids": [0] * (len(query) + 2) + [1] * (len(doc) + 1) + [0] * pad,
            "attention_mask": [1] * len(ids) + [0] * pad}


def best_span_answer(model, tokenizer, question, context) -> str:
    """The highest start + end logit over every window (start <= end, inside the paragraph)."""
    windows = features(tokenizer, question, context)
    best = None
    with torch.inference_mode():
        batch = tensors([windows])
        out = model(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                    attention_mask=batch["attention_mask"])
    for w, (ids, types, _, _, _, _, length) in enumerate(windows):
        first = types.index(1)
        starts, ends = out.start_logits[w].tolist(), out.end_logits[w].tolist()
        for s in range(first, first + length):
            for e in range(s, min(s + MAX_ANSWER_TOKENS, first + length)):
                if best is None or starts[s] + ends[e] > best[0]:
                    best = (starts[s] + ends[e], ids[s:e + 1])
    return tokenizer.decode(best[1])


def evaluate(model, tokenizer, examples, data):
    model.eval()
    with torch.inference_mode():
        losses = [model(**{k: v[i:i + 256] for k, v in data.items()}).loss.item() * len(data["input_ids"][i:i + 256])
                  for i in range(0, len(data["input_ids"]), 256)]
    model.train()
    return sum(losses) / len(data["input_ids"])


def answer_scores(model, tokenizer, examples, answer_fn):
    model.eval()
    results = [scores(answer_fn(model, tokenizer, q, c), a) for q, c, a, _ in examples]
    model.train()
    return (sum(r[0] for r in results) / len(results), sum(r[1] for r in results) / len(results))


def main() -> int:
    random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    train_examples = read_corpus("KorQuAD_v1.0_train.json")
    dev_examples = read_corpus("KorQuAD_v1.0_dev.json")
    shutil.rmtree(PRETRAINED_DIR, ignore_errors=True)
    shutil.rmtree(CHECKPOINT_DIR, ignore_errors=True)
    tokenizer = train_tokenizer(vocab_texts(train_examples), PRETRAINED_DIR)
    train = tensors([features(tokenizer, *example) for example in train_examples])
    dev = tensors([features(tokenizer, *example) for example in dev_examples])
    long = sum(len(tokenizer.tokenize(c)) > MAX_SEQ_LENGTH - 3 - 16 for c in {e[1] for e in train_examples})
    print(f"{len(train_examples)} training questions -> {len(train['input_ids'])} windows, "
          f"{len(dev_examples)} dev questions -> {len(dev['input_ids'])} windows; "
          f"{long} training paragraphs longer than one window; "
          f"{(train['start_positions'] == 0).sum().item()} training windows without their answer")

    # The sentiment demo model's architecture (demo_model/pretrained/config.json).
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128, max_position_embeddings=300,
                        hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)
    config.save_pretrained(str(PRETRAINED_DIR))
    model = BertForQuestionAnswering(config)  # num_labels 2: start and end
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.95)

    best = None
    global_step = 0
    order = list(range(len(train["input_ids"])))
    for epoch in range(EPOCHS):
        random.shuffle(order)
        train_loss = 0.0
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            loss = model(**{k: v[batch] for k, v in train.items()}).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            global_step += 1
            train_loss += loss.item() * len(batch)
        scheduler.step()
        val_loss = evaluate(model, tokenizer, dev_examples, dev)
        if best is None or val_loss < best[0]:
            path = CHECKPOINT_DIR / checkpoint_filename(epoch, val_loss)
            checkpoint = lightning_checkpoint(
                model, optimizer, scheduler, epoch=epoch, global_step=global_step,
                val_loss=val_loss, filename=path.name, dirpath=CHECKPOINT_DIR.name)
            best = (val_loss, epoch, checkpoint, path)
        print(f"epoch {epoch:2d}  train loss {train_loss / len(order):.4f}  val_loss {val_loss:.4f}",
              flush=True)

    val_loss, epoch, checkpoint, path = best
    save_lightning_checkpoint(checkpoint, path)
    model.load_state_dict({k[len("model."):]: v for k, v in checkpoint["state_dict"].items()})
    print(f"saved {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.1f} MB), epoch {epoch}")
    book_em, book_f1 = answer_scores(model, tokenizer, dev_examples, book_answer)
    span_em, span_f1 = answer_scores(model, tokenizer, dev_examples, best_span_answer)
    print(f"held-out ({len(dev_examples)} questions): the book's inference_fn EM {book_em:.3f} "
          f"F1 {book_f1:.3f}; best span over all windows EM {span_em:.3f} F1 {span_f1:.3f}")
    right = 0
    model.eval()
    for question, context, expected in OBVIOUS:
        answer = book_answer(model, tokenizer, question, context)
        right += squeeze(answer) == squeeze(expected)
        print(f"  {'ok ' if squeeze(answer) == squeeze(expected) else 'BAD'} {question} -> {answer!r}")
    print(f"obvious questions right: {right}/{len(OBVIOUS)}")
    return 0 if right == len(OBVIOUS) and span_em >= 0.6 else 1


if __name__ == "__main__":
    sys.exit(main())
