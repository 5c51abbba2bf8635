"""Settings from the environment, read in one place by the CLI, ``wsgi`` and the exported app.

A host configures an app through environment variables (a Space's "Variables and secrets",
Heroku's config vars, a Dockerfile's ``ENV``); a secret set there stays out of ``ps``, where a
command line's arguments are shown to every user of the machine. Each variable is listed once
here, with what it means (the docs' settings table, docs/deployment.md, says the same), and a value that cannot be
read is an error that names its variable.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, Mapping, Optional


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("must be a whole number") from None


def whole_number(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def positive_number(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise ValueError("must be 1 or more")
    return value


def port_number(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise ValueError("must be a port number, 0 to 65535")
    return value


def comma_list(text: str) -> list:
    return [part.strip() for part in text.split(",") if part.strip()]


def rate(text: str) -> str:
    from .web.rate_limits import parse_rate

    parse_rate(text)  # raises with what is wrong
    return text


@dataclasses.dataclass(frozen=True)
class Setting:
    variable: str
    meaning: str
    default: str
    read: Callable[[str], Any] = str


SETTINGS: Dict[str, Setting] = {setting.variable: setting for setting in (
    Setting("DEMO_APP_PRETRAINED_MODEL_NAME", "hub name or folder of the base model (an exported app: `model`)",
            "`beomi/kcbert-base` with a checkpoint; none: the demo model"),
    Setting("DEMO_APP_DOWNSTREAM_MODEL_DIR", "the checkpoint folder (its lowest `val_loss` is served)", "none"),
    Setting("DEMO_APP_DOWNSTREAM_MODEL_CHECKPOINT_FPATH", "one checkpoint file", "none"),
    Setting("DEMO_APP_TASK", "`classification`, `pair-classification`, `ner`, `qa`, `generation`, "
            "`image-classification`", "recognised from the checkpoint"),
    Setting("DEMO_APP_MAX_SEQ_LENGTH", "tokens read per input", "128", positive_number),
    Setting("DEMO_APP_DEVICE", "`auto`, `cpu` or `cuda`", "`auto`"),
    Setting("DEMO_APP_PRECISION", "`auto`, `fp32`, `bf16` or `fp16`", "`auto`"),
    Setting("DEMO_APP_BACKEND", "`auto`, `torch` or `openvino`", "`auto`"),
    Setting("DEMO_APP_CACHE", "where OpenVINO conversions are kept between starts", "`~/.cache/demo_app`"),
    Setting("DEMO_APP_AUTH", "`user:password` visitors must give (a secret: never logged)", "none"),
    Setting("DEMO_APP_RATE_LIMIT", "requests per visitor, e.g. `30/minute`", "none", rate),
    Setting("DEMO_APP_CORS_ORIGINS", "comma-separated origins allowed to call the API", "none", comma_list),
    Setting("DEMO_APP_FORWARDED_HOPS", "proxies in front of the app whose `X-Forwarded-*` headers are trusted, "
            "from any address (1 behind a Space's, a container host's or one nginx)",
            "0 (`serve --tunnel`: 1; an exported app: 1)", whole_number),
    Setting("DEMO_APP_HISTORY", "a SQLite file, or a PostgreSQL URL several processes share (`postgres://`, "
            "`postgresql://`); `DATABASE_URL` (the word) reads the URL from that variable. Its password is "
            "never printed", "off"),
    Setting("DEMO_APP_JOBS_DIR", "where file jobs are kept, shared by the processes that see it",
            "the temporary folder"),
    Setting("DEMO_APP_HOST", "where `python -m demo_app.wsgi` listens", "`0.0.0.0`"),
    Setting("PORT", "the port `python -m demo_app.wsgi` and the exported app listen on", "8000 (exported: 7860)",
            port_number),
    Setting("WEB_CONCURRENCY", "gunicorn workers in the exported app", "1", positive_number),
)}


class SettingError(ValueError):
    """A variable's value cannot be read; the message names the variable."""


def setting(variable: str, environ: Optional[Mapping[str, str]] = None) -> Any:
    """The value of ``variable`` (one of ``SETTINGS``), read; None when it is unset or empty."""
    text = (os.environ if environ is None else environ).get(variable, "").strip()
    if not text:
        return None
    try:
        return SETTINGS[variable].read(text)
    except ValueError as error:
        shown = "(hidden)" if variable in SECRETS else repr(text[:40])
        raise SettingError(f"{variable}={shown} cannot be used: {error} ({SETTINGS[variable].meaning})") from None


SECRETS = ("DEMO_APP_AUTH", "DEMO_APP_HISTORY")  # never shown, even in an error


def web_options(*, rate_limit: Optional[str] = None, cors_origins: Optional[list] = None,
                forwarded_hops: Optional[int] = None, history: Optional[str] = None) -> Dict[str, Any]:
    """``create_app``'s host settings: each one given (a flag of ``serve``), else its variable.
    The history's location is resolved (``DATABASE_URL``) and its URL checked now, so that an
    unsupported one stops the start before the model loads."""
    from .history.locations import database_url, history_location

    location = history_location(history or setting("DEMO_APP_HISTORY"))
    if location:
        database_url(location)
    hops = forwarded_hops if forwarded_hops is not None else setting("DEMO_APP_FORWARDED_HOPS")
    return {"rate_limit": rate_limit or setting("DEMO_APP_RATE_LIMIT"),
            "cors_origins": cors_origins or setting("DEMO_APP_CORS_ORIGINS") or [],
            "forwarded_hops": hops or 0, "history": location}


def settings_table() -> str:
    """The settings as a Markdown table (docs/deployment.md's, and the exported app's README)."""
    rows = ["| variable | what it sets | default |", "|---|---|---|"]
    rows += [f"| `{s.variable}` | {s.meaning} | {s.default} |" for s in SETTINGS.values()]
    return "\n".join(rows)
