"""Sentence generation (nlpbook's fifth deploy chapter: KoGPT2 fine-tuned on NSMC, each review
written as its label and the text, "긍정 ..." / "부정 ..."): a prompt -> the text the model writes
after it, a token at a time.

The decoding settings are the book's eight (``min_length``, ``max_length``, ``top_p``, ``top_k``,
``repetition_penalty``, ``no_repeat_ngram_size``, ``temperature``; ``prompt``) plus ``do_sample``,
``num_beams``, ``seed`` and ``max_new_tokens``, each checked against its range (``SETTINGS``); the
book's page sends them as strings, ``""`` for the default. The loop is transformers' own logits
processors applied as ``generate`` applies them, written out so that each token is one step the
inference thread writes for every visitor in one forward pass (``decoding/``), streams to the
page, and stops when the visitor leaves. With ``top_k=1`` (or ``do_sample=False``) the text is
greedy search's, the book's text exactly; ``num_beams`` over 1 is ``generate``'s beam search, a
token a step too.

ratsnlp's checkpoints hold GPT-2's ``attn.bias`` / ``attn.masked_bias`` buffers, which transformers
5's GPT-2 no longer has; they follow from the config, so they are dropped and rebuilt.
"""

from __future__ import annotations

import dataclasses
from typing import IO, TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .classification import write_nsmc
from .contract import (
    DEMO_MODEL_DIR,
    SkippedCorrection,
    StateDict,
    Task,
    TaskCheckpoints,
    TaskData,
    TaskPage,
    TaskPipeline,
)
from .fields import FieldError, check_names, check_text, type_name
from .text import TextInputs

if TYPE_CHECKING:  # generation runs on PyTorch, imported when a model is loaded
    import torch

    from .decoding import BatchedDecoder

MAX_NEW_TOKENS = 128  # tokens one request may have written: a visitor cannot buy minutes of CPU
MAX_PROMPT_TOKENS = 64
# temperature and repetition_penalty divide the logits: below this, fp32 logits overflow to
# infinity and the model cannot pick a token (1e-300 was a 500); 0.01 already writes as greedily.
MIN_DIVISOR = 0.01


@dataclasses.dataclass(frozen=True)
class Setting:
    kind: type
    default: object
    low: Optional[float] = None
    high: Optional[float] = None
    above_low: bool = False  # the range excludes ``low``
    help: str = ""

    def range_text(self) -> str:
        if self.kind is bool:
            return "true or false"
        what = "an integer" if self.kind is int else "a number"
        if self.above_low:
            return f"{what} over {self.low:g} and at most {self.high:g}"
        return f"{what} from {self.low:g} to {self.high:g}"  # both included


SETTINGS: Dict[str, Setting] = {
    "min_length": Setting(int, 10, 0, MAX_PROMPT_TOKENS + MAX_NEW_TOKENS,
                          help="최소 길이: 프롬프트를 포함한 토큰 수 (at least this many tokens, prompt included)"),
    "max_length": Setting(int, 20, 1, MAX_PROMPT_TOKENS + MAX_NEW_TOKENS,
                          help="최대 길이: 프롬프트를 포함한 토큰 수 (at most this many tokens, prompt included)"),
    "top_p": Setting(float, 1.0, 0, 1, above_low=True,
                     help="누적 확률이 이 값이 될 때까지의 토큰에서만 고릅니다 (sample from the smallest set of tokens this likely)"),
    "top_k": Setting(int, 50, 0, 100_000, help="확률이 높은 k개 토큰에서만 고릅니다; 1이면 늘 같은 글 (sample from the k likeliest tokens; 1: always the same text)"),
    "repetition_penalty": Setting(float, 1.0, MIN_DIVISOR, 10,
                                  help="1보다 크면 이미 나온 토큰을 덜 고릅니다 (over 1: repeat less)"),
    "no_repeat_ngram_size": Setting(int, 0, 0, 10, help="이 길이의 토큰 묶음을 되풀이하지 않습니다; 0은 끔 (never repeat n tokens in a row; 0: off)"),
    "temperature": Setting(float, 1.0, MIN_DIVISOR, 10,
                           help="낮을수록 무난한, 높을수록 다양한 글 (lower: safer, higher: more varied)"),
    "do_sample": Setting(bool, True, help="샘플링 (sample; off: always the likeliest token)"),
    "num_beams": Setting(int, 1, 1, 4, help="빔 서치의 빔 수 (beam search beams)"),
    "seed": Setting(int, None, 0, 2**32 - 1, help="같은 시드면 같은 글 (the same seed writes the same text)"),
    "max_new_tokens": Setting(int, None, 1, MAX_NEW_TOKENS, help="새로 쓸 토큰 수; max_length 대신 (new tokens to write, instead of max_length)"),
}
BOOK_SETTINGS = ("min_length", "max_length", "top_p", "top_k", "repetition_penalty", "no_repeat_ngram_size",
                 "temperature")  # inference_fn's arguments after the prompt, in its order


