"""A zygote for the tests' command lines: one process imports torch, transformers and demo_app
once, then forks a child for each command it is sent, a process of its own that runs it as
``python`` would (runpy, as ``__main__``, in its folder, with its environment, its output in
files), a couple of seconds sooner than a fresh Python. ``python tests/zygote.py`` serves JSON
lines on stdin; ``Zygote`` is the tests' side. Settings read when huggingface_hub or transformers
is imported (``HF_*``, ``TRANSFORMERS_*``) are the zygote's own: ``zygote_for`` makes one per
value of them.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

IMPORT_TIME_SETTINGS = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_")


def serve() -> None:
    """Serve fork requests on stdin (see the module's docstring), answering each on stdout:
    ``{"pid": N}`` for a server (``"background": true``), else ``{"code": N}`` when it ends; a
    later ``{"reap": N}`` answers a server's exit code."""
    import runpy

    import torch  # noqa: F401 - what every command imports first
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # noqa: F401 - the model registry

    import demo_app.cli  # noqa: F401
    import demo_app.loading  # noqa: F401
    import demo_app.serving  # noqa: F401
    import demo_app.web  # noqa: F401

    transformers.logging.set_verbosity_error()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if "reap" in request:
            print(json.dumps({"code": _exit_code(os.waitpid(request["reap"], 0)[1])}), flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            _child(request, runpy)
        if request.get("background"):
            print(json.dumps({"pid": pid}), flush=True)
        else:
            print(json.dumps({"code": _exit_code(os.waitpid(pid, 0)[1])}), flush=True)


def _child(request: Dict[str, Any], runpy: Any) -> None:
    """In the forked child: become the command, then end with its exit code."""
    code = 0
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for descriptor, path in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), descriptor)
        sys.stdin = open(os.devnull)
        arguments = request["argv"]
        if arguments[0] == "-m":
            sys.argv = [arguments[1], *arguments[2:]]
            runpy.run_module(arguments[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(arguments)
            runpy.run_path(arguments[0], run_name="__main__")
    except SystemExit as end:
        code = end.code if isinstance(end.code, int) else (0 if end.code is None else 1)
    except BaseException:  # noqa: BLE001 - the command's own traceback, as python prints it
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status)


class Zygote:
    """The tests' side of a zygote started with ``environment``."""

    def __init__(self, environment: Dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=environment, cwd=Path(__file__).resolve().parent.parent)
        assert self._answer() == {"ready": True}

    def _answer(self, timeout: float = 600) -> Dict[str, Any]:
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not readable:
            raise subprocess.TimeoutExpired("zygote", timeout)
        return json.loads(self.process.stdout.readline())

    def _send(self, request: Dict[str, Any], timeout: float = 600) -> Dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._answer(timeout)

    def start(self, arguments: List[str], cwd: Path, environment: Dict[str, str], output: Path,
              errors: Path) -> int:
        """``python ARGUMENTS`` started: its pid (a child of the zygote, not of this process)."""
        return self._send({"argv": arguments, "cwd": str(cwd), "env": environment, "stdout": str(output),
                           "stderr": str(errors), "background": True})["pid"]

    def wait(self, pid: int, timeout: float = 600) -> int:
        """The exit code of the command ``pid``; killed after ``timeout`` seconds."""
        try:
            return self._send({"reap": pid}, timeout)["code"]
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            self._answer()
            raise

    def run(self, arguments: List[str], cwd: Path, environment: Dict[str, str], output: Path, errors: Path,
            timeout: float = 600) -> int:
        """``python ARGUMENTS`` to its end: its exit code."""
        return self.wait(self.start(arguments, cwd, environment, output, errors), timeout)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


class ZygoteChild:
    """A command a zygote started, seen from the tests (a child of the zygote, not of this
    process): ``poll()`` is None while it runs, as ``subprocess.Popen.poll`` is."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def poll(self):
        try:  # a zombie has ended; its exit code is the zygote's to read (Zygote.wait)
            running = Path(f"/proc/{self.pid}/stat").read_text().split(") ")[1][0] != "Z"
        except (OSError, IndexError):
            running = False
        return None if running else -1


_ZYGOTES: Dict[Tuple[Tuple[str, str], ...], Zygote] = {}


def zygote_for(environment: Dict[str, str]) -> Zygote:
    """The zygote whose import-time settings are ``environment``'s (started at first use)."""
    key = tuple(sorted((name, value) for name, value in environment.items() if name.startswith(IMPORT_TIME_SETTINGS)))
    if key not in _ZYGOTES:
        _ZYGOTES[key] = Zygote(environment)
    return _ZYGOTES[key]


@atexit.register
def _close_all() -> None:
    for zygote in _ZYGOTES.values():
        zygote.close()


if __name__ == "__main__":
    serve()
