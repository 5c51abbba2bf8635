"""Making the local server public: ngrok (through pyngrok), an SSH reverse tunnel, or Colab's
in-notebook proxy. Every failure becomes one ``TunnelError`` sentence naming the cause and the
fix; the local server is never affected.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..colab import colab_secret, colab_secret_problem, in_colab, show_in_notebook

TOKEN_VARIABLE = "NGROK_AUTHTOKEN"
TIMEOUT_S = 15.0
NO_TOKEN_MESSAGE = (
    f"no ngrok authtoken: get one at https://dashboard.ngrok.com/get-started/your-authtoken and "
    f"set it as the environment variable {TOKEN_VARIABLE} (in Colab: a secret named "
    f"{TOKEN_VARIABLE}, key icon in the sidebar), or use tunnel='ssh' for a public URL without "
    "an account"
)


class TunnelError(RuntimeError):
    """The public URL could not be opened; the message says why and what to do."""


class Tunnel:
    """An open tunnel: ``public_url`` (None for Colab's private proxy) and ``close()``."""

    provider = "none"
    public_url: Optional[str] = None
    # Entries this tunnel appends to X-Forwarded-For, which the app may trust (visitors.py). Only
    # ngrok's edge documents that it appends the visitor's address; an ssh -R tunnel forwards
    # bytes (localhost.run documents no such header), and Colab's proxy serves only you.
    forwarded_hops = 0

    def close(self) -> None:
        _open_tunnels.discard(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.public_url or '(no public URL)'}>"


_open_tunnels: "set[Tunnel]" = set()
_lock = threading.Lock()


def open_tunnel(port: int, provider: str = "ngrok", **options) -> Tunnel:
    """Open a tunnel to the local ``port``; returns a handle with ``public_url`` and ``close()``.

    provider="ngrok": options ``authtoken`` (else ``$NGROK_AUTHTOKEN``, else the Colab secret
        ``NGROK_AUTHTOKEN``), ``auth="user:password"`` (visitor basic auth at ngrok's edge),
        ``ngrok_path`` (else ``$PYNGROK_NGROK_PATH``). In Colab without a token the app is shown
        inside the notebook instead (visible to you only).
    provider="ssh": options ``ssh_host`` (default localhost.run), ``user``, ``ssh_port``,
        ``remote_port``, ``identity_file``, ``ssh_options``: runs ``ssh -R``, reads the URL.
    provider="colab": the in-notebook view through Colab's port proxy (no public URL).

    A tunnel this process opened earlier with the same provider is closed first, so re-running
    a cell replaces it. Raises TunnelError within about 15 s on any failure.
    """
    providers = {"ngrok": NgrokTunnel, "ssh": SshTunnel, "colab": ColabView}
    if provider not in providers:
        raise TunnelError(f"unknown tunnel provider {provider!r}; use one of {', '.join(providers)}")
    with _lock:
        for earlier in [t for t in _open_tunnels if t.provider == provider]:
            earlier.close()
        if provider == "ngrok":
            # Looked up once: in Colab, reading the secret may ask the user for access.
            options["authtoken"] = _find_token(options.get("authtoken"))
            if not options["authtoken"] and in_colab():
                print(f"No ngrok token ({colab_secret_problem(TOKEN_VARIABLE)}), so the app is "
                      "shown below, visible only to you in this notebook. For a public URL fix "
                      "that, or use tunnel='ssh'.")
                provider = "colab"
        tunnel = providers[provider](port, **options)
        _open_tunnels.add(tunnel)
        return tunnel


@atexit.register
def close_all() -> None:
    """Close every tunnel this process opened (also run at interpreter exit)."""
    for tunnel in list(_open_tunnels):
        tunnel.close()


# -- ngrok -----------------------------------------------------------------------------------


def _find_token(explicit: Optional[str]) -> Optional[str]:
    token = explicit or os.environ.get(TOKEN_VARIABLE) or colab_secret(TOKEN_VARIABLE)
    if not token:
        return None
    # nlpbook's instructions led students to paste "{token}" or quote it.
    token = token.strip().strip("'\"").strip()
    if token.startswith("{") and token.endswith("}"):
        token = token[1:-1].strip()
    return token or None


class NgrokTunnel(Tunnel):
    provider = "ngrok"
    forwarded_hops = 1

    def __init__(self, port: int, authtoken: Optional[str] = None, auth: Optional[str] = None,
                 ngrok_path: Optional[str] = None, timeout: float = TIMEOUT_S) -> None:
        token = _find_token(authtoken)  # cleaned again: NgrokTunnel may be used directly
        if not token:
            raise TunnelError(NO_TOKEN_MESSAGE)
        self._token = token
        self._config_dir = tempfile.TemporaryDirectory(prefix="demo_app-ngrok-")
        self._pyngrok_config = self._make_config(token, ngrok_path)
        self._ngrok_tunnel = None
        options = {"basic_auth": [auth]} if auth else {}
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        future = pool.submit(self._connect, port, options)
        pool.shutdown(wait=False)
        try:
            self._ngrok_tunnel = future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            self._kill_agent()
            raise TunnelError(f"ngrok did not answer within {timeout:g} s (no internet access, or "
                              "ngrok is blocked here); try tunnel='ssh'") from None
        except Exception as error:  # noqa: BLE001 - pyngrok's many error types mean one thing here
            self._kill_agent()
            raise TunnelError(self._explain(error)) from None
        except BaseException:  # Ctrl-C or SIGTERM while the agent starts: let it start, then end it
            concurrent.futures.wait([future], timeout=timeout)
            self._kill_agent()
            raise
        self.public_url = self._ngrok_tunnel.public_url

    def _make_config(self, token: str, ngrok_path: Optional[str]):
        from pyngrok import conf

        # The token goes into a private config file: pyngrok would otherwise put it on the
        # agent's command line (visible in `ps`), and it reads $NGROK_AUTHTOKEN for that.
        config_path = Path(self._config_dir.name) / "ngrok.yml"
        version = getattr(conf.get_default(), "config_version", "2")
        body = (f'version: "3"\nagent:\n  authtoken: {token}\n' if version == "3"
                else f'version: "2"\nauthtoken: {token}\n')
        config_path.touch(mode=0o600)
        config_path.write_text(body)
        settings: Dict[str, Any] = {"config_path": str(config_path)}
        path = ngrok_path or os.environ.get("PYNGROK_NGROK_PATH")
        if path:
            settings["ngrok_path"] = path
        config = conf.PyngrokConfig(**settings)
        config.auth_token = None
        return config

    def _connect(self, port: int, options: dict):
        from pyngrok import ngrok

        return ngrok.connect(str(port), "http", pyngrok_config=self._pyngrok_config, **options)

    def _explain(self, error: Exception) -> str:
        # pyngrok's message, the agent's own error and its log lines all may name the cause.
        logs = [getattr(line, "err", None) or "" for line in getattr(error, "ngrok_logs", None) or []]
        parts = [str(error), getattr(error, "ngrok_error", None) or ""] + logs
        text = " ".join(parts).replace(self._token, "***")
        causes = [
            ("ERR_NGROK_4018", "ngrok refused an account-less session: sign up at "
                               "https://dashboard.ngrok.com/signup and set " + TOKEN_VARIABLE),
            ("ERR_NGROK_108", "ngrok allows one agent session per free account and another one is "
                              "running (an earlier Colab runtime or a terminal): stop it "
                              "(`pkill ngrok`, or restart the runtime) or end it at "
                              "https://dashboard.ngrok.com/agents"),
            ("ERR_NGROK_105", "ngrok rejected the authtoken: copy it again from "
                              "https://dashboard.ngrok.com/get-started/your-authtoken, without "
                              "braces or quotes, into " + TOKEN_VARIABLE),
            ("ERR_NGROK_107", "ngrok rejected the authtoken (it was reset?): copy the current one "
                              "from https://dashboard.ngrok.com/get-started/your-authtoken into "
                              + TOKEN_VARIABLE),
            ("authentication failed", "ngrok rejected the authtoken: check " + TOKEN_VARIABLE),
        ]
        for marker, message in causes:
            if marker in text:
                return message
        if "install" in type(error).__name__.lower() or "download" in text.lower():
            return ("could not download the ngrok agent (no internet access?): install ngrok and "
                    "set PYNGROK_NGROK_PATH to it, or try tunnel='ssh'")
        first_line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        return f"ngrok failed: {first_line[:200]}"

    def _kill_agent(self) -> None:
        try:
            from pyngrok import ngrok

            ngrok.kill(self._pyngrok_config)
        except Exception:  # noqa: BLE001 - nothing more to clean up
            pass

    def close(self) -> None:
        super().close()
        if self._ngrok_tunnel is not None:
            try:
                from pyngrok import ngrok

                ngrok.disconnect(self._ngrok_tunnel.public_url, self._pyngrok_config)
            except Exception:  # noqa: BLE001 - the agent may already be gone
                pass
            self._ngrok_tunnel = None
        self._kill_agent()
        self._config_dir.cleanup()


# -- ssh -------------------------------------------------------------------------------------

_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d+)?")
_ALLOCATED_PORT = re.compile(r"Allocated port (\d+) for remote forward")


