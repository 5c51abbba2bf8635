"""A stand-in for the Hugging Face Hub, which cannot be reached from the tests: a real HTTP server
on 127.0.0.1 answering the few endpoints ``huggingface_hub`` calls to push a folder to a Space
(``HF_ENDPOINT`` points the client at it). It keeps what it was sent, so a test can check it.

- ``GET /api/whoami-v2``: the token ``hf_write`` is a write token of "student", ``hf_read`` a
  read-only one; any other is a 401, as the hub answers.
- ``POST /api/repos/create``, ``/api/spaces/<id>/preupload/<rev>`` (every file "regular", so its
  bytes come in the commit), ``/api/spaces/<id>/commit/<rev>`` (an NDJSON commit: each file's
  path and base64 content), ``/api/spaces/<id>/secrets`` and ``/variables``.

``silent=True`` makes a hub that accepts connections and never answers a request after the token
check (``silent="all"``: not even that), as a hub behind a broken proxy does.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Union

USERS = {"hf_write": "write", "hf_read": "read"}


class FakeHub:
    def __init__(self, silent: Union[bool, str] = False) -> None:
        self.silent = silent
        self.requests: List[str] = []  # "METHOD /path", in order
        self.files: Dict[str, bytes] = {}
        self.repos: List[Dict[str, Any]] = []
        self.secrets: Dict[str, str] = {}
        self.variables: Dict[str, str] = {}
        self.release = threading.Event()  # ends the silent hub's waits at close
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.requests.append(f"{self.command} {self.path}")
                whoami = self.path.startswith("/api/whoami")
                if hub.silent == "all" or (hub.silent and not whoami):
                    hub.release.wait(120)  # connected, never answered
                    return
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if token not in USERS:
                    return self._send(401, {"error": "Invalid credentials in Authorization header"})
                if whoami:
                    return self._send(200, {"type": "user", "name": "student",
                                            "auth": {"type": "access_token", "accessToken": {"role": USERS[token]}}})
                if USERS[token] != "write":
                    return self._send(403, {"error": "You don't have the rights to write to this repo"})
                self._send(200, hub._write(self.path, body))

            def _send(self, status: int, answer: Dict[str, Any]) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _write(self, path: str, body: bytes) -> Dict[str, Any]:
        if path == "/api/repos/create":
            self.repos.append(json.loads(body))
            return {"url": "https://huggingface.co/spaces/student/demo"}  # as the hub answers, whatever its address
        if "/preupload/" in path:
            files = json.loads(body)["files"]
            return {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
        if "/commit/" in path:
            for line in body.decode().splitlines():
                entry = json.loads(line)
                if entry.get("key") == "file":
                    self.files[entry["value"]["path"]] = base64.b64decode(entry["value"]["content"])
            return {"commitUrl": "https://huggingface.co/spaces/student/demo/commit/1", "commitOid": "1" * 40,
                    "pullRequestUrl": None}
        if path.endswith("/secrets"):
            entry = json.loads(body)
            self.secrets[entry["key"]] = entry["value"]
            return {}
        if path.endswith("/variables"):
            entry = json.loads(body)
            self.variables[entry["key"]] = entry["value"]
            return {entry["key"]: {"value": entry["value"]}}
        return {}
