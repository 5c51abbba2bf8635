"""Train demo_app's bundled sentence-generation demo model: a tiny Korean GPT-2, saved as ratsnlp
saves one.

    python scripts/train_generation_demo_model.py    # about a minute on one CPU core

Writes, next to the other demo models in ``demo_app/demo_model/``:
  pretrained-generation/  config.json (GPT2Config: 3 layers, 64 wide, 4 heads, 128 positions,
                          bos/eos/pad ids 0/1/3 as KoGPT2's) and a GPT-2-style byte-level BPE
                          tokenizer built with the tokenizers library from the review corpus
                          (tokenizer.json, tokenizer_config.json, special_tokens_map.json): what
                          ``skt/kogpt2-base-v2`` is to a real model, without weights. KoGPT2's
                          special tokens and ids: <s> 0, </s> 1, <usr> 2, <pad> 3, <sys> 4,
                          <unk> 5, <mask> 6; bos = eos = "</s>". One token per character (a space
                          and a word's first character make one): see ``syllable_merges``.
  checkpoint-generation/  epoch=N-val_loss=X.XX.ckpt, in the layout ratsnlp's GenerationTask and
                          Lightning 1.6 write for nlpbook's sentence-generation tutorial
                          (``state_dict`` with ``model.`` + GPT2LMHeadModel's keys, the
                          ``attn.bias`` / ``attn.masked_bias`` buffers that transformers 4.28 saved
                          included, so the book's deploy code loads it with strict=True)

Training examples are built as ratsnlp's ``NsmcCorpus`` + ``GenerationDataset`` build them from
NSMC (``data/demo_reviews/ratings_train.txt``, id / document / label, 0 = 부정, 1 = 긍정):
``"긍정" if label == "1" else "부정"`` + " " + document, no special token added (the tokenizer adds
none), padded to max_seq_length 32 with the *eos* token ``</s>`` (ratsnlp sets
``tokenizer.pad_token = tokenizer.eos_token``), truncated at 32, ``labels = input_ids`` (the
padding ``</s>`` included, so the model learns to end a review with ``</s>``). Unlike ratsnlp,
the all-zero ``token_type_ids`` are not fed to GPT-2 (they add ``wte[0]`` to every position in
training, and the book's deploy code passes none). As with ratsnlp under Lightning 1.6, the
learning rate stays constant (its ExponentialLR is returned under a key Lightning ignores, so
``lr_schedulers`` is empty) and the optimizer is AdamW with eps 1e-6 and no weight decay.

Seeded and single-threaded, so a re-run writes the same files, byte for byte. Prints the held-out
loss (ratings_test.txt) and greedy continuations of a few prompts, generated as the book's deploy
code does (``tokenizer.encode(prompt)``, ``model.generate``, ``tokenizer.decode``).
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import sys
from collections import Counter, OrderedDict
from pathlib import Path

import torch
from lightning_format import checkpoint_filename, lightning_checkpoint, save_lightning_checkpoint
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parent.parent

CORPUS_DIR = ROOT / "data" / "demo_reviews"
MODEL_DIR = ROOT / "demo_app" / "demo_model"
PRETRAINED_DIR = MODEL_DIR / "pretrained-generation"
CHECKPOINT_DIR = MODEL_DIR / "checkpoint-generation"
# KoGPT2's (skt/kogpt2-base-v2) first vocabulary entries, in its order: "</s>" is id 1 as in the
# book's example input_ids; bos_token_id 0, eos_token_id 1 and pad_token_id 3 as in its config.
SPECIAL_TOKENS = ["<s>", "</s>", "<usr>", "<pad>", "<sys>", "<unk>", "<mask>"]
SPECIAL_TOKENS_MAP = {"bos_token": "</s>", "eos_token": "</s>", "unk_token": "<unk>",
                      "pad_token": "<pad>", "mask_token": "<mask>"}
SEED = 7
EPOCHS = 30
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
MAX_SEQ_LENGTH = 32  # GenerationTrainArguments' default and the book's setting
PROMPTS = ["긍정 아 정말", "부정 아 정말", "긍정", "부정"]
MIN_LENGTH, MAX_LENGTH = 10, 20  # the book's inference_fn defaults


def read_examples(name: str) -> list:
    """ratsnlp's NsmcCorpus: every row but the header becomes "긍정 document" / "부정 document"."""
    with open(CORPUS_DIR / name, "r", encoding="utf-8") as f:
        lines = list(csv.reader(f, delimiter="\t", quotechar='"'))
    examples = []
    for i, (_, review_sentence, sentiment) in enumerate(lines):
        if i == 0:
            continue
        examples.append(("긍정" if sentiment == "1" else "부정") + " " + review_sentence)
    return examples


