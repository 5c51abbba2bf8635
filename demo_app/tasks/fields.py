"""The one check of a text field, used wherever text comes in: the Python API, the HTTP readers,
the command line and data files. One error style: ``<where> <what is wrong>``, where ``where``
names the field the way the caller sees it (``sentence 2``, ``the premise of pair 0``,
``inputs[3].context``, ``line 7: 'document'``).

A problem is a :class:`FieldError` (a ValueError) whose ``status`` is the HTTP status it answers:
400, or 413 for text over its length limit. A value that is not a string at all is a
:class:`FieldTypeError`, which is also a TypeError, as Python callers expect.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Optional, Sequence, Tuple


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


def check_names(names: Iterable[str], accepted: Sequence[str], what: str = "field", where: str = "") -> None:
    """Every one of ``names`` is one of ``accepted``, or a FieldError naming the first that is
    not, the closest accepted name, and all of them: a misspelt setting is never dropped."""
    for name in names:
        if name not in accepted:
            close = closest_name(name, accepted)
            hint = f': did you mean "{close}"?' if close else ""
            raise FieldError(f'{where + ": " if where else ""}unknown {what} "{str(name)[:60]}"{hint} '
                             f"(accepted: {', '.join(accepted)})")


def closest_name(name: str, accepted: Sequence[str]) -> Optional[str]:
    """The accepted name ``name`` looks like a misspelling of (``topk``: ``top_k``), if any."""
    found = difflib.get_close_matches(str(name).lower(), list(accepted), n=1, cutoff=0.75)
    return found[0] if found else None


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


def check_fields(item: object, index: int, fields: Tuple[str, ...], item_name: str) -> Tuple[str, ...]:
    """``item`` (a tuple, or a dict of ``fields``) as usable texts, or an error naming them."""
    noun = item_name.split()[-1]  # "pair"
    if isinstance(item, dict):
        item = tuple(item.get(field) for field in fields)
    if not isinstance(item, (tuple, list)) or len(item) != len(fields):
        raise FieldTypeError(f"{noun} {index} must be a {item_name}, got {type_name(item)}")
    return tuple(check_text(text, f"the {field} of {noun} {index}") for text, field in zip(item, fields))


def checked_list(inputs: object, what: str, example: str) -> list:
    """``inputs`` as a non-empty list, or a TypeError/ValueError; ``what`` names an item."""
    if isinstance(inputs, str):
        raise TypeError(f"predict() takes a list of {what}s; wrap one {what} in a list: {example}")
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"predict() takes a list of {what}s, got {type(inputs).__name__}")
    if not inputs:
        raise ValueError(f"predict() got an empty list; give at least one {what}")
    return list(inputs)


def whole_number(value: Any) -> Optional[int]:
    """``value`` as a whole number 0 or more, given as an integer or its digits (JSON or a
    command line); None for anything else (true, -1, 2.5, "two")."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        return None
    return int(value)


def index_in(target: Any, choices: Sequence[Any], what: str, none: str) -> int:
    """``target`` (None: the first) as an index into ``choices``; a FieldError saying ``none``
    when there are none, or naming the range (``what``: "an entity's index")."""
    if not choices:
        raise FieldError(none)
    if target is None:
        return 0
    index = whole_number(target)
    if index is None or index >= len(choices):
        raise FieldError(f"target must be {what}, 0 to {len(choices) - 1}, got {target!r}")
    return index
