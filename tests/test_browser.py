"""The page in a real browser: Debian's chromium driven by Playwright, against a real server."""

import contextlib

import pytest
from helpers import XSS_PAYLOADS

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1024, "height": 800}, locale="ko-KR")
    page = context.new_page()
    page.requests_seen = []
    page.on("request", lambda request: page.requests_seen.append(request.url))
    page.goto(live_server.url + "/")
    yield page
    context.close()


# Predicates are arrow functions, not expression strings: Playwright polls expression strings
# through eval(), which the page's Content-Security-Policy (rightly) forbids.
def classify(page, sentence):
    page.fill("#sentence", sentence)
    page.press("#sentence", "Enter")
    page.wait_for_function(
        "s => document.getElementById('result-sentence').textContent === s && "
        "!document.getElementById('submit').disabled", arg=sentence)


def bar_fractions(page):
    return page.eval_on_selector_all(
        ".bar-fill", "bars => bars.map(b => b.getBoundingClientRect().width / "
                     "b.parentElement.getBoundingClientRect().width)")


def test_korean_sentence_shows_label_and_bars_matching_probabilities(page, demo_classifier, artifacts_dir):
    sentence = "이 영화 정말 재밌어요"
    classify(page, sentence)
    page.wait_for_timeout(400)  # the bar's width transition
    assert page.text_content("#result-label") == "긍정 (positive)"
    [expected] = demo_classifier.predict([sentence])
    fractions = bar_fractions(page)
    assert fractions == pytest.approx(list(expected.probabilities.values()), abs=0.01)
    assert page.text_content("#history li") .startswith(sentence)
    page.screenshot(path=str(artifacts_dir / "page-desktop.png"), full_page=True)


def test_example_buttons_and_history(page):
    page.click(".example >> nth=0")
    page.wait_for_function("() => document.querySelectorAll('#history li').length === 1")
    for sentence in ["좋아요", "별로", "최고", "노잼", "감동", "지루함"]:
        classify(page, sentence)
    assert page.eval_on_selector_all("#history li", "items => items.length") == 5


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_html_payloads_stay_literal_text(page, payload):
    classify(page, payload)
    assert page.text_content("#result-sentence") == payload
    assert page.evaluate("window.__xss") is None
    assert page.eval_on_selector_all("#result img, #result script, #result svg, #history img, "
                                     "#history svg", "nodes => nodes.length") == 0
    assert payload in page.text_content("#history")


def test_page_makes_no_off_site_requests(page, live_server):
    classify(page, "배우들 연기가 정말 좋았어요")
    assert page.requests_seen, "no requests recorded"
    off_site = [url for url in page.requests_seen
                if not url.startswith(live_server.url) and not url.startswith("data:")]
    assert off_site == []


def test_fetch_sends_the_ngrok_skip_header(page):
    with page.expect_request("**/predict") as request_info:
        classify(page, "좋아요")
    assert request_info.value.headers.get("ngrok-skip-browser-warning") == "1"


def test_server_error_network_failure_and_blank_input_are_shown(page):
    page.route("**/predict", lambda route: route.fulfill(
        status=503, content_type="application/json", body='{"error": "the server is busy"}'))
    page.fill("#sentence", "좋아요")
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    assert "the server is busy" in page.text_content("#error")
    page.unroute("**/predict")
    page.route("**/predict", lambda route: route.abort("connectionrefused"))
    page.click("#submit")
    page.wait_for_function("() => document.getElementById('error').textContent.includes('network')")
    page.unroute("**/predict")
    page.fill("#sentence", "   ")
    page.click("#submit")
    assert "please type" in page.text_content("#error")


def test_content_security_policy_blocks_injected_inline_script(page):
    page.evaluate("""() => {
        const s = document.createElement('script');
        s.textContent = "window.__inline = 'ran'";
        document.body.appendChild(s);
    }""")
    assert page.evaluate("window.__inline") is None
    classify(page, "재밌어요")  # the page itself still works under the policy
    assert page.text_content("#result-label")