@dataclasses.dataclass(frozen=True)
class Prompt:
    """One generation's input: the prompt and every decoding setting (defaults filled in)."""

    text: str
    settings: Dict[str, Any]


def check_settings(values: Dict[str, Any], where: str = "") -> Dict[str, Any]:
    """The decoding settings in ``values`` (strings or numbers; ``""`` or missing: the default),
    each checked against its range; other keys are the caller's to check (``check_names``: a
    request's; a data file's extra columns are carried through). A FieldError names the one at
    fault."""
    settings: Dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        value = values.get(name, "")
        label = _label(where, name)
        settings[name] = setting.default if value is None or value == "" else _parsed(value, setting, label)
    if settings["min_length"] > settings["max_length"] and settings["max_new_tokens"] is None:
        raise FieldError(f"min_length ({settings['min_length']}) is larger than max_length "
                         f"({settings['max_length']}): make it at most max_length")
    return settings


def _label(where: str, name: str) -> str:
    """How a message names a setting: ``inputs[0].top_k``, ``line 20: top_k``, ``top_k``."""
    if not where:
        return name
    return f"{where}: {name}" if where.startswith("line ") else f"{where}.{name}"


def _parsed(value: object, setting: Setting, label: str):
    wrong = FieldError(f"{label} must be {setting.range_text()}, got {value!r}"[:300])
    if setting.kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "on", "off"):
            return value.strip().lower() in ("true", "1", "on")
        raise wrong
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise FieldError(f"{label} must be {setting.range_text()}, got {type_name(value)}")
    try:
        number = float(value)
    except ValueError:
        raise wrong from None
    if number != number or number in (float("inf"), float("-inf")):
        raise wrong
    if setting.kind is int:
        if number != int(number):
            raise wrong
        number = int(number)
    if setting.low is not None and (number <= setting.low if setting.above_low else number < setting.low):
        raise wrong
    if setting.high is not None and number > setting.high:
        raise wrong
    return number


LABEL_WORDS = {"부정": 0, "긍정": 1}  # NSMC's labels, as ratsnlp's generation corpus words them


class PromptInputs(TextInputs):
    """A prompt and its decoding settings (a :class:`Prompt`)."""

    fields = ("prompt",)
    option_names = tuple(SETTINGS)
    item_name, item_example = "prompt", "[prompt]"
    field_max_chars = {"prompt": 300}
    api_body = "object"  # the book's POST /api sends the prompt and its settings

    def check_item(self, item, index: int) -> Prompt:
        """A prompt (its settings default), a :class:`Prompt`, or a dict of the prompt and settings."""
        where = f"prompt {index}"
        if isinstance(item, Prompt):
            check_names(item.settings, tuple(SETTINGS), "setting", where)
            return Prompt(check_text(item.text, where), check_settings(item.settings))
        if isinstance(item, dict):
            check_names(item, ("prompt", *SETTINGS), "setting", where)
            return Prompt(check_text(item.get("prompt"), where), check_settings(item))
        return Prompt(check_text(item, where), check_settings({}))

    def make_item(self, texts: Sequence[str], values: Dict[str, Any], where: str = "") -> Prompt:
        return Prompt(texts[0], check_settings(values, where))

    def input_record(self, item: Prompt) -> Dict[str, Any]:
        return {"prompt": item.text, "settings": item.settings}

    def rows(self, item: Prompt, max_seq_length: int) -> int:
        """Every token is a forward pass of one row: the prompt, then up to the new tokens."""
        settings = item.settings
        new = settings["max_new_tokens"] or settings["max_length"]
        return min(len(item.text), MAX_PROMPT_TOKENS) + min(new, MAX_NEW_TOKENS)