def syllable_merges(texts: list) -> list:
    """Byte-level BPE merges, counted (so the same on every run), that make one token of every
    character seen in the corpus (a Hangul syllable is 3 bytes: 2 merges) and of a space plus a
    word's first character seen at least twice, and no longer tokens: the review corpus averages
    13 characters a review, so syllable tokens give ~16 tokens a review, inside the 10-20 token
    window of the book's inference_fn defaults, as KoGPT2's longer tokens do on NSMC's longer
    reviews."""
    split = pre_tokenizers.ByteLevel(add_prefix_space=False)
    to_bytes = decoders.ByteLevel()
    chars, initials = Counter(), Counter()
    for text in texts:
        for piece, _ in split.pre_tokenize_str(text):
            word = to_bytes.decode([piece])
            symbols = [split.pre_tokenize_str(ch)[0][0] for ch in word]
            chars.update(symbol for symbol in symbols if len(symbol) > 1 and symbol != "\u0120")
            if len(symbols) > 1 and symbols[0] == "\u0120":
                initials[symbols[1]] += 1
    merges, seen = [], set()
    for symbol, _ in sorted(chars.items(), key=lambda item: (-item[1], item[0])):
        for i in range(1, len(symbol)):
            if (symbol[:i], symbol[i]) not in seen:
                seen.add((symbol[:i], symbol[i]))
                merges.append((symbol[:i], symbol[i]))
    merges += [("\u0120", symbol) for symbol, count in
               sorted(initials.items(), key=lambda item: (-item[1], item[0])) if count >= 2]
    return merges


