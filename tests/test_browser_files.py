"""Files and the history on the page, in a real browser (Debian's chromium through Playwright)
against a real server with the history on."""

import csv
import io
import sqlite3

import pytest
from helpers import XSS_PAYLOADS
from test_browser import classify
from test_files import write_nsmc

from demo_app import create_app, serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(demo_classifier, tmp_path_factory):
    path = tmp_path_factory.mktemp("drive") / "demo.sqlite"
    handle = serve(create_app(demo_classifier, history=str(path), sync_file_rows=200), port=0, quiet=True)
    yield handle, path
    handle.stop()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR",
                                  accept_downloads=True)  # a phone-sized screen
    page = context.new_page()
    page.goto(server[0].url + "/")
    yield page
    context.close()


def test_a_visitor_marks_a_result_wrong_and_the_correction_is_stored(page, server):
    assert "기록합니다" in page.text_content("#history-note")
    classify(page, "이 영화 정말 재밌어요")
    assert page.is_hidden("#flag-form")
    page.click("#flag-open")
    page.select_option("#flag-correction", "부정 (negative)")
    page.click("#flag-submit")
    page.wait_for_function("() => document.getElementById('flag-status').textContent.includes('고맙습니다')")
    with sqlite3.connect(server[1]) as connection:
        row = connection.execute("SELECT inputs, flagged, correction, source FROM predictions "
                                 "WHERE flagged = 1").fetchone()
    assert row == ('{"sentence": "이 영화 정말 재밌어요"}', 1, "부정 (negative)", "page")


def test_an_uploaded_file_shows_a_table_and_its_csv_downloads(page, tmp_path, artifacts_dir):
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")  # quotes the payload with a '"'
    writer.writerows([["id", "document", "label"], *[[i, p, 1] for i, p in enumerate(XSS_PAYLOADS)],
                      [9, "시간이 아까웠습니다", 0]])
    data = out.getvalue().encode()
    page.set_input_files("#file", files=[{"name": "<img src=x onerror=alert(1)>.tsv",
                                          "mimeType": "text/tab-separated-values", "buffer": data}])
    page.click("#file-submit")
    page.wait_for_function("() => document.querySelectorAll('#file-table tr').length === 5")
    cells = page.eval_on_selector_all("#file-table tr td:nth-child(2)", "cells => cells.map(c => c.textContent)")
    assert cells == [*XSS_PAYLOADS, "시간이 아까웠습니다"]  # shown as text
    assert page.evaluate("() => window.__xss") is None
    assert "accuracy" in page.text_content("#file-summary")
    # On a phone the table scrolls sideways inside its box; cells keep words whole.
    widths = page.eval_on_selector_all("#file-table td", "cells => cells.map(c => c.getBoundingClientRect().width)")
    assert min(widths) >= 90, widths
    sizes = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], sizes
    page.screenshot(path=str(artifacts_dir / "page-file-phone.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#file-download")
    text = open(download.value.path(), encoding="utf-8").read()
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [row["document"] for row in parsed] == [*XSS_PAYLOADS, "시간이 아까웠습니다"]
    assert parsed[-1]["prediction"] == "부정 (negative)"


def test_a_large_file_shows_progress_and_can_be_cancelled(page, tmp_path):
    source = write_nsmc(tmp_path / "big.txt", 20_000)
    page.set_input_files("#file", str(source))
    page.click("#file-submit")
    page.wait_for_function("() => !document.getElementById('file-progress').hidden && "
                           "document.getElementById('file-progress').value > 0")
    assert "/ 20000" in page.text_content("#file-status")
    page.click("#file-cancel")
    page.wait_for_function("() => document.getElementById('file-status').textContent.includes('cancelled')")
    assert page.is_hidden("#file-progress")
