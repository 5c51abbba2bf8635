"""What the text tasks' inputs share: one or more text fields, each checked by ``check_text``."""

from __future__ import annotations

from typing import Any

from .contract import TaskInputs
from .fields import check_fields, check_text


class TextInputs(TaskInputs):
    """Inputs of text fields: a string for a one-field task, else a tuple (or dict) of them."""

    def check_item(self, item: Any, index: int) -> Any:
        if len(self.fields) == 1:
            return check_text(item, f"{self.fields[0]} {index}")
        return check_fields(item, index, self.fields, self.item_name)