def train_tokenizer(texts: list, directory: Path) -> PreTrainedTokenizerFast:
    """A GPT-2-style byte-level BPE (no <unk> ever needed) with KoGPT2's special tokens first."""
    merges = syllable_merges(texts)
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    for left, right in merges:
        vocab.setdefault(left + right, len(vocab))
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    data = json.loads(tokenizer.to_str())
    # The layout tokenizers 0.13 (under transformers 4.28) reads too: merges as "a b" strings
    # (byte-level symbols never hold a space), no "ignore_merges".
    data["model"].pop("ignore_merges", None)
    data["model"]["merges"] = [" ".join(m) if not isinstance(m, str) else m
                               for m in data["model"]["merges"]]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokenizer.json").write_text(
        json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    # clean_up_tokenization_spaces is written out: transformers 4.28 defaults it to True and
    # applies it, transformers 5 ignores it for BPE tokenizers; False decodes alike in both.
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 128,
              "clean_up_tokenization_spaces": False, **SPECIAL_TOKENS_MAP}
    (directory / "tokenizer_config.json").write_text(
        json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (directory / "special_tokens_map.json").write_text(
        json.dumps(SPECIAL_TOKENS_MAP, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    # As the book loads KoGPT2's: PreTrainedTokenizerFast.from_pretrained(name, eos_token="</s>").
    return PreTrainedTokenizerFast.from_pretrained(str(directory), eos_token="</s>")


def encode(tokenizer, texts: list) -> dict:
    """ratsnlp's _convert_examples_to_generation_features, padding with the eos token."""
    batch = tokenizer(texts, max_length=MAX_SEQ_LENGTH, padding="max_length", truncation=True,
                      return_tensors="pt")
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
            "labels": batch["input_ids"].clone()}


def with_legacy_buffers(state_dict: dict, config: GPT2Config) -> OrderedDict:
    """GPT2LMHeadModel's state_dict as transformers 4.28 wrote it: each attention also holds the
    persistent buffers ``bias`` (the causal mask, bool [1, 1, n_positions, n_positions]) and
    ``masked_bias`` (float32 scalar -1e4), after the block's ``ln_1`` and before ``c_attn``."""
    n = config.n_positions
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.endswith(".attn.c_attn.weight"):
            prefix = key[: -len("c_attn.weight")]
            out[prefix + "bias"] = torch.tril(torch.ones((n, n), dtype=torch.bool)).view(1, 1, n, n)
            out[prefix + "masked_bias"] = torch.tensor(-1e4)
        out[key] = value
    return out


@torch.inference_mode()
def held_out_loss(model, batch: dict) -> tuple:
    """(loss over all 31 shifted positions as ratsnlp's val_loss, loss on the review tokens and
    the first </s> only)."""
    was_training = model.training
    model.eval()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    model.train(was_training)
    targets = batch["labels"][:, 1:]
    losses = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none"
    ).view_as(targets)
    content = batch["attention_mask"].clone()  # the text and the first padding </s>
    lengths = content.sum(1)
    content[torch.arange(len(lengths)), lengths.clamp(max=MAX_SEQ_LENGTH - 1)] = 1
    content = content[:, 1:].bool()
    return losses.mean().item(), losses[content].mean().item()


def generate(model, tokenizer, prompt: str) -> tuple:
    """The book's inference_fn, greedy: encode, generate, decode (special tokens kept)."""
    input_ids = tokenizer.encode(prompt, return_tensors="pt")
    with torch.no_grad():
        generated_ids = model.generate(input_ids, do_sample=False, min_length=MIN_LENGTH,
                                       max_length=MAX_LENGTH)
    return tokenizer.decode([el.item() for el in generated_ids[0]]), generated_ids[0].tolist()


def main() -> int:
    random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    train_texts = read_examples("ratings_train.txt")
    test_texts = read_examples("ratings_test.txt")
    shutil.rmtree(PRETRAINED_DIR, ignore_errors=True)
    shutil.rmtree(CHECKPOINT_DIR, ignore_errors=True)
    tokenizer = train_tokenizer(train_texts, PRETRAINED_DIR)
    tokenizer.pad_token = tokenizer.eos_token  # as ratsnlp's GenerationDataset does

    # KoGPT2's architecture (GPT2LMHeadModel, gelu_new, tied embeddings), shrunk.
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=64, n_layer=3,
                        n_head=4, bos_token_id=0, eos_token_id=1, pad_token_id=3,
                        architectures=["GPT2LMHeadModel"])
    config.save_pretrained(str(PRETRAINED_DIR))
    model = GPT2LMHeadModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, eps=1e-6, weight_decay=0.0)

    train = encode(tokenizer, train_texts)
    test = encode(tokenizer, test_texts)
    print(f"{len(train_texts)} training examples, e.g. {train_texts[0]!r} ->",
          tokenizer.convert_ids_to_tokens(train["input_ids"][0].tolist()))
    best = None
    global_step = 0
    order = list(range(len(train_texts)))
    model.train()
    for epoch in range(EPOCHS):
        random.shuffle(order)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            loss = model(**{k: v[batch] for k, v in train.items()}).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            global_step += 1
        val_loss, content_loss = held_out_loss(model, test)
        if best is None or val_loss < best[0]:
            path = CHECKPOINT_DIR / checkpoint_filename(epoch, val_loss)
            checkpoint = lightning_checkpoint(
                model, optimizer, None, epoch=epoch, global_step=global_step,
                val_loss=val_loss, filename=path.name, dirpath=CHECKPOINT_DIR.name)
            checkpoint["state_dict"] = OrderedDict(
                ("model." + k, v) for k, v in with_legacy_buffers(
                    OrderedDict((k[len("model."):], v) for k, v in checkpoint["state_dict"].items()),
                    config).items())
            best = (val_loss, content_loss, epoch, checkpoint, path)
        print(f"epoch {epoch:2d}  val_loss {val_loss:.4f}  review-token loss {content_loss:.4f}")

    val_loss, content_loss, epoch, checkpoint, path = best
    save_lightning_checkpoint(checkpoint, path)
    state_dict = {k[len("model."):]: v for k, v in checkpoint["state_dict"].items()
                  if not k.endswith((".attn.bias", ".attn.masked_bias"))}
    model.load_state_dict(state_dict)
    model.eval()
    print(f"saved {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.2f} MB), "
          f"{sum(p.numel() for p in model.parameters())} parameters")
    print(f"held-out loss {val_loss:.4f} (review tokens {content_loss:.4f}) on "
          f"{len(test_texts)} reviews (epoch {epoch})")
    ok = True
    for prompt in PROMPTS:
        text, ids = generate(model, tokenizer, prompt)
        print(json.dumps({"prompt": prompt, "greedy": text, "ids": ids}, ensure_ascii=False))
        ok = ok and text.startswith(prompt) and "<unk>" not in text and "\ufffd" not in text
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
