"""The demo behind a real reverse proxy at a path prefix, as on a host: Debian's nginx on
127.0.0.2 serving three apps under ``/demo/``, ``/write/`` and ``/limited/`` (``nginx_server.py``).

The apps trust one proxy hop (``forwarded_hops=1``, what an exported app is given), so each
visitor is told apart by the address nginx saw, however many ``X-Forwarded-For`` entries the
visitor forges; links, scripts, the stream and file jobs all stay under the prefix. Visitors
connect from other 127.x addresses, which stand in for other machines.
"""

import csv
import io

import pytest
import requests
from helpers import wait_until_done
from nginx_server import NginxProxy
from test_files import write_nsmc
from test_generation import slow_down, write_on_the_page

from demo_app import DeployArguments, create_app, load_predictor, serve

pytestmark = pytest.mark.browser


class FromAddress(requests.adapters.HTTPAdapter):
    """Connections made from ``address`` (a visitor on another machine)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def visitor(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


@pytest.fixture(scope="module")
def proxy(demo_classifier):
    writer = load_predictor(DeployArguments(task="generation"), verbose=False)
    slow_down(writer, 0.04)  # a big model's pace: the text must arrive through nginx as it is written
    apps = {"/demo": create_app(demo_classifier, forwarded_hops=1, sync_file_rows=10),  # files: jobs
            "/write": create_app(writer, forwarded_hops=1),
            "/limited": create_app(demo_classifier, forwarded_hops=1, rate_limit="3/minute")}
    servers = {prefix: serve(app, port=0, quiet=True) for prefix, app in apps.items()}
    nginx = NginxProxy({prefix: server.port for prefix, server in servers.items()})
    yield nginx
    nginx.close()
    for server in servers.values():
        server.stop()


def test_a_visitors_fourth_request_is_limited_and_another_visitor_is_not(proxy):
    """Rate limit 3/minute behind the proxy: one visitor (whatever they forge) is limited,
    another is still answered (the app sees nginx at 127.0.0.2, not a loopback peer)."""
    url = proxy.url + "/limited/predict"
    first, second = visitor("127.0.0.3"), visitor("127.0.0.4")
    codes = [first.post(url, json={"sentence": "좋아요"}, timeout=30).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    forged = {"X-Forwarded-For": "198.51.100.77"}  # a new address of one's own choosing
    assert first.post(url, json={"sentence": "좋아요"}, headers=forged, timeout=30).status_code == 429
    assert second.post(url, json={"sentence": "좋아요"}, timeout=30).status_code == 200


def test_file_job_urls_carry_the_prefix(proxy, tmp_path):
    source = write_nsmc(tmp_path / "small.txt", 30)
    session = visitor("127.0.0.5")
    with open(source, "rb") as file:
        submitted = session.post(proxy.url + "/demo/predict/file", files={"file": ("small.txt", file)}, timeout=60)
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert job["status_url"].startswith("/demo/jobs/")
    status = wait_until_done(proxy.url, job["status_url"])
    assert status["status"] == "done", status
    assert status["download"].startswith("/demo/jobs/")
    rows = list(csv.DictReader(io.StringIO(session.get(proxy.url + status["download"], timeout=30).text)))
    assert len(rows) == 30


def test_the_page_works_under_the_prefix_in_a_browser(browser, proxy, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR", accept_downloads=True)
    page = context.new_page()
    answered = []
    page.on("response", lambda response: answered.append((response.url, response.status)))
    page.goto(proxy.url + "/demo/")
    # The stylesheet and scripts came through the prefix and apply.
    assert page.evaluate("() => [...document.styleSheets].some(sheet => sheet.cssRules.length > 0)")
    page.fill("#sentence", "이 영화 정말 재밌어요")
    page.press("#sentence", "Enter")
    page.wait_for_function("() => document.getElementById('result-label').textContent.length > 0")
    assert page.text_content("#result-label") == "긍정 (positive)"
    page.set_input_files("#file", str(write_nsmc(tmp_path / "reviews.txt", 40)))
    page.click("#file-submit")
    page.wait_for_function("() => document.querySelectorAll('#file-table tr').length > 1")
    with page.expect_download() as download:
        page.click("#file-download")
    assert len(list(csv.DictReader(open(download.value.path(), encoding="utf-8")))) == 40
    assert answered
    assert all(url.startswith(proxy.url + "/demo/") for url, _ in answered), answered
    assert all(status < 400 for _, status in answered), answered
    context.close()


def test_generation_streams_through_the_proxy(browser, proxy):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(proxy.url + "/write/")
    write_on_the_page(page, "긍정 아 정말", tokens=40)
    # Text on the page while the stop button still shows: it came as written, not buffered whole.
    page.wait_for_function("() => document.getElementById('result-generated').textContent.length > 2")
    assert page.is_visible("#stop")
    page.wait_for_function("() => document.getElementById('generated-meta').textContent.includes('tokens')")
    assert page.is_hidden("#stop")
    page.close()
