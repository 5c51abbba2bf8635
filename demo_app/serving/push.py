"""``python -m demo_app push SPACE_ID [DIR]``: an exported folder uploaded to a Hugging Face Space.

The upload itself is ``huggingface_hub``'s (``create_repo`` as a Docker Space, ``upload_folder``,
``add_space_secret``/``add_space_variable``): the hub's own client knows its protocol, LFS and
Xet included. What this module adds is what a student needs around it:

- the token comes from ``HF_TOKEN`` or the notebook's Colab secret, never from the command line,
  and is never printed;
- it is checked before anything is uploaded (``/api/whoami-v2``): a refused or read-only token
  is one sentence with its fix, not a failed upload of 400 MB;
- every call has a time limit (the hub's client waits forever by default), so a hub that stops
  answering is an error that says so;
- settings the Space needs (the history's URL, the owner's password) are set as its secrets,
  read from this process's environment by name, so they never appear in ``ps`` either.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Sequence

DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT_S = 60.0  # each request to the hub: connecting, and waiting for each answer
TOKEN_HELP = "make a write token at https://huggingface.co/settings/tokens"


class HubError(RuntimeError):
    """The Hugging Face Hub refused or did not answer; the message says what to fix."""


def hub_endpoint() -> str:
    """The hub's address: ``HF_ENDPOINT`` (as ``huggingface_hub`` reads it), else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_token(token: Optional[str] = None) -> str:
    """``token``, else ``HF_TOKEN``, else the Colab secret ``HF_TOKEN``."""
    from ..colab import colab_secret

    found = token or os.environ.get("HF_TOKEN") or colab_secret("HF_TOKEN")
    if not found:
        raise HubError(f"no Hugging Face token: {TOKEN_HELP} and set it as HF_TOKEN (in Colab: "
                       "a secret named HF_TOKEN, with 'Notebook access' on)")
    return found


def check_token(token: str, timeout_s: float = TIMEOUT_S) -> str:
    """The name of the token's user, if the hub accepts it for writing; else :class:`HubError`."""
    request = urllib.request.Request(hub_endpoint() + "/api/whoami-v2",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - https or HF_ENDPOINT
            user = json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 401:
            raise HubError(f"Hugging Face refused the token (401 Unauthorized): {TOKEN_HELP}") from None
        raise HubError(f"{hub_endpoint()} answered {error.code} {error.reason} to the token check") from None
    except (urllib.error.URLError, OSError) as error:
        raise HubError(_unreachable(error, timeout_s)) from None
    role = (user.get("auth") or {}).get("accessToken", {}).get("role")
    if role == "read":
        raise HubError(f"the token can only read, and a Space is written: {TOKEN_HELP} (role 'write')")
    return str(user.get("name") or "")


def push_to_space(directory, space_id: str, token: Optional[str] = None, *, private: bool = False,
                  secrets: Sequence[str] = (), variables: Optional[Dict[str, str]] = None,
                  timeout_s: float = TIMEOUT_S, say: Callable[[str], None] = print) -> str:
    """Upload an exported folder to the Space ``space_id`` ("user/name"), made as a Docker Space
    if it does not exist; returns its address.

    ``token``: a write token (default: ``HF_TOKEN`` or the Colab secret), checked first.
    ``secrets``: names of environment variables whose values become the Space's secrets
    (``DEMO_APP_HISTORY``, ``DEMO_APP_AUTH``); ``variables``: the Space's plain variables."""
    directory = Path(directory).expanduser()
    if not (directory / "Dockerfile").is_file():
        raise FileNotFoundError(f"{directory} is not an exported demo (no Dockerfile): run export first")
    secret_values = {name: _environment_value(name) for name in secrets}
    token = hub_token(token)
    user = check_token(token, timeout_s)
    say(f"Pushing {directory} to the Space {space_id} as {user or 'the token’s user'}...")
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_endpoint(), token=token)
    with hub_time_limit(timeout_s), _hub_errors(space_id, timeout_s):
        api.create_repo(space_id, repo_type="space", space_sdk="docker", private=private, exist_ok=True)
        api.upload_folder(folder_path=str(directory), repo_id=space_id, repo_type="space",
                          commit_message="demo_app export")
        for name, value in secret_values.items():
            api.add_space_secret(space_id, name, value)
        for name, value in (variables or {}).items():
            api.add_space_variable(space_id, name, value)
    return f"{hub_endpoint()}/spaces/{space_id}"


def _environment_value(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise HubError(f"the secret {name} is to be set on the Space, but {name} is not set here: "
                       f"set it in this environment (never on the command line)")
    return value


@contextlib.contextmanager
def hub_time_limit(timeout_s: float) -> Iterator[None]:
    """Give ``huggingface_hub``'s HTTP client a time limit for the block, then its default back.

    Through the hook each version offers for its own client: ``set_client_factory`` (httpx,
    huggingface_hub 1.0 and later) or ``configure_http_backend`` (requests, before 1.0)."""
    import huggingface_hub

    if hasattr(huggingface_hub, "set_client_factory"):
        from huggingface_hub.utils._http import default_client_factory

        def limited_client():
            client = default_client_factory()
            client.timeout = timeout_s
            return client

        def install():
            huggingface_hub.set_client_factory(limited_client)

        def restore():
            huggingface_hub.set_client_factory(default_client_factory)
    else:
        import requests

        class LimitedSession(requests.Session):
            def request(self, *args, **kwargs):
                kwargs["timeout"] = kwargs.get("timeout") or timeout_s
                return super().request(*args, **kwargs)

        def install():
            huggingface_hub.configure_http_backend(backend_factory=LimitedSession)

        def restore():
            huggingface_hub.configure_http_backend()
    install()
    try:
        yield
    finally:
        restore()


@contextlib.contextmanager
def _hub_errors(space_id: str, timeout_s: float) -> Iterator[None]:
    """The hub's errors as one sentence: refused, not answering, or what it said."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - each kind becomes its sentence below
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            raise HubError(f"Hugging Face refused to write the Space {space_id} ({status}): the token must be "
                           f"a write token of its owner (or of its organisation's member); {TOKEN_HELP}") from None
        if _timed_out(error):
            raise HubError(f"{hub_endpoint()} did not answer within {timeout_s:g} s; try again later "
                           "(the Space keeps what was uploaded before)") from None
        if status is not None:
            raise HubError(f"Hugging Face answered {status} for the Space {space_id}: {_first_line(error)}") from None
        raise


def _timed_out(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a time limit: httpx's, requests' or a socket's."""
    seen: Optional[BaseException] = error
    while seen is not None:
        if isinstance(seen, (socket.timeout, TimeoutError)) or "Timeout" in type(seen).__name__:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _unreachable(error: BaseException, timeout_s: float) -> str:
    reason = getattr(error, "reason", error)
    if _timed_out(error) or isinstance(reason, (socket.timeout, TimeoutError)):
        return f"{hub_endpoint()} did not answer within {timeout_s:g} s; check the network and try again"
    return f"cannot reach {hub_endpoint()} ({reason}); check the network and try again"


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
