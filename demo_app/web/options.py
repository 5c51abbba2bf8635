"""The options of ``create_app``: limits and protections of the web app (docs/http-api.md, "Limits")."""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence


@dataclasses.dataclass
class WebOptions:
    """Limits and protections of the web app (all documented in docs/http-api.md).

    max_body_bytes: largest request body; larger -> 413. None: the task's (64 KiB; 256 KiB for
        QA, whose context is a passage).
    max_text_chars: longest text field in characters (a sentence, a premise, a question; a task
        may allow more for a field, as QA does for its context); longer -> 413. The model also
        truncates at max_seq_length tokens; this bound keeps tokenizing cheap.
    max_batch_sentences: most inputs in one ``{"inputs": [...]}`` request (a task may allow
        fewer: 8 images); more -> 413.
    max_request_rows: the most sequences of ``max_seq_length`` tokens one request may have the
        model read, priced from its length before any work (a sentence is one; a QA context up
        to one per window); more -> 413.
    request_timeout_s: longest wait for a prediction; longer -> 503 with Retry-After. The page
        gives up 2 s after that and says so.
    cors_origins: origins allowed to call the API from other sites; none by default.
    auth: ``"user:password"`` to require HTTP basic auth from visitors (``/healthz`` stays open);
        ``"user"`` alone makes a strong password, shown once when the app is made
        (``generated_password``). The right password always gets in; wrong ones count against
        ``AUTH_FAILURE_LIMIT`` per visitor (then 429 for that visitor's wrong ones).
    rate_limit: e.g. ``"60/minute"`` per visitor; over it -> 429 with Retry-After. None: no limit.
    rate_limit_total: the ceiling for all visitors together; default ten times ``rate_limit``.
    forwarded_hops: how many proxies in front of the app append the visitor's address to
        ``X-Forwarded-For`` and are trusted (see ``visitors.py``). 0 (the default) trusts none:
        visitors are told apart by their socket address, and everyone arriving through a local
        tunnel agent shares one bucket. ``serve(tunnel="ngrok")`` sets 1 (ngrok appends).
    examples: inputs shown on the page as clickable examples (sentences, or tuples of the task's
        fields); None: the task's own.
    title: the page title; None: the task's.
    history: a SQLite file (or a ``History``) that keeps every prediction and visitors'
        corrections (``demo_app.history``); None (the default) keeps nothing. The page says so.
    max_history_bytes: the history's budget: past it the oldest unflagged rows are removed
        (the owner's view says how many).
    max_file_bytes: the largest file ``POST /predict/file`` takes; larger -> 413.
    max_file_rows: the most rows in one file; more -> 413.
    max_file_columns: the most columns (or JSON fields) in one file; more -> 400.
    max_file_result_bytes: the largest results file a job may write; then it stops and says so.
    sync_file_rows: a file of at most this many rows is answered in the same request (when done
        within ``request_timeout_s``); a larger one gets 202 and a job to poll.
    max_file_jobs: files predicted at the same time (one per visitor); more -> 429.
    max_waiting, max_waiting_large, max_waiting_large_per_visitor: requests that may wait for the
        model at once, of them large ones (priced at more rows than a batch), and large ones
        from one visitor; more -> 503 at once (``waiting_room.py``). Keep ``max_waiting`` below
        the server's threads (48 for ``serve``) so that the page and small requests always find one.
    """

    max_body_bytes: Optional[int] = None
    max_text_chars: int = 2000
    max_batch_sentences: int = 64
    max_request_rows: int = 512
    request_timeout_s: float = 30.0
    cors_origins: Sequence[str] = ()
    auth: Optional[str] = None
    rate_limit: Optional[str] = None
    rate_limit_total: Optional[str] = None
    forwarded_hops: int = 0
    examples: Optional[Sequence] = None
    title: Optional[str] = None
    history: object = None
    max_history_bytes: int = 200 * 1024 * 1024
    max_file_bytes: int = 16 * 1024 * 1024
    max_file_rows: int = 100_000
    max_file_columns: int = 50
    max_file_result_bytes: int = 64 * 1024 * 1024
    sync_file_rows: int = 1000
    max_file_jobs: int = 2
    max_waiting: int = 40
    max_waiting_large: int = 32
    max_waiting_large_per_visitor: int = 2

    def __post_init__(self) -> None:
        if self.auth is not None:
            user, colon, password = self.auth.partition(":")
            if not user or (colon and not password):
                raise ValueError("auth must look like 'user:password', with a user name and a "
                                 "non-empty password (or 'user' alone for a generated password)")
        if not 1 <= self.max_waiting_large_per_visitor <= self.max_waiting_large <= self.max_waiting:
            raise ValueError("the waiting caps must be 1 <= max_waiting_large_per_visitor <= "
                             "max_waiting_large <= max_waiting")
        if not isinstance(self.forwarded_hops, int) or self.forwarded_hops < 0:
            raise ValueError(f"forwarded_hops must be 0 or more, got {self.forwarded_hops!r}")
        self.cors_origins = tuple(self.cors_origins)
