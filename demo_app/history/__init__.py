"""The demo's history (opt-in): every prediction and visitors' corrections (``store``), and its
exports as tables or as the book's training data (``exports``)."""

from .exports import TABLE_FORMATS, export, export_formats
from .store import History, model_identity

__all__ = ["History", "TABLE_FORMATS", "export", "export_formats", "model_identity"]
