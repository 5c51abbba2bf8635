"""The demo's history (opt-in): every prediction and visitors' corrections (``store``: a SQLite
file or a shared PostgreSQL database; ``migrations``: their tables), and its dumps to a file as
tables or as the book's training data (``dumps``). Beside it in a shared database: rate limits
(``buckets``) and file jobs (``job_table``) that every worker and replica counts and reads."""

from .dumps import TABLE_DUMP_FORMATS, dump, dump_formats
from .job_table import JobTable
from .locations import history_location, is_database_url
from .store import History, HistoryError, model_identity

__all__ = ["History", "HistoryError", "JobTable", "TABLE_DUMP_FORMATS", "dump", "dump_formats", "history_location",
           "is_database_url", "model_identity"]
