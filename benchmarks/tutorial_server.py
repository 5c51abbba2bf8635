"""The nlpbook / ratsnlp deploy recipe, reproduced as the benchmark's baseline.

What the tutorial does (ratsnlp 1.0.53 `get_web_service_app` and the deploy notebook), without
importing ratsnlp: build BertForSequenceClassification from the pretrained config (random init),
torch.load the whole Lightning checkpoint, copy `state_dict` in, then answer POST /api one
sentence at a time, padded to max_seq_length, from Flask's threaded development server.

    python benchmarks/tutorial_server.py PRETRAINED_DIR CHECKPOINT_FILE PORT \
        [--once] [--pair | --ner | --qa | --generation]

--once loads, predicts one input, prints the peak memory and exits (the cold-start figure).
The other flags pick one of the book's other deploy chapters, each as its notebook writes it:
--pair  sentence pairs: pad to 64, ``inference_fn(premise, hypothesis)``, ``POST /api`` with
        ``{"premise", "hypothesis"}``.
--ner   named entities: ``BertForTokenClassification``, tags from ``label_map.txt`` beside the
        checkpoint, pad to 64, ``inference_fn(sentence)``, ``POST /api`` with a JSON string.
--qa    question answering: ``BertForQuestionAnswering``, question cut at 32 tokens, pad to 128
        (longer contexts are cut), independent start / end argmax, ``POST /api`` with
        ``{"question", "context"}``.
--generation  sentence generation: ``GPT2LMHeadModel``, ``PreTrainedTokenizerFast(eos_token="</s>")``,
        the book's ``inference_fn(prompt, min_length, ...)`` calling ``model.generate``, ``POST /api``
        with ``{"prompt", "min_length", "max_length", "top_p", "top_k", "repetition_penalty",
        "no_repeat_ngram_size", "temperature"}``, the whole text in one answer.
"""

import sys
import time

started = time.perf_counter()

import torch  # noqa: E402
from flask import Flask, jsonify, request  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertTokenizer,
)


def load_model(pretrained, checkpoint_path, model_class=BertForSequenceClassification):
    """The deploy notebooks' loading, as written: tokenizer, config, random init, state_dict."""
    tokenizer = BertTokenizer.from_pretrained(pretrained, do_lower_case=False)
    fine_tuned = torch.load(checkpoint_path, map_location=torch.device("cpu"), weights_only=True)
    if model_class is BertForQuestionAnswering:  # the QA notebook passes no num_labels
        config = BertConfig.from_pretrained(pretrained)
    else:
        config = BertConfig.from_pretrained(
            pretrained, num_labels=fine_tuned["state_dict"]["model.classifier.bias"].shape.numel())
    model = model_class(config)
    model.load_state_dict({k.replace("model.", ""): v for k, v in fine_tuned["state_dict"].items()})
    model.eval()
    return tokenizer, model


def load(pretrained, checkpoint_path, max_seq_length=128):
    tokenizer, model = load_model(pretrained, checkpoint_path)

    def inference_fn(sentence):
        inputs = tokenizer([sentence], max_length=max_seq_length, padding="max_length", truncation=True)
        with torch.no_grad():
            outputs = model(**{k: torch.tensor(v) for k, v in inputs.items()})
            prob = outputs.logits.softmax(dim=1)
            positive_prob = round(prob[0][1].item(), 4)
            negative_prob = round(prob[0][0].item(), 4)
            pred = "긍정 (positive)" if torch.argmax(prob) == 1 else "부정 (negative)"
        return {
            "sentence": sentence,
            "prediction": pred,
            "positive_data": f"긍정 {positive_prob}",
            "negative_data": f"부정 {negative_prob}",
            "positive_width": f"{positive_prob * 100}%",
            "negative_width": f"{negative_prob * 100}%",
        }

    return inference_fn


