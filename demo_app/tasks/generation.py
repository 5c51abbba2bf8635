"""Sentence generation (nlpbook's fifth deploy chapter: KoGPT2 fine-tuned on NSMC, each review
written as its label and the text, "긍정 ..." / "부정 ..."): a prompt -> the text the model writes
after it, a token at a time.

The decoding settings are the book's eight (``min_length``, ``max_length``, ``top_p``, ``top_k``,
``repetition_penalty``, ``no_repeat_ngram_size``, ``temperature``; ``prompt``) plus ``do_sample``,
``num_beams``, ``seed`` and ``max_new_tokens``, each checked against its range (``SETTINGS``); the
book's page sends them as strings, ``""`` for the default. The loop is transformers' own logits
processors applied as ``generate`` applies them, written out so that each token is one step the
inference thread can interleave with other visitors' work, stream to the page, and stop when the
visitor leaves. With ``top_k=1`` (or ``do_sample=False``) the text is greedy search's, the book's
text exactly. ``num_beams`` over 1 runs transformers' ``generate`` in one step.

ratsnlp's checkpoints hold GPT-2's ``attn.bias`` / ``attn.masked_bias`` buffers, which transformers
5's GPT-2 no longer has; they follow from the config, so they are dropped and rebuilt.
"""

from __future__ import annotations

import dataclasses
import time
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

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
    """Token by token (``steps``), not one forward pass: ``preprocess`` and ``postprocess`` are
    never called, because the predictor runs ``steps`` instead."""

    stepwise = True  # always work in steps: one token each
    convertible = False  # a loop of forward passes over a growing cache: PyTorch runs it
    streams = True

    def preprocess(self, tokenizer: Any, items: List[Any], max_seq_length: int) -> Any:
        raise NotImplementedError("generation runs in steps: Predictor calls steps(), not preprocess()")

    def postprocess(self, items: List[Any], encoding: Any, outputs: Dict[str, torch.Tensor],
                    labels: Sequence[str]) -> List[Any]:
        raise NotImplementedError("generation runs in steps: Predictor calls steps(), not postprocess()")

    def steps(self, predictor, items: List[Prompt]):
        """One result per prompt; yields ``{"item": i, "text": piece}`` after each new token."""
        results = []
        for index, item in enumerate(items):
            writer = _Writer(predictor, item)
            for piece in writer.tokens():
                yield {"item": index, "text": piece} if piece else None
            results.append(writer.result())
        return results

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

    def derived_buffer(self, name: str, buffer: torch.Tensor) -> Optional[torch.Tensor]:
        """GPT-2's attention buffers in transformers < 4.40: the causal mask and -1e4."""
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