class GenerationPipeline(TaskPipeline):
    """Token by token (``steps``), not one forward pass: the predictor runs ``steps`` instead of
    ``preprocess`` -> ``forward`` -> ``postprocess``. ``preprocess`` and ``forward`` read a
    prompt whole, for the precision guard: the model's next-token scores after each of its tokens."""

    model_inputs = ("input_ids",)
    stepwise = True  # always work in steps: one token each
    convertible = False  # a loop of forward passes over a growing cache: PyTorch runs it
    streams = True

    def preprocess(self, tokenizer: Any, items: List[Prompt], max_seq_length: int) -> Any:
        """The prompts' token ids (one prompt: the guard reads each example alone, unpadded)."""
        return tokenizer([item.text for item in items], add_special_tokens=False, return_tensors="pt")

    def postprocess(self, items: List[Any], encoding: Any, outputs: Dict[str, np.ndarray],
                    labels: Sequence[str]) -> List[Any]:
        raise NotImplementedError("generation runs in steps: Predictor calls steps(), not postprocess()")

    def steps(self, predictor, items: List[Prompt]):
        """These prompts written together, alone (a predictor without the inference thread);
        yields ``{"item": i, "text": piece}`` as the text comes, returns one result per prompt."""
        decoder = self.shared_steps(predictor)
        decoder.add(None, items)
        while True:
            outcome = decoder.step()
            for _, event in outcome.events:
                yield event
            if outcome.finished:
                return outcome.finished[0][1]
            if not outcome.events:
                yield None

    def shared_steps(self, predictor) -> "BatchedDecoder":
        """The decoder every visitor's texts are written by, a token of each per forward pass."""
        from .decoding import BatchedDecoder

        return BatchedDecoder(predictor.model, predictor.tokenizer, predictor.device, max_rows=predictor.batch_size,
                              max_prompt_tokens=MAX_PROMPT_TOKENS, max_new_tokens=MAX_NEW_TOKENS)

    def to_dict(self, result: Dict[str, Any]) -> Dict[str, Any]:
        """The book's ``result`` (the whole text, prompt included, decoded as the book decodes
        it: special tokens kept), plus ``prompt``, ``generated`` (the new text alone, without
        special tokens), ``tokens`` (how many were written), ``prompt_tokens``, ``seconds``, ``stopped``
        (``eos``: the model ended it, ``length``: a length limit did) and the ``settings`` used."""
        return dict(result)

    def inference_fn(self, predictor) -> Callable[..., Dict[str, Any]]:
        def inference_fn(prompt, min_length=10, max_length=20, top_p=1.0, top_k=50,
                         repetition_penalty=1.0, no_repeat_ngram_size=0, temperature=1.0, **more):
            settings = dict(zip(BOOK_SETTINGS, (min_length, max_length, top_p, top_k, repetition_penalty,
                                                no_repeat_ngram_size, temperature)), **more)
            return self.to_dict(predictor.predict([{"prompt": prompt, **settings}])[0])

        return inference_fn

    def prediction_text(self, result: Dict[str, Any]) -> Optional[str]:
        return result.get("generated", result.get("result"))