def load_pair(pretrained, checkpoint_path, max_seq_length=64):
    """The pair-classification deploy notebook's inference_fn, as written."""
    tokenizer, model = load_model(pretrained, checkpoint_path)

    def inference_fn(premise, hypothesis):
        inputs = tokenizer([(premise, hypothesis)], max_length=max_seq_length, padding="max_length", truncation=True)
        with torch.no_grad():
            outputs = model(**{k: torch.tensor(v) for k, v in inputs.items()})
            prob = outputs.logits.softmax(dim=1)
            entailment_prob = round(prob[0][0].item(), 2)
            contradiction_prob = round(prob[0][1].item(), 2)
            neutral_prob = round(prob[0][2].item(), 2)
            if torch.argmax(prob) == 0:
                pred = "참 (entailment)"
            elif torch.argmax(prob) == 1:
                pred = "거짓 (contradiction)"
            else:
                pred = "중립 (neutral)"
        return {
            "premise": premise, "hypothesis": hypothesis, "prediction": pred,
            "entailment_data": f"참 {entailment_prob}", "contradiction_data": f"거짓 {contradiction_prob}",
            "neutral_data": f"중립 {neutral_prob}", "entailment_width": f"{entailment_prob * 100}%",
            "contradiction_width": f"{contradiction_prob * 100}%", "neutral_width": f"{neutral_prob * 100}%",
        }

    return inference_fn


BOOK_TAG_NAMES = {"PER": "인명", "LOC": "지명", "ORG": "기관명", "DAT": "날짜", "TIM": "시간", "DUR": "기간",
                  "MNY": "통화", "PNT": "비율", "NOH": "기타 수량표현", "POH": "기타"}


def load_ner(pretrained, checkpoint_path, max_seq_length=64):
    """The NER deploy notebook's id_to_label and inference_fn, as written."""
    import os

    tokenizer, model = load_model(pretrained, checkpoint_path, BertForTokenClassification)
    label_map = os.path.join(os.path.dirname(checkpoint_path), "label_map.txt")
    labels = [label.strip() for label in open(label_map).readlines()]
    id_to_label = {}
    for idx, label in enumerate(labels):  # the book's if/elif chain over the tag names
        id_to_label[idx] = next((name for tag, name in BOOK_TAG_NAMES.items() if tag in label), label)

    def inference_fn(sentence):
        inputs = tokenizer([sentence], max_length=max_seq_length, padding="max_length", truncation=True)
        with torch.no_grad():
            outputs = model(**{k: torch.tensor(v) for k, v in inputs.items()})
            probs = outputs.logits[0].softmax(dim=1)
            top_probs, preds = torch.topk(probs, dim=1, k=1)
            tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
            predicted_tags = [id_to_label[pred.item()] for pred in preds]
            result = []
            for token, predicted_tag, top_prob in zip(tokens, predicted_tags, top_probs):
                if token not in [tokenizer.pad_token, tokenizer.cls_token, tokenizer.sep_token]:
                    result.append({"token": token, "predicted_tag": predicted_tag,
                                   "top_prob": str(round(top_prob[0].item(), 4))})
        return {"sentence": sentence, "result": result}

    return inference_fn


def load_qa(pretrained, checkpoint_path, max_seq_length=128, max_query_length=32):
    """The QA deploy notebook's inference_fn, as written."""
    tokenizer, model = load_model(pretrained, checkpoint_path, BertForQuestionAnswering)

    def inference_fn(question, context):
        if question and context:
            truncated_query = tokenizer.encode(question, add_special_tokens=False, truncation=True,
                                               max_length=max_query_length)
            inputs = encode_plus(tokenizer, truncated_query, context, max_seq_length)
            with torch.no_grad():
                outputs = model(**{k: torch.tensor([v]) for k, v in inputs.items()})
                start_pred = outputs.start_logits.argmax(dim=-1).item()
                end_pred = outputs.end_logits.argmax(dim=-1).item()
                pred_text = tokenizer.decode(inputs["input_ids"][start_pred:end_pred + 1])
        else:
            pred_text = ""
        return {"question": question, "context": context, "answer": pred_text}

    return inference_fn