class _Writer:
    """One prompt's generation: a token per step, as transformers' ``generate`` would write it."""

    def __init__(self, predictor, item: Prompt) -> None:
        self.predictor, self.item, self.settings = predictor, item, item.settings
        self.model, self.tokenizer = predictor.model, predictor.tokenizer
        self.started = time.perf_counter()
        ids = self.tokenizer(item.text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        if ids.shape[1] > MAX_PROMPT_TOKENS:
            raise FieldError(f"the prompt is {ids.shape[1]} tokens long; the limit is {MAX_PROMPT_TOKENS}")
        self.prompt_ids = ids.to(predictor.device)
        self.eos = _eos_token_id(self.model, self.tokenizer)
        self.limit = self._new_token_limit()
        self.new_ids: List[int] = []
        self.stopped = "length"
        self.shown = ""

    def _new_token_limit(self) -> int:
        prompt = self.prompt_ids.shape[1]
        positions = getattr(self.model.config, "n_positions", None) or getattr(
            self.model.config, "max_position_embeddings", prompt + MAX_NEW_TOKENS)
        wanted = self.settings["max_new_tokens"] or self.settings["max_length"] - prompt
        return max(0, min(wanted, MAX_NEW_TOKENS, positions - prompt))

    def tokens(self):
        """The new text a token at a time (a piece may be empty while a character is unfinished)."""
        if self.settings["num_beams"] > 1:
            yield self._beams()
            return
        generator = None
        if self.settings["seed"] is not None:
            generator = torch.Generator(device=self.prompt_ids.device).manual_seed(self.settings["seed"])
        processors = self._processors()
        cache_name = _cache_argument(self.model)
        sequence, past, step_input = self.prompt_ids, None, self.prompt_ids
        for _ in range(self.limit):
            # Inference mode for the step only, never across a yield: it is the thread's state, and
            # other visitors' steps run on this thread in between (held across yields, one
            # generation ending switched it off under another's: a 500 under concurrency).
            with torch.inference_mode():
                outputs = self.model(input_ids=step_input, use_cache=True, **{cache_name: past})
                past = outputs.get(cache_name)
                scores = processors(sequence, outputs.logits[:, -1, :].float())
                if self.settings["do_sample"]:
                    chosen = torch.multinomial(scores.softmax(dim=-1), 1, generator=generator)
                else:
                    chosen = scores.argmax(dim=-1, keepdim=True)
                sequence = torch.cat([sequence, chosen], dim=-1)
            step_input = chosen
            self.new_ids.append(int(chosen))
            yield self._new_text()
            if int(chosen) == self.eos:
                self.stopped = "eos"
                return

    def _processors(self):
        """transformers' own processors, in the order ``generate`` applies them."""
        from transformers import (
            LogitsProcessorList,
            MinLengthLogitsProcessor,
            NoRepeatNGramLogitsProcessor,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        settings, processors = self.settings, LogitsProcessorList()
        if settings["repetition_penalty"] != 1.0:
            processors.append(RepetitionPenaltyLogitsProcessor(penalty=float(settings["repetition_penalty"])))
        if settings["no_repeat_ngram_size"] > 0:
            processors.append(NoRepeatNGramLogitsProcessor(settings["no_repeat_ngram_size"]))
        if settings["min_length"] > 0 and self.eos is not None:
            processors.append(MinLengthLogitsProcessor(settings["min_length"], self.eos))
        if settings["do_sample"]:
            if settings["temperature"] != 1.0:
                processors.append(TemperatureLogitsWarper(float(settings["temperature"])))
            if settings["top_k"] != 0:
                processors.append(TopKLogitsWarper(top_k=settings["top_k"]))
            if settings["top_p"] < 1.0:
                processors.append(TopPLogitsWarper(top_p=float(settings["top_p"])))
        return processors

    def _beams(self) -> str:
        """Beam search, by transformers' ``generate`` in one step."""
        settings = self.settings
        if settings["seed"] is not None:
            torch.manual_seed(settings["seed"])
        options = {key: settings[key] for key in ("num_beams", "do_sample", "min_length", "no_repeat_ngram_size")}
        options.update(repetition_penalty=float(settings["repetition_penalty"]))
        if settings["do_sample"]:
            options.update(top_k=settings["top_k"], top_p=float(settings["top_p"]),
                           temperature=float(settings["temperature"]))
        with torch.inference_mode():
            output = self.model.generate(self.prompt_ids, attention_mask=torch.ones_like(self.prompt_ids),
                                         max_new_tokens=max(self.limit, 1), pad_token_id=self.eos,
                                         eos_token_id=self.eos, **options)
        self.new_ids = output[0, self.prompt_ids.shape[1]:].tolist()[:self.limit]
        self.stopped = "eos" if self.new_ids and self.new_ids[-1] == self.eos else "length"
        return self._new_text()

    def _new_text(self) -> str:
        """The text of the new tokens not yet shown, held back while a character is unfinished."""
        text = self.tokenizer.decode(self.new_ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return ""
        piece, self.shown = text[len(self.shown):], text
        return piece

    def result(self) -> Dict[str, Any]:
        ids = self.prompt_ids[0].tolist() + self.new_ids
        return {
            "result": self.tokenizer.decode(ids),  # as the book decodes: special tokens kept
            "prompt": self.item.text,
            "generated": self.tokenizer.decode(self.new_ids, skip_special_tokens=True),
            "tokens": len(self.new_ids),
            "prompt_tokens": self.prompt_ids.shape[1],  # max_length counts them, as the book's does
            "seconds": round(time.perf_counter() - self.started, 3),
            "stopped": self.stopped,
            "settings": self.settings,
        }


def _cache_argument(model) -> str:
    """What the model's forward calls its key/value cache: ``cache`` in transformers 5.24 and
    later, ``past_key_values`` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _eos_token_id(model, tokenizer) -> Optional[int]:
    """The end-of-text token generate stops at: the model's generation config's, else its config's."""
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    if eos is None:
        eos = getattr(model.config, "eos_token_id", None)
    if isinstance(eos, (list, tuple)):
        eos = eos[0] if eos else None
    return eos if eos is not None else tokenizer.eos_token_id


__all__ = ["MAX_NEW_TOKENS", "MAX_PROMPT_TOKENS", "Prompt", "SETTINGS", "SENTENCE_GENERATION", "check_settings"]
