"""Public URLs, offline. The ngrok cloud cannot be reached here, so a stand-in agent
(tests/fake_ngrok/ngrok) replaces it: pyngrok's real code starts it, talks to its local API and
gets tunnels that really forward TCP. The ssh provider runs against a real OpenSSH server on
127.0.0.1. Colab's google.colab module cannot exist here either; where a test needs it, a fake
module stands in and the test says so."""

import getpass
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.request
from pathlib import Path
from typing import List

import pytest
import requests
from helpers import free_port

from demo_app import create_app, serve
from demo_app.serving.tunnel import NO_TOKEN_MESSAGE, TunnelError, open_tunnel

FAKE_NGROK = Path(__file__).resolve().parent / "fake_ngrok" / "ngrok"
TOKEN = "2fakeTokenForTests_DoNotPrint_9f8e7d"


@pytest.fixture
def ngrok_env(monkeypatch):
    monkeypatch.setenv("PYNGROK_NGROK_PATH", str(FAKE_NGROK))
    monkeypatch.setenv("NGROK_AUTHTOKEN", TOKEN)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    yield


@pytest.fixture(scope="module")
def app(demo_classifier):
    return create_app(demo_classifier)


def healthy(url):
    return requests.get(url + "/healthz", timeout=10).status_code == 200


def refused(url):
    try:
        requests.get(url + "/healthz", timeout=3)
    except requests.ConnectionError:
        return True
    return False


def test_ngrok_end_to_end_replace_and_close(ngrok_env, app, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    first = serve(app, port=0, tunnel="ngrok")
    try:
        assert first.public_url
        assert first.public_url != first.url
        assert healthy(first.public_url)  # through the stand-in's forwarding, to our app
        response = requests.post(first.public_url + "/api", json="재밌어요", timeout=10)
        assert response.json()["sentence"] == "재밌어요"
        processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert "fake_ngrok" in processes
        assert TOKEN not in processes

        second = serve(app, port=first.port, tunnel="ngrok")  # a re-run cell: same port
        assert healthy(second.public_url)
        assert refused(first.public_url)
        second.stop()
        assert refused(second.public_url)
        assert refused(second.url)
    finally:
        first.stop()
    output = capfd.readouterr()
    assert "Public URL: http://127.0.0.1:" in output.out
    assert "serving at" in output.out
    assert TOKEN not in output.out + output.err + caplog.text


def test_open_tunnel_directly(ngrok_env, app):
    with serve(app, port=0, quiet=True) as server:
        tunnel = open_tunnel(server.port, "ngrok", authtoken="{" + TOKEN + "}")  # braces forgiven
        try:
            assert healthy(tunnel.public_url)
        finally:
            tunnel.close()
        assert refused(tunnel.public_url)


@pytest.mark.parametrize("token, expected", [
    ("bad-token", "rejected the authtoken"),
    ("busy-token", "one agent session"),
])
def test_ngrok_refusals_become_one_sentence_and_local_server_keeps_serving(
        ngrok_env, app, monkeypatch, capfd, token, expected):
    monkeypatch.setenv("NGROK_AUTHTOKEN", token)
    with serve(app, port=0, tunnel="ngrok") as server:
        assert server.public_url is None
        assert healthy(server.url)
    output = capfd.readouterr()
    assert expected in output.err
    assert "Traceback" not in output.err
    assert f"keeps running at {server.url}" in output.out


def test_missing_token_message_names_the_variable(ngrok_env, app, monkeypatch, capfd):
    monkeypatch.delenv("NGROK_AUTHTOKEN")  # and google.colab is absent: the environment path
    with pytest.raises(TunnelError) as error:
        open_tunnel(1, "ngrok")
    assert str(error.value) == NO_TOKEN_MESSAGE
    assert "NGROK_AUTHTOKEN" in NO_TOKEN_MESSAGE
    with serve(app, port=0, tunnel="ngrok") as server:
        assert healthy(server.url)
    assert "NGROK_AUTHTOKEN" in capfd.readouterr().err


def test_offline_agent_download_fails_fast_with_one_message(ngrok_env, app, monkeypatch, tmp_path, capfd):
    # No agent binary: pyngrok tries to download one. The proxies are a local port that counts
    # and drops connections, so the download fails as it would offline, without sending anything
    # off this machine; failing fast means trying once, not retrying for minutes.
    monkeypatch.setenv("PYNGROK_NGROK_PATH", str(tmp_path / "bin" / "ngrok"))
    attempts = []
    proxy = socket.create_server(("127.0.0.1", 0))
    proxy.settimeout(0.2)

    def drop_connections():
        while proxy.fileno() != -1:
            try:
                connection, _ = proxy.accept()
            except OSError:
                continue
            attempts.append(1)
            connection.close()

    threading.Thread(target=drop_connections, daemon=True).start()
    for variable in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy.getsockname()[1]}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    urllib.request.install_opener(None)  # urlopen's shared opener reads the proxies when it is made
    try:
        with serve(app, port=0, tunnel="ngrok") as server:
            assert healthy(server.url)
    finally:
        proxy.close()
        urllib.request.install_opener(None)  # ... so that later tests do not keep these
    err = capfd.readouterr().err
    assert 1 <= len(attempts) <= 3, len(attempts)  # tried, and gave up without a retry loop
    assert "No public URL:" in err
    assert "Traceback" not in err
    assert TOKEN not in err
    assert len([line for line in err.splitlines() if line.startswith("No public URL")]) == 1