class SshTunnel(Tunnel):
    """``ssh -R REMOTE_PORT:localhost:PORT user@host``, reading the public URL the server prints
    (services like localhost.run), or the port OpenSSH allocates (``remote_port=0``)."""

    provider = "ssh"

    def __init__(self, port: int, ssh_host: str = "localhost.run", user: str = "nokey",
                 ssh_port: int = 22, remote_port: int = 80, identity_file: Optional[str] = None,
                 ssh_options: Optional[List[str]] = None, timeout: float = TIMEOUT_S) -> None:
        ssh = shutil.which("ssh")
        if not ssh:
            raise TunnelError("ssh is not installed: install OpenSSH (apt-get install openssh-client)"
                              " or use tunnel='ngrok'")
        command = [ssh, "-T", "-p", str(ssh_port), "-R", f"{remote_port}:localhost:{port}",
                   "-o", "StrictHostKeyChecking=accept-new", "-o", "ServerAliveInterval=30",
                   "-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes"]
        if identity_file:
            command += ["-i", identity_file]
        command += list(ssh_options or []) + [f"{user}@{ssh_host}"]
        self.host = ssh_host
        # stdin stays open: some services print the URL only to an interactive session.
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._output: List[str] = []
        self._found = threading.Event()
        threading.Thread(target=self._read_output, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._found.wait(0.05):
            if self._process.poll() is not None or time.monotonic() > deadline:
                reason = self._failure_reason(timed_out=self._process.poll() is None)
                self.close()
                raise TunnelError(reason)

    def _read_output(self) -> None:
        assert self._process.stdout is not None  # started with stdout=PIPE
        for line in self._process.stdout:
            self._output.append(line.rstrip())
            if not self._found.is_set():
                url = self._url_in(line)
                if url:
                    self.public_url = url
                    self._found.set()

    def _url_in(self, line: str) -> Optional[str]:
        allocated = _ALLOCATED_PORT.search(line)
        if allocated:
            return f"http://{self.host}:{allocated.group(1)}"
        for url in _URL.findall(line):
            # A tunnel URL is a generated subdomain of the service, not its docs or home page.
            hostname = url.split("://", 1)[1].split(":")[0]
            if hostname.count(".") >= 2 and not hostname.startswith(("www.", "docs.", "admin.")):
                return url
        return None

    def _failure_reason(self, timed_out: bool) -> str:
        last = next((line for line in reversed(self._output) if line.strip()), "")
        if timed_out:
            return (f"ssh to {self.host} printed no public URL within {TIMEOUT_S:g} s"
                    f"{': ' + last if last else ''}")
        return f"ssh to {self.host} failed: {last or 'exited with code ' + str(self._process.returncode)}"

    def close(self) -> None:
        super().close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()


# -- Colab -----------------------------------------------------------------------------------


class ColabView(Tunnel):
    """The app inside the notebook through Colab's port proxy: visible to the notebook's user
    only, so ``public_url`` stays None."""

    provider = "colab"

    def __init__(self, port: int, height: int = 720, **_ignored) -> None:
        if not in_colab():
            raise TunnelError("tunnel='colab' works only inside Google Colab; use 'ngrok' or 'ssh'")
        show_in_notebook(port, height)
