"""The one check of a text field, used wherever text comes in: the Python API, the HTTP readers,
the command line and data files. One error style: ``<where> <what is wrong>``, where ``where``
names the field the way the caller sees it (``sentence 2``, ``the premise of pair 0``,
``inputs[3].context``, ``line 7: 'document'``).

A problem is a :class:`FieldError` (a ValueError) whose ``status`` is the HTTP status it answers:
400, or 413 for text over its length limit. A value that is not a string at all is a
:class:`FieldTypeError`, which is also a TypeError, as Python callers expect.
"""

from __future__ import annotations

from typing import Optional


class FieldError(ValueError):
    """A field that cannot be used; the message names it and says what is wrong."""

    status = 400


class FieldTypeError(FieldError, TypeError):
    """A field that is not text at all (a number, null, a list)."""


class FieldTooLong(FieldError):
    """Text over its length limit (HTTP 413)."""

    status = 413


def check_text(value: object, where: str, max_chars: Optional[int] = None, setting: str = "") -> str:
    """``value`` if it is usable text: a string, not blank, valid Unicode and at most
    ``max_chars`` characters (``setting`` names the option that sets that limit)."""
    if not isinstance(value, str):
        raise FieldTypeError(f"{where} must be a string, got {type_name(value)}")
    if not value.strip():
        raise FieldError(f"{where} is empty or only whitespace")
    if not is_valid_unicode(value):
        raise FieldError(f"{where} is not valid Unicode text (it holds a lone surrogate such as "
                         "\\ud800); send UTF-8 text")
    if max_chars is not None and len(value) > max_chars:
        raise FieldTooLong(f"{where} is {len(value)} characters long; the limit is {max_chars} "
                           f"characters{f' ({setting})' if setting else ''}")
    return value


def is_valid_unicode(text: str) -> bool:
    """False for strings JSON can carry but no encoding can: lone surrogates like \\ud800."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def type_name(value: object) -> str:
    """What a value is, in words a JSON or Python user both read: 'a number', 'null', ..."""
    if value is None:
        return "null (None)"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", tuple: "a tuple", dict: "an object", bytes: "bytes"}
    return names.get(type(value), type(value).__name__)
