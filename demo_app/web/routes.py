"""What each route is, said where the route is written: ``@answers_json`` (errors too) and
``@costs_work`` (runs the model: counted by the rate limit; JSON too), and ``@body_limit`` for a
route that takes larger bodies than the rest (a data file). The guards and error handlers read
these marks from the app's URL map (``read_marks``) instead of keeping their own lists of paths.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, FrozenSet, Tuple, TypeVar

from flask import Flask

View = TypeVar("View", bound=Callable)


def answers_json(view: View) -> View:
    """A route that answers JSON: its errors, and 404s under its first path part, are JSON."""
    view.demo_api = True  # type: ignore[attr-defined]
    return view


def costs_work(view: View) -> View:
    """An API route that runs the model: counted by the rate limit."""
    view.demo_costs_work = True  # type: ignore[attr-defined]
    return answers_json(view)


def body_limit(setting: str) -> Callable[[View], View]:
    """A route whose bodies may be as large as the WebOptions field ``setting``."""
    def mark(view: View) -> View:
        view.demo_body_limit = setting  # type: ignore[attr-defined]
        return view
    return mark


@dataclasses.dataclass(frozen=True)
class RouteMarks:
    """The marks of an app's routes: endpoints that cost work, the path prefixes of API routes
    (``/jobs`` for ``/jobs/<job_id>``) and the paths with their own body-limit setting."""

    costing_work: FrozenSet[str]
    api_prefixes: Tuple[str, ...]
    body_limits: Dict[str, str]

    def is_api_path(self, path: str) -> bool:
        path = path.rstrip("/") or "/"
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.api_prefixes)


def read_marks(app: Flask) -> RouteMarks:
    """The marks of every route registered on ``app`` (call it after the blueprints)."""
    costing, prefixes, limits = set(), set(), {}  # type: Tuple[set, set, Dict[str, str]]
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "demo_costs_work", False):
            costing.add(rule.endpoint)
        if getattr(view, "demo_api", False):
            prefixes.add("/" + rule.rule.strip("/").split("/")[0])
        setting = getattr(view, "demo_body_limit", None)
        if setting:
            limits[rule.rule] = setting
    return RouteMarks(frozenset(costing), tuple(sorted(prefixes)), limits)
