"""Reading a task's inputs from HTTP requests, with errors a visitor can act on.

The web app takes each task's fields (``sentence``; ``premise`` and ``hypothesis``; ...) in the
shapes docs/http-api.md lists: ratsnlp's ``POST /api`` body, a JSON object,
``{"inputs": [...]}`` (``{"sentences": [...]}`` too, for one-sentence tasks) and query
parameters; a task that takes files (images) takes multipart files or base64, each read by the
task (``read_upload``). Every problem names the field and what to send instead: an
:class:`~demo_app.web.errors.ApiError`, or the tasks' ``FieldError`` (their one field check,
``demo_app.tasks.fields``), which the app's error handlers answer the same way.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import List, Tuple

from flask import request

from ..tasks import TASKS, Task, check_text
from ..tasks.fields import check_names, closest_name, type_name
from .errors import ApiError


def input_reader(task: Task, max_chars: int, max_items: int) -> "InputReader | FileInputReader":
    """The reader for ``task``'s inputs; ``max_items`` (the task's own, if lower) per request."""
    max_items = min(max_items, task.inputs.max_items or max_items)
    if task.inputs.takes_files:
        return FileInputReader(task, max_items)
    return InputReader(task, max_chars, max_items)


class InputReader:
    """Turns request bodies into items for ``task`` (a string, or a tuple of the fields)."""

    def __init__(self, task: Task, max_chars: int, max_batch: int) -> None:
        self.task = task
        self.fields = task.inputs.fields
        self.max_chars = max_chars
        self.max_batch = max_batch
        example = ", ".join(f'"{field}": "..."' for field in self.fields)
        self.plural = "sentences" if self.fields == ("sentence",) else "inputs"
        self.one_object_usage = f"{{{example}}}"  # /api and /predict/stream: one input
        self.object_usage = f'{self.one_object_usage} or {{"{self.plural}": [...]}}'  # /predict: one or several

    def from_api_body(self):
        """ratsnlp's ``POST /api`` body: a JSON string (one-sentence tasks) or an object."""
        if len(self.fields) == 1 and self.task.inputs.api_body == "text":
            body = json_body(str, 'POST /api takes a JSON string, e.g. "이 영화 정말 재밌어요" '
                                  "(for objects use POST /predict)")
            return self.item([self.text(body, f"the {self.fields[0]}", self.fields[0])], {})
        body = json_body(dict, f"POST /api takes {self.one_object_usage}")
        return self.from_object(body)

    def from_predict_body(self, several: bool = True) -> "tuple[List, bool]":
        """``POST /predict``: ``(items, many)``; ``many`` when the body was a list of inputs.
        ``several``: whether the route takes a list (``/predict/stream`` does not)."""
        usage = self.object_usage if several else self.one_object_usage
        body = json_body(dict, f"POST {request.path} takes {usage}")
        plural = next((key for key in ("inputs", self.plural) if key in body), None)
        if plural and not any(field in body for field in self.fields):
            return self.many(body[plural], plural), True
        return [self.from_object(body)], False

    def from_query(self):
        misspelt = [name for name in request.args if name not in self.accepted and closest_name(name, self.accepted)]
        check_names(misspelt, self.accepted, self.name_kind)  # other parameters (a cache buster) are let be
        missing = [field for field in self.fields if field not in request.args]
        if missing:
            query = "&".join(f"{field}=..." for field in self.fields)
            raise ApiError(400, f"missing query parameter: /predict?{query}")
        return self.item([self.text(request.args[field], field, field) for field in self.fields], request.args)

    @property
    def accepted(self) -> Tuple[str, ...]:
        """The names an input object may hold: the task's fields, and its settings (generation's)."""
        return (*self.fields, *self.task.inputs.option_names)

    @property
    def name_kind(self) -> str:
        return "field or setting" if self.task.inputs.option_names else "field"

    def from_object(self, body: dict, where: str = ""):
        other_task = self.other_task_hint(body)
        if not other_task:  # a misspelt name is said as such, never dropped
            check_names(body, self.accepted, self.name_kind, where)
        for field in self.fields:
            if field not in body:
                raise ApiError(400, f'missing "{field}"{where and " in " + where}: send '
                                    f"{self.object_usage}{other_task}")
        prefix = f"{where}." if where else ""
        return self.item([self.text(body[field], prefix + field, field) for field in self.fields], body, where)

    def other_task_hint(self, body: dict) -> str:
        """A body shaped for another task (premise and hypothesis sent to a single-sentence
        model): say which task it fits, and how the model would be served as that."""
        fitting = [task for task in TASKS.values()
                   if task is not self.task and not task.inputs.takes_files
                   and all(f in body for f in task.inputs.fields)]
        if not fitting:
            return ""
        other = fitting[0]
        return (f" (this demo serves a {self.task.name} model; {', '.join(other.inputs.fields)} are the "
                f"{other.name} task's fields: load a {other.name} model, or this one with --task {other.name})")

    def many(self, inputs: object, key: str) -> List:
        if not isinstance(inputs, list) or not inputs:
            raise ApiError(400, f'"{key}" must be a non-empty list of inputs'
                                + (" (strings)" if len(self.fields) == 1 else " (objects)"))
        if len(inputs) > self.max_batch:
            raise ApiError(413, f"{len(inputs)} inputs in one request; the limit is "
                                f"{self.max_batch} (max_batch_sentences)")
        return [self.one_of_many(value, f"{key}[{index}]") for index, value in enumerate(inputs)]

    def one_of_many(self, value: object, where: str):
        if isinstance(value, dict):
            return self.from_object(value, where)
        if len(self.fields) == 1:
            return self.item([self.text(value, where, self.fields[0])], {}, where)
        if isinstance(value, list) and len(value) == len(self.fields):
            return self.item([self.text(v, f"{where}[{i}]", field)
                              for i, (v, field) in enumerate(zip(value, self.fields))], {}, where)
        raise ApiError(400, f"{where} must be an object like {self.object_usage.split(' or ')[0]}, "
                            f"got {type_name(value)}")

    def item(self, texts: List[str], values, where: str = ""):
        """The task's input from its checked texts and the rest of the request (``values``)."""
        return self.task.inputs.make_item(texts, values, where)

    def text(self, value: object, where: str, field: str) -> str:
        setting = "" if field in self.task.inputs.field_max_chars else "max_text_chars"
        return check_text(value, where, self.task.inputs.max_chars(field, self.max_chars), setting)


