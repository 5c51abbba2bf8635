"""Pictures that stay true (``docs/pictures/``, shown in ``docs/pictures.md``): every task's page
after a real prediction by its bundled demo model, on a laptop and on a phone, taken here by
chromium. Each picture is recorded in ``docs/pictures/pictures.json`` with a hash of the page's
structure (the visible elements' tags, ids and classes, not their text), so a page whose
structure changed fails here until its pictures are taken again:

    DEMO_APP_WRITE_PICTURES=1 .venv/bin/python -m pytest tests/test_doc_pictures.py
"""

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from test_image_classification import encoded, shape

from demo_app import DeployArguments, create_app, load_predictor, serve

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
PICTURES = ROOT / "docs" / "pictures"
RECORD = PICTURES / "pictures.json"
WRITE = os.environ.get("DEMO_APP_WRITE_PICTURES") == "1"
TASKS = ("classification", "pair-classification", "ner", "qa", "generation", "image-classification")
SCREENS = {
    "laptop": {"viewport": {"width": 1024, "height": 800}},
    "phone": {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
}
# The page's structure: every element not hidden, as its depth, tag, id and classes.
STRUCTURE = """() => {
  const lines = [];
  const walk = (node, depth) => {
    for (const child of node.children) {
      if (child.hidden || child.tagName === "SCRIPT") continue;
      lines.push(depth + " " + child.tagName + "#" + child.id + "." + Array.from(child.classList).sort().join("."));
      walk(child, depth + 1);
    }
  };
  walk(document.body, 0);
  return lines.join("\\n");
}"""


@pytest.fixture(scope="module")
def servers():
    handles = {task: serve(create_app(load_predictor(DeployArguments(task=task), verbose=False)), port=0, quiet=True)
               for task in TASKS}
    yield handles
    for handle in handles.values():
        handle.stop()


def predict_on(page, task):
    """A real prediction on the page: its first example, or a picture for the image page."""
    if task == "image-classification":
        page.set_input_files("#image", files=[{"name": "cross.png", "mimeType": "image/png",
                                               "buffer": encoded(shape("cross"), "PNG")}])
        page.wait_for_function("() => !document.getElementById('preview').hidden")
        page.click("#submit")
    else:
        page.click(".example >> nth=0")
    page.wait_for_function("() => !document.getElementById('result').hidden && "
                           "!document.getElementById('submit').disabled")


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("task", TASKS)
def test_the_docs_picture_of_each_page_is_current(browser, servers, artifacts_dir, task, screen):
    context = browser.new_context(locale="ko-KR", **SCREENS[screen])
    try:
        page = context.new_page()
        page.goto(servers[task].url + "/")
        predict_on(page, task)
        page.wait_for_timeout(400)  # the bars' width transition
        check_picture(page, artifacts_dir, f"{task}-{screen}.png")
    finally:
        context.close()


def check_picture(page, artifacts_dir, name):
    """Take ``name``'s picture of ``page``, and check (or, with DEMO_APP_WRITE_PICTURES=1, record)
    its structure's hash."""
    structure = hashlib.sha256(page.evaluate(STRUCTURE).encode()).hexdigest()[:16]
    page.screenshot(path=str(artifacts_dir / name), full_page=True)
    record = json.loads(RECORD.read_text(encoding="utf-8")) if RECORD.is_file() else {}
    if WRITE:
        PICTURES.mkdir(exist_ok=True)
        shutil.copy(artifacts_dir / name, PICTURES / name)
        record[name] = structure
        RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    assert (PICTURES / name).is_file(), f"no picture {name}: take them with DEMO_APP_WRITE_PICTURES=1"
    assert record.get(name) == structure, (
        f"the page of docs/pictures/{name} changed since it was taken: take the pictures again with "
        "DEMO_APP_WRITE_PICTURES=1 .venv/bin/python -m pytest tests/test_doc_pictures.py")


TEACHER = {"username": "teacher", "password": "correct-horse-battery"}


@pytest.mark.parametrize("screen", SCREENS)
def test_the_docs_pictures_of_a_file_and_the_history_are_current(browser, tmp_path, artifacts_dir, screen):
    """A whole file predicted on the page, and the owner's history view of what visitors asked
    (a fresh history each time, so that the pictures show the same rows)."""
    predictor = load_predictor(DeployArguments(), verbose=False)
    app = create_app(predictor, history=str(tmp_path / "history.sqlite"), sync_file_rows=200,
                     auth=f"{TEACHER['username']}:{TEACHER['password']}")
    with serve(app, port=0, quiet=True) as server:
        context = browser.new_context(locale="ko-KR", http_credentials=TEACHER, **SCREENS[screen])
        try:
            page = context.new_page()
            page.goto(server.url + "/")
            reviews = "id\tdocument\tlabel\n1\t배우들 연기가 정말 좋았어요\t1\n2\t시간이 아까웠습니다\t0\n"
            page.set_input_files("#file", files=[{"name": "reviews.tsv", "mimeType": "text/tab-separated-values",
                                                  "buffer": reviews.encode()}])
            page.click("#file-submit")
            page.wait_for_function("() => document.querySelectorAll('#file-table tr').length === 3")
            check_picture(page, artifacts_dir, f"file-{screen}.png")
            page.click(".example >> nth=0")
            page.wait_for_function("() => !document.getElementById('result').hidden && "
                                   "!document.getElementById('submit').disabled")
            page.goto(server.url + "/history")
            check_picture(page, artifacts_dir, f"history-{screen}.png")
        finally:
            context.close()


class HeldStream:
    """WSGI middleware for the picture of a text being written: a ``/predict/stream`` answer
    stops after its first ``pieces`` events until ``release`` is set (the demo model writes its
    text in milliseconds, too fast to picture in the middle otherwise)."""

    def __init__(self, app, pieces: int) -> None:
        self.app, self.pieces = app, pieces
        self.reached, self.release = threading.Event(), threading.Event()

    def __call__(self, environ, start_response):
        body = self.app(environ, start_response)
        return self._held(body) if environ.get("PATH_INFO") == "/predict/stream" else body

    def _held(self, body):
        try:
            for number, chunk in enumerate(body):
                if number == self.pieces:
                    self.reached.set()
                    self.release.wait(120)
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()


@pytest.mark.parametrize("screen", SCREENS)
def test_the_docs_picture_of_a_text_being_written_is_current(browser, artifacts_dir, screen):
    """The generation page in the middle of a stream: the text so far, "writing…" and Stop."""
    app = create_app(load_predictor(DeployArguments(task="generation"), verbose=False))
    held = HeldStream(app.wsgi_app, pieces=4)
    app.wsgi_app = held  # type: ignore[method-assign]
    with serve(app, port=0, quiet=True) as server:
        context = browser.new_context(locale="ko-KR", **SCREENS[screen])
        try:
            page = context.new_page()
            page.goto(server.url + "/")
            page.click(".example >> nth=0")
            assert held.reached.wait(120), "the stream never reached its fourth piece"
            page.wait_for_function("() => !document.getElementById('stop').hidden && "
                                   "document.getElementById('result').innerText.trim().length > 0")
            check_picture(page, artifacts_dir, f"generation-writing-{screen}.png")
            held.release.set()
            page.wait_for_function("() => !document.getElementById('submit').disabled")
        finally:
            held.release.set()
            context.close()


def test_the_docs_show_every_picture():
    page = (ROOT / "docs" / "pictures.md").read_text(encoding="utf-8")
    for task in (*TASKS, "generation-writing", "file", "history"):
        for screen in SCREENS:
            assert f"pictures/{task}-{screen}.png" in page
