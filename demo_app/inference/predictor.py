"""The predictor: a task + a model + its tokenizer and labels, batched inference, ``inference_fn``.

One request, as in a transformers pipeline: ``task.inputs.check_inputs`` -> ``task.pipeline.preprocess``
(dynamic padding) -> ``task.pipeline.forward`` (the model's forward pass) -> ``task.pipeline.postprocess``.
Everything that differs between tasks lives in the task module; this file is the same for all.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, Generator, List, Optional, Sequence, Tuple

import numpy as np

from ..tasks import Task, get_task
from .batching import MicroBatcher, Steps
from .explaining import METHOD, ExplanationJob, GradientModel, attribution_steps, check_steps, words_of
from .model_io import forward_arrays


class PredictionError(RuntimeError):
    """The model could not give a usable answer; the message is safe to show a visitor."""


STEP_SECONDS = 0.5  # the longest one step of large work may take (see Predictor._rows_per_step)


class Predictor:
    """Owns a task, a model, its tokenizer, its device and its class labels.

    ``source`` is the checkpoint it was loaded from and ``demo_model`` whether that is a bundled
    demo model: the page and ``/healthz`` say which model is served. ``predict`` runs batches
    padded to their longest input and truncated at ``max_seq_length`` tokens, under
    ``torch.inference_mode``, at most ``batch_size`` rows (sequences: a long QA context is several)
    per forward pass. With ``batching=True`` (the default) every call, from any thread, goes
    through one inference thread that batches concurrent callers together and lets visitors
    with large requests take turns (``batching.py``).
    """

    def __init__(
        self,
        model: Any,  # a transformers model, or an OpenVINOModel that acts as one
        tokenizer,
        *,
        labels: Sequence[str],
        task: "Task | str | None" = None,
        device: Any = "cpu",  # "cpu", "cuda", "cuda:1" or a torch.device
        max_seq_length: int = 128,
        batch_size: int = 32,
        batching: bool = True,
        max_wait_ms: float = 0.0,
        max_queue: int = 256,
        precision: str = "fp32",
        source: Optional[str] = None,
        demo_model: bool = False,
    ) -> None:
        self.task = get_task(task)
        if self.task.checkpoints.labelled and len(labels) != model.config.num_labels:
            raise ValueError(f"{len(labels)} labels for a model with {model.config.num_labels} classes")
        self.model = model
        self.tokenizer = tokenizer
        self.labels: Tuple[str, ...] = tuple(labels)
        self.device = device
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.precision = precision
        self.backend = getattr(model, "backend", "torch")  # "openvino": an OpenVINOModel
        self.source = source  # the checkpoint file or directory served, when known
        self.demo_model = demo_model  # a bundled demo model, not the student's
        self.warnings: List[str] = []  # what may be wrong with the model, shown with it
        self.seconds_per_row: Optional[float] = None  # measure_pace(): a full-length sequence's cost here
        # what explain() differentiates; the loader gives an OpenVINO-served model one it reads again
        self.gradients: Optional[GradientModel] = GradientModel(model) if self.backend == "torch" else None
        self.batcher: Optional[MicroBatcher] = (
            # shared: generation's decoder, every visitor's text written a token a step in one pass
            MicroBatcher(self._predict_now, run_steps=self._predict_steps,
                         shared=self.task.pipeline.shared_steps(self), max_batch_size=batch_size,
                         max_wait_ms=max_wait_ms, max_queue=max_queue,
                         max_queue_per_visitor=max(batch_size, max_queue // 2))
            if batching
            else None
        )

    def predict(self, inputs: Sequence, timeout: Optional[float] = None, *, visitor: str = "",
                gone: Optional[Callable[[], bool]] = None, background: bool = False) -> List[object]:
        """One result per input (sentences, (premise, hypothesis) pairs, images: as the task
        takes them), in the task's own form: a ``Prediction`` for classifiers, a dict for NER
        and QA; ``task.pipeline.to_dict`` turns each into ratsnlp's dict. Raises ``TypeError`` /
        ``ValueError`` saying which input is wrong, and ``batching.Overloaded`` when the
        request queue is full. ``visitor`` (who asks: visitors take turns), ``gone`` (a check
        that the caller is still there), ``timeout`` and ``background`` (a file job's chunk:
        served in turn with the large requests) matter only with batching."""
        items = self.task.inputs.check_inputs(inputs)
        if self.batcher is None:
            return self._predict_now(items)
        return self.batcher(items, timeout=timeout, visitor=visitor, rows=self.rows(items),
                            stepwise=background or self.task.pipeline.stepwise, gone=gone)

    def explain(self, input: Any, target: Any = None, steps: Optional[int] = None, *, visitor: str = "",
                gone: Optional[Callable[[], bool]] = None, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Why the model answers ``input`` as it does (``explaining.py``): the answer (the task's
        dict), and each word's attribution towards ``target`` (None: the answer given; a class,
        an entity's or a candidate answer's index), by integrated gradients over ``steps``
        points (None: the task's ``explanation_steps``), priced and scheduled as that many rows."""
        if self.gradients is None:
            raise ValueError("explanations need the PyTorch model (gradients): load it with backend='torch' "
                             "(--backend torch)")
        self.gradients.get()  # read now, in the caller's thread, if it must be read from the checkpoint
        item = self.task.inputs.check_inputs([input])[0]
        steps = self.task.pipeline.explanation_steps if steps is None else steps
        job = ExplanationJob(item, target, check_steps(steps))
        if self.batcher is None:
            return run_to_end(self._explain_steps(job))  # type: ignore[arg-type]
        return self.batcher([job], timeout=timeout, visitor=visitor, rows=job.steps + self.rows([item]),
                            stepwise=True, gone=gone)[0]

    @property
    def explains(self) -> bool:
        """Whether ``explain`` works: a task whose answers are explained, and a PyTorch model."""
        return self.task.pipeline.explains and self.gradients is not None

    def stream(self, inputs: Sequence, *, visitor: str = "", gone: Optional[Callable[[], bool]] = None):
        """The task's progress events (generation: ``{"item": i, "text": piece}``) as they are
        made, then ``{"results": [...]}`` (the task's own form, as ``predict`` returns them).
        The caller's leaving (``gone``) stops the work."""
        items = self.task.inputs.check_inputs(inputs)
        if self.batcher is None:
            steps = self._predict_steps(items)
            while True:
                try:
                    event = next(steps)
                except StopIteration as end:
                    yield {"results": end.value}
                    return
                if event is not None:
                    yield event
        request = self.batcher.submit(items, visitor=visitor, rows=self.rows(items), stepwise=True)
        try:
            for event in request.events(gone):
                yield event
            yield {"results": request.result()}
        finally:
            if not request.done():
                request.abandon()  # the caller stopped reading: nobody wants the rest

    def rows(self, items: Sequence) -> int:
        """What ``items`` cost, priced before any work: the sequences the model will read (an
        upper bound: a long QA context is read in several windows)."""
        return sum(self.task.inputs.rows(item, self.max_seq_length) for item in items)

    def close(self) -> None:
        """Stop the inference thread after its current step (for a clean exit)."""
        if self.batcher is not None:
            self.batcher.close()

    def measure_pace(self, tries: int = 2) -> Optional[float]:
        """The seconds the model takes for one sequence of ``max_seq_length`` tokens on this
        machine (the fastest of ``tries`` passes over one such sequence), so that a request whose
        priced cost cannot finish within the timeout is refused before any work. At that length a
        pass costs nearly in proportion to its rows (kcbert-base, OpenVINO bf16, two cores: 0.17 s
        for one row, 0.12 s a row in a batch of 32), so one row is enough, cheap at start, and errs
        towards refusing. None (not measured) for a model that does not read token ids (images) or
        runs in steps (generation)."""
        names = self.task.pipeline.model_inputs
        if self.task.pipeline.stepwise or "input_ids" not in names:
            return None
        shape = (1, self.max_seq_length)
        filler = self.tokenizer.unk_token_id or 0
        arrays = {"input_ids": np.full(shape, filler, dtype=np.int64),
                  "attention_mask": np.ones(shape, dtype=np.int64), "token_type_ids": np.zeros(shape, dtype=np.int64)}
        inputs = {name: arrays[name] for name in arrays if name in names}
        passes = []
        for _ in range(tries):
            started = time.perf_counter()
            forward_arrays(self.task.pipeline, self.model, inputs, self.device)
            passes.append(time.perf_counter() - started)
        self.seconds_per_row = min(passes)
        return self.seconds_per_row

    def describe(self) -> Dict[str, Any]:
        """Facts about the loaded model, for ``/healthz``, the page and logs."""
        return {
            "task": self.task.name,
            "checkpoint": _shown_source(self.source),
            "demo_model": self.demo_model,
            "model_type": self.model.config.model_type,
            "labels": list(self.labels),
            "device": str(self.device),
            "precision": self.precision,
            "backend": self.backend,
            "max_seq_length": self.max_seq_length,
            "batch_size": self.batch_size,
            "seconds_per_sequence": None if self.seconds_per_row is None else round(self.seconds_per_row, 4),
            "warnings": list(self.warnings),
        }

    def _predict_now(self, items: List) -> List[object]:
        """All of ``items`` at once (the steps run back to back, each as large as a batch)."""
        return run_to_end(self._predict_steps(items, stepwise=False))

    def _predict_steps(self, items: List, stepwise: bool = True) -> Steps:
        """The results for ``items``, yielding after every forward pass (``_rows_per_step``),
        so that other work can run in between."""
        if items and isinstance(items[0], ExplanationJob):
            explanation = yield from self._explain_steps(items[0])
            return [explanation]
        own = self.task.pipeline.steps(self, items)
        if own is not None:
            results: List[Any] = yield from own
            return results
        # Sorting by length keeps inputs of similar length in one batch: less padding.
        order = sorted(range(len(items)), key=lambda i: _length(items[i]))
        results = [None] * len(items)
        for number, group in enumerate(self._groups(order, items)):
            if number:
                yield None  # another visitor's work may run here
            batch = [items[i] for i in group]
            encoding = self.task.pipeline.preprocess(self.tokenizer, batch, self.max_seq_length)
            outputs = yield from self._forward_steps(encoding, stepwise)
            for i, result in zip(group, self.task.pipeline.postprocess(batch, encoding, outputs, self.labels)):
                results[i] = result
        return results

    def _explain_steps(self, job: ExplanationJob) -> Generator[object, None, Dict[str, Any]]:
        """The answer (every window of a long context a step at a time, as ``predict`` reads it),
        then the explanation's forward and backward passes, a step at a time."""
        result = (yield from self._predict_steps([job.item]))[0]
        target = self.task.pipeline.explanation_target(self.tokenizer, job.item, result, self.labels, job.target,
                                                       self.max_seq_length)
        yield None
        length = target.encoding["input_ids"].shape[1]
        rows = max(1, self._rows_per_step(length) // 3)  # a backward pass costs about two forward ones
        assert self.gradients is not None  # explain() checked
        attributions, score, baseline = yield from attribution_steps(
            self.gradients.get(), self.tokenizer, target, job.steps, rows, self.device)
        fields = list(self.task.inputs.input_record(job.item).items())
        return {
            "answer": self.task.pipeline.to_dict(result),
            "target": target.name,
            "method": METHOD,
            "steps": job.steps,
            "score": round(score, 6),
            "baseline_score": round(baseline, 6),
            "convergence_delta": round(abs(sum(attributions) - (score - baseline)), 6),
            "words": words_of(fields, target, attributions),
        }

    def _groups(self, order: List[int], items: List) -> List[List[int]]:
        """``order`` cut into groups of at most ``batch_size`` rows (or one item of more)."""
        groups: List[List[int]] = [[]]
        rows = 0
        for i in order:
            cost = self.task.inputs.rows(items[i], self.max_seq_length)
            if groups[-1] and rows + cost > self.batch_size:
                groups.append([])
                rows = 0
            groups[-1].append(i)
            rows += cost
        return groups

    def _forward(self, encoding) -> Dict[str, np.ndarray]:
        """The model's outputs for one whole encoding."""
        return run_to_end(self._forward_steps(encoding))

    def _forward_steps(self, encoding, stepwise: bool = False):
        """The task's forward pass over the model's own inputs (the encoding may also carry
        offsets), a step at a time (``_rows_per_step``; ``batch_size`` rows when nobody waits
        in between); the outputs (fp32 arrays) must be finite numbers."""
        inputs = {name: encoding[name] for name in self.task.pipeline.model_inputs if name in encoding}
        first = next(iter(inputs.values()))
        total = first.shape[0]
        step = self._rows_per_step(first.shape[-1]) if stepwise and len(first.shape) == 2 else self.batch_size
        parts: List[Dict[str, np.ndarray]] = []
        for start in range(0, total, step):
            if parts:
                yield  # another visitor's work may run here
            chunk = {name: value[start:start + step] for name, value in inputs.items()}
            parts.append(forward_arrays(self.task.pipeline, self.model, chunk, self.device))
        arrays = {name: np.concatenate([part[name] for part in parts]) if len(parts) > 1 else parts[0][name]
                  for name in parts[0]}
        if not all(np.isfinite(value).all() for value in arrays.values()):
            raise PredictionError("the model's outputs are not numbers (NaN or infinity): its "
                                  "weights are broken; load a checkpoint from a healthy training run")
        return arrays

    def _rows_per_step(self, length: int) -> int:
        """Rows of ``length`` tokens in one step of large work: as many as the model reads in
        ``STEP_SECONDS`` at its pace on this machine (``measure_pace``), at most ``batch_size``.
        A short request waits for at most one step of somebody else's large work, so a step
        must be short: at kcbert-base size on two CPU cores, 32 full-length rows took 4 s, and a
        short question behind a flood of long contexts waited 10.6 s (1.4 s with these steps,
        ``benchmarks/flood_benchmark.py``). Smaller steps cost more in all (a 33-window context:
        4.25 s in whole batches, 4.64 s in steps of 5 rows, 5.65 s of 2, 6.12 s of 1), hence not
        one row. A GPU reads a batch in milliseconds, so there the step stays a whole batch."""
        if not self.seconds_per_row:
            return self.batch_size
        per_row = self.seconds_per_row * length / self.max_seq_length
        return max(1, min(self.batch_size, int(STEP_SECONDS / per_row)))


def run_to_end(steps: Steps):
    """What a step generator returns, its steps run back to back."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


def make_inference_fn(predictor: Predictor) -> Callable[..., Dict[str, Any]]:
    """ratsnlp's ``inference_fn`` for the predictor's task, with the book's signature and keys:
    ``inference_fn(sentence)`` for classification, ``inference_fn(premise, hypothesis)`` for
    pairs. Each result also carries ``probabilities``: ``[{label, probability, width}]``."""
    inference_fn = predictor.task.pipeline.inference_fn(predictor)
    inference_fn.predictor = predictor  # type: ignore[attr-defined]  # create_app() batches through it
    return inference_fn


def _shown_source(source: Optional[str]) -> Optional[str]:
    """The checkpoint's file name; for a save_pretrained folder (model.safetensors), with its
    folder's name, which is the part that tells models apart."""
    if not source:
        return None
    path = Path(source)
    return f"{path.parent.name}/{path.name}" if path.name.startswith("model.") else path.name


def _length(item) -> int:
    """Characters of a text input (for sorting a batch by length); 0 for an image."""
    if isinstance(item, str):
        return len(item)
    return sum(len(text) for text in item) if isinstance(item, tuple) else 0