@contextlib.contextmanager
def phone_page(browser, url):
    """The page at ``url`` as a phone shows it: 360 px wide, touch, a 2x screen."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    try:
        page = context.new_page()
        page.goto(url)
        yield page
    finally:
        context.close()


def test_layout_holds_at_phone_width(browser, live_server, artifacts_dir):
    with phone_page(browser, live_server.url + "/") as page:
        classify(page, "스토리가 너무 지루했어요 " * 3)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"horizontal scroll at phone width: {widths}"
        box = page.locator("#submit").bounding_box()
        assert box["width"] > 250  # a full-width, thumb-sized button
        page.screenshot(path=str(artifacts_dir / "page-phone.png"), full_page=True)


def test_a_request_that_never_answers_shows_a_timeout(browser, demo_classifier):
    from demo_app import create_app, serve

    with serve(create_app(demo_classifier, request_timeout_s=0.5), port=0, quiet=True) as server:
        context = browser.new_context()
        page = context.new_page()
        try:
            page.goto(server.url + "/")
            page.route("**/predict", lambda route: None)  # never answered
            page.fill("#sentence", "좋아요")
            page.click("#submit")
            page.wait_for_selector("#error:not([hidden])", timeout=10_000)
            assert "timeout" in page.text_content("#error")
            assert not page.is_disabled("#submit")  # the page recovers
        finally:
            context.close()


def test_long_qa_examples_fit_their_buttons_on_a_phone(browser, artifacts_dir):
    from demo_app import DeployArguments, create_app, load_predictor, serve

    qa = load_predictor(DeployArguments(task="qa"), verbose=False)
    with serve(create_app(qa), port=0, quiet=True) as server:
        context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
        page = context.new_page()
        try:
            page.goto(server.url + "/")
            boxes = page.eval_on_selector_all(
                ".example", "buttons => buttons.map(b => [b.getBoundingClientRect().right, "
                            "b.clientHeight, parseFloat(getComputedStyle(b).borderTopLeftRadius)])")
            for right, height, radius in boxes:  # in the screen, a few lines tall, corners that keep the text in
                assert right <= 360, boxes
                assert height <= 120, boxes
                assert radius <= height / 4, boxes
            sizes = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            assert sizes[0] <= sizes[1], sizes
            page.screenshot(path=str(artifacts_dir / "page-qa-phone.png"), full_page=True)
        finally:
            context.close()


def explain_on_page(page):
    page.click("#why-open")
    page.wait_for_function("() => !document.getElementById('why-words').hidden && "
                           "!document.getElementById('why-open').disabled")
    return page.eval_on_selector_all(".why-word[title]",
                                     "spans => spans.map(s => [s.textContent, s.className, s.title])")


def test_why_tints_the_words_typed_by_their_attribution(page, demo_classifier, artifacts_dir):
    """"왜? (why?)" under a result: each word typed, tinted blue towards the answer and orange
    against it (the strongest the darkest), its number on tap; another class can be chosen."""
    classify(page, "이 영화 정말 재밌어요")
    assert page.is_visible("#why-open")
    assert page.input_value("#why-target") == "긍정 (positive)"
    words = explain_on_page(page)
    expected = demo_classifier.explain("이 영화 정말 재밌어요")["words"]
    assert [text for text, _, _ in words] == [word["text"] for word in expected]
    for (text, classes, title), word in zip(words, expected):
        assert float(title) == pytest.approx(word["attribution"], abs=1e-3)
        assert ("why-for-" in classes) == (word["attribution"] > 0 and "why-against-" not in classes)
    strongest = max(expected, key=lambda word: abs(word["attribution"]))
    assert dict((text, classes) for text, classes, _ in words)[strongest["text"]].endswith("-4")
    page.click(".why-word >> nth=3")
    assert page.text_content("#why-detail").startswith(words[3][0] + ": ")
    assert page.is_visible("#why-legend")
    page.screenshot(path=str(artifacts_dir / "page-why-desktop.png"), full_page=True)
    page.select_option("#why-target", "부정 (negative)")
    against = dict((text, classes) for text, classes, _ in explain_on_page(page))
    assert "why-against" in against["재밌어요"]


@pytest.mark.parametrize("payload", XSS_PAYLOADS[:2])
def test_why_inserts_the_words_as_text(page, payload):
    classify(page, payload)
    explain_on_page(page)
    assert page.evaluate("window.__xss") is None
    assert page.eval_on_selector_all("#why img, #why script, #why svg", "nodes => nodes.length") == 0
    assert "".join(page.eval_on_selector_all(".why-word[title]", "spans => spans.map(s => s.textContent)")) == \
        "".join(payload.split())


def test_why_holds_at_phone_width(browser, live_server, artifacts_dir):
    with phone_page(browser, live_server.url + "/") as page:
        classify(page, "스토리가 너무 지루했어요 배우들 연기는 좋았지만 " * 3)
        explain_on_page(page)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"horizontal scroll at phone width: {widths}"
        page.tap(".why-word >> nth=1")
        assert page.text_content("#why-detail").startswith("너무: ")
        page.screenshot(path=str(artifacts_dir / "page-why-phone.png"), full_page=True)
