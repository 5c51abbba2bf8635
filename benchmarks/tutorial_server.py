"""The nlpbook / ratsnlp deploy recipe, reproduced as the benchmark's baseline.

What the tutorial does (ratsnlp 1.0.53 `get_web_service_app` and the deploy notebook), without
importing ratsnlp: build BertForSequenceClassification from the pretrained config (random init),
torch.load the whole Lightning checkpoint, copy `state_dict` in, then answer POST /api one
sentence at a time, padded to max_seq_length, from Flask's threaded development server.

    python benchmarks/tutorial_server.py PRETRAINED_DIR CHECKPOINT_FILE PORT [--once] [--pair]

--once loads, predicts one sentence, prints the peak memory and exits (the cold-start figure).
--pair is the book's sentence-pair chapter instead: pad to 64, ``inference_fn(premise,
hypothesis)``, ``POST /api`` with ``{"premise", "hypothesis"}``.
"""

import sys
import time

started = time.perf_counter()

import torch  # noqa: E402
from flask import Flask, jsonify, request  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer  # noqa: E402


def load_model(pretrained, checkpoint_path):
    """The deploy notebooks' loading, as written: tokenizer, config, random init, state_dict."""
    tokenizer = BertTokenizer.from_pretrained(pretrained, do_lower_case=False)
    fine_tuned = torch.load(checkpoint_path, map_location=torch.device("cpu"), weights_only=True)
    config = BertConfig.from_pretrained(pretrained, num_labels=fine_tuned["state_dict"]["model.classifier.bias"].shape.numel())
    model = BertForSequenceClassification(config)
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


def main():
    pretrained, checkpoint_path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pair = "--pair" in sys.argv
    inference_fn = load_pair(pretrained, checkpoint_path) if pair else load(pretrained, checkpoint_path)
    if "--once" in sys.argv:
        inference_fn(*(["나는 밥을 먹었다", "나는 식사를 했다"] if pair else ["이 영화 정말 재밌어요"]))
        peak_kb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
        print(f"cold_start_s={time.perf_counter() - started:.3f} peak_rss_mb={peak_kb / 1024:.0f}")
        return
    app = Flask(__name__)

    @app.route("/api", methods=["POST"])
    def api():
        body = request.json
        return jsonify(inference_fn(body["premise"], body["hypothesis"]) if pair else inference_fn(body))

    app.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    main()
