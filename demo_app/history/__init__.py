"""The demo's history (opt-in): every prediction and visitors' corrections (``store``: a SQLite
file or a shared PostgreSQL database; ``migrations``: their tables), and its exports as tables or
as the book's training data (``exports``)."""

from .exports import TABLE_FORMATS, export, export_formats
from .store import History, HistoryError, is_database_url, model_identity

__all__ = ["History", "HistoryError", "TABLE_FORMATS", "export", "export_formats", "is_database_url", "model_identity"]