class GenerationCheckpoints(TaskCheckpoints):
    model_class = "AutoModelForCausalLM"
    labelled = False
    head_description = "a causal language model (GPT-2)"
    output_heads = ("lm_head", "score")
    # The language-model head multiplies in bf16 too, under the accuracy guard: at KoGPT2's size
    # (768 x 51,200) it is a third of a step, 16 ms of 45 for one row on two cores in fp32.
    fp32_heads = ("score",)
    tokenizer_class = "PreTrainedTokenizerFast"  # as the book loads KoGPT2's tokenizer.json
    tokenizer_options = {"eos_token": "</s>"}
    unused_checkpoint_keys = (".attn.bias", ".attn.masked_bias")  # transformers < 4.31 saved them
    pretrained_alone = True  # the book: downstream_model_checkpoint_path=None serves KoGPT2 itself
    checkpoint_dir_name = "checkpoint-generation"
    default_pretrained = "skt/kogpt2-base-v2"
    demo_pretrained_dir = DEMO_MODEL_DIR / "pretrained-generation"
    demo_checkpoint_dir = DEMO_MODEL_DIR / "checkpoint-generation"
    demo_description = "a small Korean review-writing GPT-2"

    def has_head(self, state_dict: StateDict) -> bool:
        return "lm_head.weight" in state_dict or ("transformer.wte.weight" in state_dict and not any(
            key.startswith(("score.", "classifier.", "qa_outputs.")) for key in state_dict))

    def recognises_config(self, config: Dict[str, Any]) -> bool:
        """A ``save_pretrained`` folder of a causal language model (``GPT2LMHeadModel``, ...)."""
        return any(str(name).endswith(("LMHeadModel", "ForCausalLM")) for name in config.get("architectures") or [])

    def derived_buffer(self, name: str, buffer: "torch.Tensor") -> Optional["torch.Tensor"]:
        """GPT-2's attention buffers in transformers < 4.40: the causal mask and -1e4."""
        import torch

        if name == "bias" and buffer.dtype == torch.bool and buffer.dim() == 4:
            size = buffer.shape[-1]
            return torch.tril(torch.ones((size, size), dtype=torch.bool)).view(1, 1, size, size)
        if name == "masked_bias":
            return torch.tensor(-1e4)
        return None


class GenerationPage(TaskPage):
    form = "generation"
    renderer = "text"
    field_labels = {"prompt": "프롬프트 (prompt)"}
    title = "KoGPT2 문장 생성 데모 (Sentence generation demo)"
    lead = "프롬프트를 입력하면 모델이 뒤를 이어 씁니다. '긍정'이나 '부정'으로 시작해 보세요. "
    lead_en = "Type the start of a review; the model writes on. Begin with 긍정 (positive) or 부정 (negative)."
    examples = (("긍정 아 정말",), ("부정 아 정말",), ("긍정 배우들 연기가",), ("부정 스토리가",))
    action, action_en = "생성하기", "Generate"
    correction_placeholder = "더 나은 글 (a better text)"

    def form_settings(self) -> List[Dict[str, Any]]:
        return [{"name": name, "label": name, "default": "" if setting.default is None else setting.default,
                 "help": setting.help, "kind": setting.kind.__name__, "min": setting.low, "max": setting.high}
                for name, setting in SETTINGS.items()]

    def repeatable_items(self) -> List[Prompt]:
        """The first example written greedily: sampling would differ from run to run."""
        return [Prompt(self.examples[0][0], check_settings({"do_sample": False, "max_new_tokens": 8}))]

    def smoke_input(self) -> Prompt:
        return Prompt(self.examples[0][0], check_settings({"max_new_tokens": 2}))


class GenerationData(TaskData):
    output_columns = ("generated", "result", "tokens")
    training_format = "nsmc-generation"  # what the book's generation chapter fine-tunes on

    def training_row(self, inputs, label: str, labels: Sequence[str]) -> Dict[str, Any]:
        """A better text ("더 나은 글") as an NSMC row, which ratsnlp's generation ``NsmcCorpus``
        reads back as ``"<긍정|부정> <document>"``: the label word is the correction's first word,
        else its prompt's."""
        text = label.strip()
        first = text.split(maxsplit=1)[0] if text else ""
        if first in LABEL_WORDS:
            document = text[len(first):].strip()
        else:
            first, document = (inputs[0].split(maxsplit=1) or [""])[0], text
        if first not in LABEL_WORDS or not document:
            raise SkippedCorrection("neither the text nor its prompt starts with 긍정 or 부정, the word the "
                                    "book's generation corpus puts first")
        return {"document": document, "label": LABEL_WORDS[first]}

    def write_training_data(self, examples: List[Tuple[int, Dict[str, Any]]], stream: IO[str]) -> None:
        write_nsmc(examples, stream)


SENTENCE_GENERATION = Task("generation", PromptInputs(), GenerationPipeline(), GenerationCheckpoints(),
                           GenerationPage(), GenerationData())


__all__ = ["MAX_NEW_TOKENS", "MAX_PROMPT_TOKENS", "Prompt", "SETTINGS", "SENTENCE_GENERATION", "check_settings"]
