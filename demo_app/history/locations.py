"""Where a history lives: a SQLite file path, or a database URL, told apart before anything is made.

A hosting platform hands out PostgreSQL as ``postgres://`` (Heroku, Render) or ``postgresql://``
in ``DATABASE_URL``; SQLAlchemy names the same database ``postgresql+psycopg://`` (the driver
demo_app installs). All of these reach PostgreSQL through psycopg 3. ``sqlite:///path`` and a
plain path are a SQLite file. Any other URL is an error naming what is supported: a URL must
never become a file name (with its password in it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

import sqlalchemy as sa

# The URL schemes that reach PostgreSQL; each is read by psycopg 3, the driver requirements.txt installs.
POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2", "postgresql+psycopg3")
SUPPORTED = ("a SQLite file path (or sqlite:///PATH), or a PostgreSQL URL: postgresql://, postgres:// or "
             "postgresql+psycopg://")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_database_url(location) -> bool:
    """True for a database URL (``postgresql://...``, ``sqlite:///...``); False for a file path."""
    return isinstance(location, str) and _SCHEME.match(location) is not None


def database_url(location: str) -> sa.URL:
    """The SQLAlchemy URL for ``location``; ``ValueError`` (without the location, which may hold
    a password) for a scheme demo_app cannot use."""
    match = _SCHEME.match(location)
    if match is None:
        return sa.URL.create("sqlite", database=str(Path(location).expanduser()))
    scheme = match.group(1).lower()
    if scheme in POSTGRES_SCHEMES:
        return sa.make_url("postgresql+psycopg://" + location[match.end():])
    if scheme == "sqlite" and location[match.end():].startswith("/") and len(location) > match.end() + 1:
        return sa.URL.create("sqlite", database=str(Path(location[match.end() + 1:]).expanduser()))
    raise ValueError(f"the history cannot be kept in a {scheme}:// database; use {SUPPORTED}")


def history_location(given: Optional[str], environ=os.environ) -> Optional[str]:
    """The history the user asked for: ``given`` (a flag or ``DEMO_APP_HISTORY``), where the
    word ``DATABASE_URL`` (or ``$NAME``) names an environment variable holding the URL, so that
    a password never has to be typed on a command line (``ps`` shows those to every user)."""
    if not given:
        return None
    name = given[1:] if given.startswith("$") else given if given == "DATABASE_URL" else None
    if name is None:
        return given
    value = environ.get(name)
    if not value:
        raise ValueError(f"the history is to be read from ${name}, which is not set")
    return value