# -- ssh -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    sshd_path = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.path.exists(sshd_path) or not shutil.which("ssh-keygen"):
        pytest.skip("OpenSSH server not installed (make test installs it)")
    home = tmp_path_factory.mktemp("sshd")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "client_key")], check=True)
    shutil.copy(home / "client_key.pub", home / "authorized_keys")
    port = free_port()
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPasswordAuthentication no\n"
        f"KbdInteractiveAuthentication no\nStrictModes no\nUsePAM no\nAllowTcpForwarding yes\n"
        f"PidFile {home / 'sshd.pid'}\n")
    os.makedirs("/run/sshd", exist_ok=True) if os.geteuid() == 0 else None
    process = subprocess.Popen([sshd_path, "-D", "-e", "-f", str(home / "sshd_config")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield {"port": port, "key": str(home / "client_key"), "known_hosts": str(home / "known_hosts")}
    process.terminate()
    process.wait(timeout=10)


def ssh_options(sshd):
    return {"ssh_host": "127.0.0.1", "user": getpass.getuser(), "ssh_port": sshd["port"], "remote_port": 0,
            "identity_file": sshd["key"], "ssh_options": ["-o", f"UserKnownHostsFile={sshd['known_hosts']}"]}


def test_ssh_tunnel_end_to_end(sshd, app):
    with serve(app, port=0, quiet=True, tunnel="ssh", **ssh_options(sshd)) as server:
        assert server.public_url.startswith("http://127.0.0.1:")
        assert server.public_url != server.url
        assert healthy(server.public_url)
        public = server.public_url
    assert refused(public)


def test_ssh_refused_and_missing(app, monkeypatch, sshd):
    closed_port = free_port()
    with pytest.raises(TunnelError, match="ssh to 127.0.0.1 failed: .*refused"):
        open_tunnel(1, "ssh", **{**ssh_options(sshd), "ssh_port": closed_port})
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(TunnelError, match="ssh is not installed"):
        open_tunnel(1, "ssh", ssh_host="127.0.0.1")


# -- Colab -----------------------------------------------------------------------------------


def test_colab_helpers_outside_colab(monkeypatch, capsys):
    from demo_app import in_colab, mount_drive

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert in_colab() is False
    assert mount_drive() is False
    assert "Not in Colab" in capsys.readouterr().out


def test_in_colab_without_token_shows_the_app_in_the_notebook(monkeypatch, capsys):
    # Fake google.colab (Colab cannot run here): userdata.get raises as it does when the
    # secret is missing; output.serve_kernel_port_as_iframe records its call.
    shown = []

    class SecretNotFoundError(Exception):
        pass

    def missing_secret(name):
        raise SecretNotFoundError(name)

    colab = types.ModuleType("google.colab")
    colab.userdata = types.SimpleNamespace(get=missing_secret)
    colab.output = types.SimpleNamespace(serve_kernel_port_as_iframe=lambda port, height: shown.append(port))
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    tunnel = open_tunnel(5123, "ngrok")
    assert shown == [5123]
    assert tunnel.public_url is None
    out = capsys.readouterr().out
    assert "visible only to you" in out
    assert "NGROK_AUTHTOKEN" in out
    assert "ssh" in out
    tunnel.close()


def test_colab_secret_is_used_when_no_environment_token(monkeypatch, ngrok_env, app):
    # Fake google.colab again: the secret holds the token.
    colab = types.ModuleType("google.colab")
    colab.userdata = types.SimpleNamespace(get=lambda name: TOKEN if name == "NGROK_AUTHTOKEN" else None)
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.delenv("NGROK_AUTHTOKEN")
    with serve(app, port=0, quiet=True, tunnel="ngrok") as server:
        assert healthy(server.public_url)


def test_public_app_gets_a_default_rate_limit(ngrok_env, demo_classifier, capfd):
    with serve(create_app(demo_classifier), port=0, tunnel="ngrok") as server:
        started = time.monotonic()
        codes = [requests.post(server.public_url + "/api", json="좋아", timeout=10).status_code
                 for _ in range(70)]
        elapsed = time.monotonic() - started
    # 60 at once, then one more per second (the bucket refills while the requests are sent)
    assert codes[:60] == [200] * 60
    assert 429 in codes
    assert codes.count(200) <= 60 + math.ceil(elapsed)
    assert "limited to 60/minute" in capfd.readouterr().out


def own_agent(tmp_path, monkeypatch) -> Path:
    """A copy of the fake agent for this test alone, so that looking for it cannot find another
    test's (the other test process runs the docs' ngrok examples)."""
    agent = tmp_path / "ngrok"
    shutil.copy(FAKE_NGROK, agent)
    monkeypatch.setenv("PYNGROK_NGROK_PATH", str(agent))
    return agent


def running(agent: Path) -> List[str]:
    return subprocess.run(["pgrep", "-f", str(agent)], capture_output=True, text=True).stdout.split()


def test_tunnel_closes_at_interpreter_exit(ngrok_env, tmp_path, monkeypatch):
    """A script that opens a tunnel and simply ends leaves no agent and no public URL behind."""
    agent = own_agent(tmp_path, monkeypatch)
    script = ("import sys; sys.path.insert(0, '.');"
              "from demo_app import create_app, load_predictor, serve;"
              "server = serve(create_app(load_predictor(verbose=False)), port=0, tunnel='ngrok', quiet=True);"
              "print(server.public_url, flush=True)")
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root,
                            timeout=120, env=dict(os.environ))
    public_url = result.stdout.strip().splitlines()[-1]
    assert public_url.startswith("http://127.0.0.1:"), result.stderr
    assert refused(public_url)
    assert running(agent) == [], "the ngrok agent outlived the interpreter"


def test_a_failed_tunnel_in_colab_falls_back_to_the_notebook_view(ngrok_env, app, monkeypatch, capsys):
    # Fake google.colab (Colab cannot run here): the in-notebook view records the port it shows.
    shown = []
    colab = types.ModuleType("google.colab")
    colab.userdata = types.SimpleNamespace(get=lambda name: None)
    colab.output = types.SimpleNamespace(serve_kernel_port_as_iframe=lambda port, height: shown.append(port))
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    with serve(app, port=0, tunnel="ngrok", authtoken="bad-token") as server:
        assert shown == [server.port]
        assert server.public_url is None
        captured = capsys.readouterr()
        assert "No public URL" in captured.err
        assert "visible only to you" in captured.out
        assert "127.0.0.1" not in captured.out.split("Showing the app")[1]  # not a URL the browser cannot open
        assert healthy(server.url)


def test_the_fake_agent_reads_every_config_form(tmp_path):
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("fake_ngrok", str(FAKE_NGROK))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("fake_ngrok", loader))
    loader.exec_module(module)
    first, second = tmp_path / "a.yml", tmp_path / "b.yml"
    first.write_text("version: 2\n")
    second.write_text(f"authtoken: {TOKEN}\n")
    for argv in (["start", "--config", f"{first},{second}"], ["start", f"--config={first}", f"--config={second}"],
                 ["start", "--config", str(first), "--config", str(second)]):
        assert module.read_token(argv) == TOKEN


def test_sigterm_while_the_tunnel_opens_is_a_clean_stop(ngrok_env, tmp_path, monkeypatch):
    """A host or a terminal may stop the server at any moment: SIGTERM just after the server
    listens, while its tunnel is still opening, ends it as a stop (exit 0, "Stopped."), as it
    does once it serves (the docs' examples found exit 130 here), and leaves no agent behind."""
    agent = own_agent(tmp_path, monkeypatch)
    process = subprocess.Popen([sys.executable, "-m", "demo_app", "serve", "--tunnel", "ngrok", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "demo_app is serving at" in line:
            process.send_signal(signal.SIGTERM)
            break
    rest, _ = process.communicate(timeout=120)
    assert process.returncode == 0, "".join(lines) + rest
    assert "Stopped." in rest
    assert running(agent) == [], "the ngrok agent outlived the stopped server"