GENERATION_FIELDS = ("prompt", "min_length", "max_length", "top_p", "top_k", "repetition_penalty",
                     "no_repeat_ngram_size", "temperature")


def load_generation(pretrained, checkpoint_path):
    """The generation deploy notebook's loading and inference_fn, as written."""
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    model = GPT2LMHeadModel(GPT2Config.from_pretrained(pretrained))
    fine_tuned = torch.load(checkpoint_path, map_location=torch.device("cpu"), weights_only=True)
    model.load_state_dict({k.replace("model.", ""): v for k, v in fine_tuned["state_dict"].items()})
    model.eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(pretrained, eos_token="</s>")

    def inference_fn(prompt, min_length=10, max_length=20, top_p=1.0, top_k=50, repetition_penalty=1.0,
                     no_repeat_ngram_size=0, temperature=1.0):
        try:
            input_ids = tokenizer.encode(prompt, return_tensors="pt")
            with torch.no_grad():
                generated_ids = model.generate(
                    input_ids, do_sample=True, top_p=float(top_p), top_k=int(top_k), min_length=int(min_length),
                    max_length=int(max_length), repetition_penalty=float(repetition_penalty),
                    no_repeat_ngram_size=int(no_repeat_ngram_size), temperature=float(temperature))
            generated_sentence = tokenizer.decode([el.item() for el in generated_ids[0]])
        except:  # noqa: E722 - the book's
            generated_sentence = "처리 중 오류가 발생했습니다."
        return {"result": generated_sentence}

    return inference_fn


def encode_plus(tokenizer, query_ids, context, max_seq_length):
    """What the book's ``tokenizer.encode_plus(text=query_ids, text_pair=context,
    truncation="only_second", padding="max_length", ...)`` returned; transformers 5 removed
    encode_plus, so it is spelled out: [CLS] query [SEP] context (cut to fit) [SEP], padded."""
    context_ids = tokenizer.encode(context, add_special_tokens=False)
    context_ids = context_ids[:max_seq_length - len(query_ids) - 3]
    input_ids = [tokenizer.cls_token_id, *query_ids, tokenizer.sep_token_id, *context_ids, tokenizer.sep_token_id]
    token_type_ids = [0] * (len(query_ids) + 2) + [1] * (len(context_ids) + 1)
    padding = max_seq_length - len(input_ids)
    return {"input_ids": input_ids + [tokenizer.pad_token_id] * padding,
            "token_type_ids": token_type_ids + [0] * padding,
            "attention_mask": [1] * len(input_ids) + [0] * padding}


def main():
    pretrained, checkpoint_path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    chapter = next((flag for flag in ("--pair", "--ner", "--qa", "--generation") if flag in sys.argv), "--doccls")
    loaders = {"--doccls": load, "--pair": load_pair, "--ner": load_ner, "--qa": load_qa,
               "--generation": load_generation}
    inference_fn = loaders[chapter](pretrained, checkpoint_path)
    body_fields = {"--pair": ("premise", "hypothesis"), "--qa": ("question", "context"),
                  "--generation": GENERATION_FIELDS}.get(chapter)
    if "--once" in sys.argv:
        first = {"--pair": ["나는 밥을 먹었다", "나는 식사를 했다"],
                 "--qa": ["세종대왕은 언제 태어났나?", "세종대왕은 1397년에 태어났다."],
                 "--generation": ["긍정 아 정말"]}
        inference_fn(*first.get(chapter, ["이 영화 정말 재밌어요"]))
        peak_kb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
        print(f"cold_start_s={time.perf_counter() - started:.3f} peak_rss_mb={peak_kb / 1024:.0f}")
        return
    app = Flask(__name__)

    @app.route("/api", methods=["POST"])
    def api():
        body = request.json
        return jsonify(inference_fn(*(body[field] for field in body_fields)) if body_fields else inference_fn(body))

    app.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    main()
