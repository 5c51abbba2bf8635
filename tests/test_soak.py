"""A bounded soak on 127.0.0.1: wrk sends valid and invalid requests from 8 connections for
2 x 8 s to a real `python -m demo_app serve`; no 5xx, no socket
errors, memory flat from the first half to the second."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from helpers import free_port, wait_until_serving

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent

WRK_SCRIPT = r"""
local bodies = {
  {"/api", "application/json", '"이 영화 정말 재밌어요"'},
  {"/predict", "application/json", '{"sentences": ["좋아요", "시간이 아까웠습니다", "배우들 연기가 좋았다"]}'},
  {"/api", "application/json", 'null'},
  {"/api", "application/json", '{"sentence": 5'},
  {"/predict", "text/plain", 'hello'},
  {"/predict", "application/json", '{"sentence": "   "}'},
  {"/api", "application/json", '"' .. string.rep("가", 2500) .. '"'},
  {"/nothing", "application/json", '"x"'},
  {"/predict", "application/json", '{"sentence": "\\ud800"}'},
  {"/predict", "application/json", '{"sentence": "x", "n": ' .. string.rep("9", 5000) .. '}'},
}
local threads = {}
local i = 0
function setup(thread) table.insert(threads, thread) end
function init(args) server_errors = 0; client_errors = 0; ok = 0 end
function request()
  i = i % #bodies + 1
  local b = bodies[i]
  return wrk.format("POST", b[1], {["Content-Type"] = b[2]}, b[3])
end
function response(status, headers, body)
  if status >= 500 then server_errors = server_errors + 1
  elseif status >= 400 then client_errors = client_errors + 1
  else ok = ok + 1 end
end
function done(summary, latency, requests)
  local s, c, o = 0, 0, 0
  for _, t in ipairs(threads) do s = s + t:get("server_errors"); c = c + t:get("client_errors"); o = o + t:get("ok") end
  io.write(string.format("RESULT ok=%d client_errors=%d server_errors=%d\n", o, c, s))
end
"""


def rss_mb(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def run_wrk(url, script, seconds):
    output = subprocess.run(["wrk", "-t", "2", "-c", "8", "-d", f"{seconds}s", "--timeout", "10s",
                             "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 60).stdout
    result = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", output.split("RESULT", 1)[1]))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["socket_errors"] = sum(map(int, socket_errors.groups())) if socket_errors else 0
    return result


@pytest.mark.skipif(not shutil.which("wrk"), reason="wrk not installed (make test installs it)")
def test_soak_valid_and_invalid_requests(tmp_path):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "demo_app", "serve", "--port", str(port)], cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    script = tmp_path / "soak.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    try:
        wait_until_serving(url, server)
        first = run_wrk(url, script, 8)  # also the warm-up: allocator pools, caches
        after_first = rss_mb(server.pid)
        second = run_wrk(url, script, 8)
        after_second = rss_mb(server.pid)
        for result in (first, second):
            assert result["server_errors"] == 0, result
            assert result["socket_errors"] == 0, result
            assert result["ok"] > 100, result
            assert result["client_errors"] > 100, result
        assert after_second - after_first < 30, f"memory grew {after_first:.0f} -> {after_second:.0f} MB"
        assert requests.post(url + "/api", json="재밌어요", timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
