"""The demo as an instructor on JupyterHub reaches it: through jupyter-server-proxy in a real
Jupyter server, at ``/proxy/PORT/``, in chromium.

jupyter-server-proxy forwards from this machine (a loopback peer) and says the path it serves the
app under in ``X-Forwarded-Prefix``; with no proxy trusted for visitors' addresses, the app still
takes that prefix from a local agent, so the page's styles, scripts and calls stay under it.
The Jupyter server runs without a token, on 127.0.0.1 only, for the test's lifetime.
"""

import os
import subprocess
import sys

import pytest
from helpers import free_port, wait_until_serving

from demo_app import create_app, serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    pytest.importorskip("jupyter_server_proxy")
    port = free_port()
    root = tmp_path_factory.mktemp("jupyter")
    environment = dict(os.environ, JUPYTER_CONFIG_DIR=str(root / "config"), JUPYTER_DATA_DIR=str(root / "data"),
                       JUPYTER_RUNTIME_DIR=str(root / "runtime"))
    process = subprocess.Popen([sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
                                f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=",
                                "--ServerApp.password=", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}"],
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, process)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_the_page_works_under_jupyter_server_proxy(browser, jupyter, demo_classifier):
    with serve(create_app(demo_classifier), port=0, quiet=True) as server:
        prefix = f"{jupyter}/proxy/{server.port}/"
        context = browser.new_context(viewport={"width": 1024, "height": 800}, locale="ko-KR")
        page = context.new_page()
        answered = []
        page.on("response", lambda response: answered.append((response.url, response.status)))
        page.goto(prefix)
        assert page.evaluate("() => [...document.styleSheets].some(sheet => sheet.cssRules.length > 0)")
        page.fill("#sentence", "시간이 아까웠습니다")
        page.press("#sentence", "Enter")
        page.wait_for_function("() => document.getElementById('result-label').textContent.length > 0")
        assert page.text_content("#result-label") == "부정 (negative)"
        assert all(url.startswith(prefix) for url, _ in answered), answered
        assert all(status < 400 for _, status in answered), answered
        context.close()