class FileInputReader:
    """Turns requests into inputs for a task that takes files (images): multipart files (field
    ``file``, as the PyTorch Flask recipe sends them; repeat it for several), or JSON with base64
    files (``{"image": "..."}``, named by the task's field, or ``{"inputs": ["...", ...]}``). The
    task reads each (``read_upload``) here, so a bad one is a 4xx for its own request only."""

    def __init__(self, task: Task, max_files: int) -> None:
        self.task = task
        self.field = task.inputs.fields[0]  # "image"
        self.max_files = max_files

    def from_api_body(self):
        items, many = self.from_predict_body(several=False)
        if many:
            raise ApiError(400, f"POST /api takes one {self.field}; send {len(items)} to POST /predict")
        return items[0]

    def from_predict_body(self, several: bool = True) -> "tuple[List, bool]":
        if request.mimetype == "multipart/form-data":
            uploads = [upload for upload in request.files.getlist("file") if upload.filename or upload.content_length]
            if not uploads:
                raise ApiError(400, f'no {self.field}: send it as a multipart file field named "file", e.g. '
                                    "curl -F file=@cat.jpg URL/predict")
            self.check_count(len(uploads))
            read = self.task.inputs.read_upload
            items = [read(upload.read(self.task.inputs.max_file_bytes + 1), upload.filename or f"file {i}")
                     for i, upload in enumerate(uploads)]
            return items, len(items) > 1
        usage = f'{{"{self.field}": "<base64>"}}' + (' or {"inputs": ["<base64>", ...]}' if several else "")
        body = json_body(dict, f'POST {request.path} takes a multipart file field "file", or JSON {usage}')
        if self.field in body:
            return [self.task.inputs.read_upload(self.base64(body[self.field], self.field), self.field)], False
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise ApiError(400, f"send {usage}")
        self.check_count(len(inputs))
        return [self.task.inputs.read_upload(self.base64(value, f"inputs[{i}]"), f"inputs[{i}]")
                for i, value in enumerate(inputs)], True

    def from_query(self):
        raise ApiError(400, f"an {self.field} cannot be sent in a query: POST it to /predict as a multipart "
                            'file field named "file"')

    def check_count(self, count: int) -> None:
        if count > self.max_files:
            raise ApiError(413, f"{count} {self.field}s in one request; the limit is {self.max_files}")

    def base64(self, value: object, where: str) -> bytes:
        if isinstance(value, dict) and self.field in value:
            value = value[self.field]
        if not isinstance(value, str):
            raise ApiError(400, f"{where} must be a base64 string, got {type_name(value)}")
        if value.startswith("data:") and "," in value:  # a data: URL, as a browser makes them
            value = value.split(",", 1)[1]
        value = "".join(value.split())  # base64 as `base64` prints it, wrapped at 76 columns
        try:
            if "-" in value or "_" in value:  # the URL-safe alphabet
                return base64.b64decode(value, altchars=b"-_", validate=True)
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, f"{where} is not valid base64") from None


def json_body(expected: type, usage: str):
    """The request's JSON, which must be of type ``expected``; ``usage`` says what to send."""
    if not request.is_json:
        raise ApiError(415, "send JSON with the header Content-Type: application/json, e.g. "
                            "curl -H 'Content-Type: application/json' -d '{\"sentence\": \"...\"}'")
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ApiError(400, f"the request body is not valid JSON ({error.msg} at position "
                            f"{error.pos})") from None
    except RecursionError:
        raise ApiError(400, "the request body's JSON is nested too deeply") from None
    except ValueError:  # Python refuses integers of more than 4300 digits
        raise ApiError(400, "the request body holds a number too large to read") from None
    if not isinstance(body, expected):
        raise ApiError(400, f"{usage}; got {type_name(body)}")
    return body
