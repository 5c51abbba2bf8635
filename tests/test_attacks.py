"""A hostile visitor's attacks, each against a real server process on 127.0.0.1, bounded in count
and time: costs priced before work, fair sharing of the model, work dropped when nobody waits,
disk and memory budgets, clean exits.

For each attack: an innocent visitor's short request waits, while it runs, less than one attack
request takes alone (first come, first served it would wait for every attacker's), measured in
the same test on the idle server; the server's memory stays under its budget, and every attacker
is refused with a clear JSON 4xx / 429 / 503. The QA and NER attacks use BERTs four times wider and twice deeper than
the demo models (random weights), so that work queued first come, first served would show as
seconds of waiting.
"""

import io
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from helpers import free_port, job_folders, medium_bert, wait_until_serving

ROOT = Path(__file__).resolve().parent.parent
# The innocent's longest wait, in units of one attack request alone: fair turns make it the
# step in progress and its own; first come, first served it would be one per attacker queued
# ahead (4 to 96 here). The attackers' threads, in this process, share the two cores with it,
# and one cheap attack (0.2 s) is a small unit: 2.0 failed once in CI at 2.02.
INNOCENT_VS_ONE_ATTACK = 3.0
INNOCENT_VS_IDLE = 20  # ... or of its own time on the idle server, when an attack costs less
TEXT_RSS_BUDGET_MB = 1500
IMAGE_RSS_BUDGET_MB = 1200  # one 40 MP WebP or PNG takes about 600 MB while it is decoded
REFUSALS = (400, 413, 415, 429, 503)

pytestmark = pytest.mark.slow


class Server:
    """``tests/attack_server.py`` with ``config`` in a process of its own."""

    def __init__(self, config: dict) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "attack_server.py"),
                                         json.dumps({**config, "port": self.port})], cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_until_serving(self.url, self.process, seconds=120)

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(status.split("VmRSS:")[1].split()[0]) / 1024

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        finally:
            self.process.stderr.close()


class Siege:
    """``attackers`` threads run ``attack()`` over and over while an innocent visitor runs
    ``innocent()`` every 0.25 s; the server's memory is sampled all along."""

    def __init__(self, server: Server, attack, innocent, attackers: int, seconds: float) -> None:
        self.server, self.attack, self.innocent = server, attack, innocent
        self.attackers, self.seconds = attackers, seconds
        self.latencies, self.refusals, self.answered, self.peak_rss = [], [], 0, 0.0
        self._stop = threading.Event()

    def run(self) -> "Siege":
        self.idle = max(self._timed(self.innocent) for _ in range(5))  # the idle server's pace
        self.one_attack = self._timed(self.attack)
        threads = [threading.Thread(target=self._attacker) for _ in range(self.attackers)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # the attack is under way
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            started = time.monotonic()
            response = self.innocent()
            self.latencies.append(time.monotonic() - started)
            assert response.status_code == 200, response.text[:300]
            self.peak_rss = max(self.peak_rss, self.server.rss_mb())
            time.sleep(0.25)
        self._stop.set()
        for thread in threads:
            thread.join(120)
        # One attack's time at both ends of the siege: the bound follows this shared machine's pace
        # in that window (another test's processes may have slowed it since the first one).
        self.one_attack = max(self.one_attack, self._timed(self.attack))
        return self

    @staticmethod
    def _timed(request) -> float:
        started = time.monotonic()
        request()
        return time.monotonic() - started

    def _attacker(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.attack()
            except requests.RequestException:
                continue
            if response.status_code == 200:
                self.answered += 1
            else:
                self.refusals.append((response.status_code, response.headers.get("Content-Type", ""),
                                      response.text[:300]))

    def check(self, rss_budget_mb: float = TEXT_RSS_BUDGET_MB) -> None:
        bound = max(INNOCENT_VS_ONE_ATTACK * self.one_attack, INNOCENT_VS_IDLE * self.idle)
        assert self.latencies, "the innocent visitor was never answered"
        assert max(self.latencies) < bound, (sorted(self.latencies)[-5:], self.one_attack, self.idle)
        assert self.peak_rss < rss_budget_mb, self.peak_rss
        for status, content_type, text in self.refusals:
            assert status in REFUSALS, (status, text)
            assert content_type.startswith("application/json"), (status, text)
            assert json.loads(text)["error"]


@pytest.fixture(scope="module")
def medium_qa(tmp_path_factory):
    return medium_bert("qa", tmp_path_factory.mktemp("medium-qa"))


@pytest.fixture(scope="module")
def medium_ner(tmp_path_factory):
    return medium_bert("ner", tmp_path_factory.mktemp("medium-ner"))


def post_json(server, path, body, timeout=60, visitor=None):
    """``body`` posted as JSON; ``visitor``: the address a proxy says it came from."""
    headers = {"Content-Type": "application/json", **({"X-Forwarded-For": visitor} if visitor else {})}
    return requests.post(server.url + path, data=json.dumps(body, ensure_ascii=False).encode(),
                         headers=headers, timeout=timeout)


QUESTION = "누리식품 본사가 있는 도시는?"
SHORT_CONTEXT = "누리식품은 1977년에 장보고가 세운 회사다. 본사는 목포에 있으며 직원은 약 8000명이다."
LONG_CONTEXT = ("누리식품은 1977년에 장보고가 세운 회사다. 본사는 목포에 있으며 직원은 약 8000명이다. " * 400)[:20_000]


def test_long_qa_contexts_are_priced_and_share_the_model_fairly(medium_qa):
    server = Server({"model": medium_qa})
    try:
        long_question = {"question": QUESTION, "context": LONG_CONTEXT[:15_000]}
        too_much = post_json(server, "/predict", {"inputs": [long_question] * 4})
        assert too_much.status_code == 413
        assert "max_request_rows" in too_much.json()["error"]
        siege = Siege(server, lambda: post_json(server, "/predict", {"question": QUESTION, "context": LONG_CONTEXT}),
                      lambda: post_json(server, "/predict", {"question": QUESTION, "context": SHORT_CONTEXT}),
                      attackers=8, seconds=8).run()
        siege.check()
        assert siege.answered >= 1  # the long contexts are answered too, in turn
    finally:
        assert server.stop() == 0


def test_explanations_are_priced_and_share_the_model_fairly(medium_qa):
    """Explanations at the most steps (128 forward and backward passes each) of long contexts, from
    four visitors behind one proxy: a short question waits less than one such explanation takes
    (each is steps between other requests), the long contexts are read a window a step, and
    what is too much is refused at once with a JSON 4xx or 503."""
    server = Server({"model": medium_qa, "app": {"forwarded_hops": 1}})
    try:
        attackers = itertools.cycle([f"203.0.113.{n}" for n in range(1, 5)])
        heavy = {"question": QUESTION, "context": LONG_CONTEXT[:3000], "steps": 128}
        too_long = post_json(server, "/explain", {"question": QUESTION, "context": LONG_CONTEXT * 3})
        assert too_long.status_code in (400, 413), too_long.text
        siege = Siege(server, lambda: post_json(server, "/explain", heavy, visitor=next(attackers)),
                      lambda: post_json(server, "/predict", {"question": QUESTION, "context": SHORT_CONTEXT},
                                        visitor="198.51.100.9"),
                      attackers=8, seconds=8).run()
        siege.check()
    finally:
        assert server.stop() == 0


def abandon_after(server, body: dict, seconds: float) -> None:
    """Send ``body`` to POST /predict on a raw socket and close it before the answer comes."""
    data = json.dumps(body, ensure_ascii=False).encode()
    connection = socket.create_connection(("127.0.0.1", server.port))
    connection.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    time.sleep(seconds)
    connection.close()


def test_more_long_requests_than_threads_cannot_keep_out_the_page_or_a_short_question(medium_qa):
    """144 long contexts at once from four visitors, three times the server's 48 threads: beyond
    two a visitor (and 32 in all) they are a 503 at once, so no thread waits for them and another
    visitor's page and short question are answered while they run (a trial found all the threads
    waiting and a short question answered after 31 to 39 s)."""
    # Behind one proxy. The eight admitted contexts take their turns while 136 refused threads of
    # this process retry at once on the same two cores: they get the time to finish that the
    # timeout would cut (a CI run found none answered within 30 s), so that this test is about
    # threads, not about this machine's speed.
    server = Server({"model": medium_qa, "app": {"forwarded_hops": 1, "request_timeout_s": 120}})
    try:
        attackers = itertools.cycle([f"203.0.113.{n}" for n in range(1, 5)])
        long_question = {"question": QUESTION, "context": LONG_CONTEXT}

        def innocent():
            assert requests.get(server.url + "/", headers={"X-Forwarded-For": "198.51.100.9"},
                                timeout=60).status_code == 200
            return post_json(server, "/predict", {"question": QUESTION, "context": SHORT_CONTEXT},
                             visitor="198.51.100.9")

        siege = Siege(server, lambda: post_json(server, "/predict", long_question, visitor=next(attackers)),
                      innocent, attackers=144, seconds=8).run()
        siege.check()  # the trial found 31 to 39 s: thirty attack requests' time
        assert any(status == 503 for status, _, _ in siege.refusals)  # turned away, not queued
        assert siege.answered > 0  # ... while the admitted ones are answered
    finally:
        assert server.stop() == 0


def test_a_context_the_model_cannot_read_within_the_timeout_is_refused_before_any_work(medium_qa):
    """The model's pace is measured at load; a request priced at more than it reads within
    request_timeout_s is a 413 at once that says so (a trial found a 503 after the whole 30 s),
    and one within it is answered."""
    server = Server({"model": medium_qa, "app": {"request_timeout_s": 1.0}})
    try:
        pace = requests.get(server.url + "/healthz", timeout=30).json()["model"]["seconds_per_sequence"]
        assert pace > 0
        # /healthz rounds the pace to 0.1 ms and the server truncates what fits: the number it
        # says lies between what the rounded pace's two ends give
        fewest, most = int(1.0 / (pace + 5e-5)), 1.0 / max(pace - 5e-5, 1e-9)
        started = time.monotonic()
        refused = post_json(server, "/predict", {"question": QUESTION, "context": LONG_CONTEXT})
        waited = time.monotonic() - started
        if refused.status_code == 200:
            pytest.skip(f"this machine reads the longest context allowed within 1 s ({pace * 1000:.1f} ms a sequence)")
        assert refused.status_code == 413
        assert "request_timeout_s" in refused.json()["error"]
        said = re.search(r"it reads about (\d+) in 1 s \(request_timeout_s\)", refused.json()["error"])
        assert said, refused.json()["error"]
        assert fewest <= int(said.group(1)) <= most
        assert waited < 1.0, waited  # before the timeout: no work was done for it
        answered = post_json(server, "/predict", {"question": QUESTION, "context": SHORT_CONTEXT})
        assert answered.status_code == 200
    finally:
        assert server.stop() == 0


def test_work_nobody_waits_for_is_dropped(medium_qa):
    """Twelve long contexts whose clients leave after half a second (the two the waiting room
    admits are seconds of work; the rest are refused at once): a request queued behind them in
    the same visitor's line waits for at most the step already running, not for their work."""
    server = Server({"model": medium_qa})
    try:
        shorter = {"question": QUESTION, "context": LONG_CONTEXT[:1200]}  # under one batch: not "large"
        long_question = {"question": QUESTION, "context": LONG_CONTEXT}
        one_long = Siege._timed(lambda: post_json(server, "/predict", long_question))  # its whole work, alone
        leavers = [threading.Thread(target=abandon_after, args=(server, long_question, 0.5))
                   for _ in range(12)]
        for leaver in leavers:
            leaver.start()
        for leaver in leavers:
            leaver.join()
        started = time.monotonic()
        behind = post_json(server, "/predict", shorter)
        waited = time.monotonic() - started
        assert behind.status_code == 200
        # Kept, the two admitted contexts' work would hold it for about twice one_long; dropped,
        # it waits at most for the step running when it came (a fraction of one: STEP_SECONDS).
        assert waited < one_long, (waited, one_long)
    finally:
        assert server.stop() == 0


def flood_with_ner_batches(server, attackers):
    """Attackers posting 64 long sentences at a time for 8 s, beside a visitor's one sentence."""
    batch = {"inputs": ["서울에서 삼성전자 직원을 만났다 " * 20] * 64}
    return Siege(server, lambda: post_json(server, "/predict", batch),
                 lambda: post_json(server, "/predict", {"sentence": "이순신은 조선 중기의 무신이다"}),
                 attackers=attackers, seconds=8).run()


def test_large_ner_batches_share_the_model_fairly(medium_ner):
    server = Server({"model": medium_ner})
    try:
        flood_with_ner_batches(server, attackers=8).check()
    finally:
        assert server.stop() == 0


def upload(server, name, data, timeout=60):
    return requests.post(server.url + "/predict/file", files={"file": (name, data)}, timeout=timeout)


def test_files_priced_before_they_are_read(tmp_path):
    """A 673 KB CSV of 100,000 columns and a 16 MiB JSON of millions of {}: refused at once."""
    wide = (",".join(f"c{i}" for i in range(100_000)) + "\n" + ("x," * 99_999 + "x\n") * 3).encode()
    empties = b"[" + b",".join([b"{}"] * ((16 * 1024 * 1024 - 4096) // 3)) + b"]"  # with the form: 16 MiB
    server = Server({})
    try:
        refused = upload(server, "wide.csv", wide)
        assert refused.status_code == 400
        assert "max_file_columns" in refused.json()["error"]
        refused = upload(server, "empties.json", empties)
        assert refused.status_code == 400
        assert "'sentence' column" in refused.json()["error"]
        uploads = itertools.cycle([("wide.csv", wide), ("empties.json", empties)])
        siege = Siege(server, lambda: upload(server, *next(uploads)),
                      lambda: post_json(server, "/predict", {"sentence": "정말 재밌어요"}),
                      attackers=6, seconds=6).run()
        siege.check()
        assert not siege.answered
    finally:
        assert server.stop() == 0


def test_disk_stays_within_its_budgets(tmp_path):
    """The history rolls its oldest rows off at its budget; a job's results file stops at its."""
    history = tmp_path / "history.sqlite"
    server = Server({"model": {"task": "ner"}, "app": {"history": str(history), "max_history_bytes": 3_000_000,
                                                       "max_file_result_bytes": 1_000_000}})
    try:
        flood_with_ner_batches(server, attackers=4).check()
        from demo_app.history import History

        kept = History(history)
        assert kept.rolled_off() > 2 * kept.count()  # the attack wrote several budgets' worth
        assert kept.used_bytes() <= 3_000_000 * 1.1
        assert sum(path.stat().st_size for path in tmp_path.glob("history.sqlite*")) < 3_000_000 * 3
        rows = "sentence\n" + "서울에서 삼성전자 직원 3명을 만났다 그리고 부산에 갔다\n" * 20_000
        job = upload(server, "big.csv", rows.encode()).json()
        while job["status"] == "running":
            time.sleep(0.5)
            job = requests.get(server.url + job["status_url"], timeout=30).json()
        assert job["status"] == "failed"
        assert "max_file_result_bytes" in job["error"]
        results = requests.get(server.url + job["download"], timeout=30)  # the rows done so far
        assert results.status_code == 200
        assert 1_000_000 < len(results.content) < 1_500_000
    finally:
        assert server.stop() == 0


def large_webp() -> bytes:
    from PIL import Image

    picture = Image.new("RGB", (6000, 6000), (10, 200, 30))
    for x in range(0, 6000, 300):
        picture.paste((x % 255, 20, 200), (x, 0, x + 100, 6000))
    data = io.BytesIO()
    picture.save(data, "WEBP", quality=50)
    return data.getvalue()


def test_large_images_give_their_memory_back():
    photo = large_webp()
    small = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 10, 10)).save(small, "PNG")
    server = Server({"model": {"task": "image-classification"}})
    try:
        before = server.rss_mb()
        siege = Siege(server, lambda: requests.post(server.url + "/predict", files=[("file", ("p.webp", photo))] * 4,
                                                    timeout=60),
                      lambda: requests.post(server.url + "/predict", files={"file": ("s.png", small.getvalue())},
                                            timeout=60), attackers=8, seconds=8).run()
        siege.check(IMAGE_RSS_BUDGET_MB)
        assert siege.answered >= 8
        time.sleep(1)
        assert server.rss_mb() < before + 300, (before, server.rss_mb())
    finally:
        assert server.stop() == 0


def test_a_killed_servers_files_are_cleaned_at_the_next_start(tmp_path):
    server = Server({})
    rows = "sentence\n" + "정말 재밌어요\n" * 50_000
    assert upload(server, "big.csv", rows.encode()).status_code == 202
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(30)
    server.process.stderr.close()
    left = job_folders(server.process.pid)
    assert left  # the killed server could not clean up
    second = Server({})
    try:
        assert not any(os.path.exists(folder) for folder in left)
    finally:
        assert second.stop() == 0


def test_stop_stops_running_jobs(demo_classifier):
    from demo_app import create_app, serve

    app = create_app(demo_classifier)
    server = serve(app, port=0, quiet=True)
    rows = "sentence\n" + "정말 재밌어요\n" * 50_000
    job = requests.post(server.url + "/predict/file", files={"file": ("big.csv", rows.encode())}, timeout=60).json()
    assert job["status"] == "running"
    jobs = app.extensions["demo_app"].jobs
    running = jobs.get(job["job"])
    server.stop()
    assert running.report.rows < 50_000  # stopped part-way, not waited for
    assert jobs.get(job["job"]) is None
    deadline = time.monotonic() + 5
    while [t for t in threading.enumerate() if t.name.startswith("demo_app-job")] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [t for t in threading.enumerate() if t.name.startswith("demo_app-job")]


def test_sigterm_while_the_model_is_busy_exits_cleanly(medium_qa):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "demo_app", "serve", "--port", str(port),
                                "--pretrained", medium_qa["pretrained_model_name"],
                                "--checkpoint-dir", medium_qa["downstream_model_dir"]],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, process, seconds=120)
    outcomes = []

    def ask():  # answered, refused, or cut off by the stop: recorded, never an unhandled thread error
        try:
            outcomes.append(requests.post(url + "/predict", timeout=60,
                                          json={"question": QUESTION, "context": LONG_CONTEXT}).status_code)
        except requests.RequestException as error:
            outcomes.append(type(error).__name__)

    busy = [threading.Thread(target=ask) for _ in range(6)]
    for thread in busy:
        thread.start()
    time.sleep(1.5)  # the model is in the middle of the long contexts
    process.send_signal(signal.SIGTERM)
    output, errors = process.communicate(timeout=60)
    for thread in busy:
        thread.join(60)
    assert process.returncode == 0, errors[-2000:]
    assert "Stopped." in output
    assert len(outcomes) == 6, outcomes  # every visitor got an answer or a closed connection


def test_beam_searches_cannot_keep_a_short_text_waiting():
    """40 beam searches (4 beams, 128 tokens) from 20 visitors, then another visitor's 3-token
    text: a trial found it waited 25.2 s, as a beam search ran as one step that nothing could
    interrupt. Its beams are rows of the shared steps now, so the short text joins at once (the
    visitors holding more than their share of rows step aside) and is written in less time than
    one beam search alone takes; the beams stream the text they are sure of, and SIGTERM in the
    middle exits 0 with every stream ended by its result or "the server is stopping"."""
    server = Server({"model": {"task": "generation"}, "app": {"forwarded_hops": 1, "request_timeout_s": 300}})
    beam = {"prompt": "부정", "num_beams": 4, "do_sample": False, "max_new_tokens": 128, "min_length": 120}
    streams, pieces = [], []
    under_way = threading.Event()  # set when 16 pieces of text have come: the searches are running
    try:
        started = time.monotonic()
        assert post_json(server, "/predict", beam).status_code == 200
        beam_alone = time.monotonic() - started

        def attack(visitor):
            with requests.post(server.url + "/predict/stream", json=beam, stream=True, timeout=300,
                               headers={"X-Forwarded-For": visitor}) as response:
                events = []
                for line in response.iter_lines() if response.status_code == 200 else ():
                    if line.startswith(b"data: "):
                        events.append(json.loads(line[6:]))
                        pieces.append(events[-1]["type"])
                        if pieces.count("text") >= 16:
                            under_way.set()
                streams.append((response.status_code, events))

        attackers = [threading.Thread(target=attack, args=(f"203.0.113.{n % 20 + 1}",)) for n in range(40)]
        for attacker in attackers:
            attacker.start()
        assert under_way.wait(120)
        started = time.monotonic()
        short = post_json(server, "/predict", {"prompt": "긍정", "max_new_tokens": 3}, visitor="198.51.100.9")
        waited = time.monotonic() - started
        assert short.status_code == 200, short.text
        assert short.json()["tokens"] == 3
        assert waited < beam_alone, (waited, beam_alone)  # first come, first served: 8 beam searches or more
    finally:
        assert server.stop() == 0  # SIGTERM, most beam searches still running
    for attacker in attackers:
        attacker.join(60)
    assert len(streams) == 40
    admitted = [events for status, events in streams if status == 200]
    assert sorted({status for status, _ in streams}) in ([200], [200, 503])
    assert len(admitted) >= 32  # the waiting room's 32 long requests
    for events in admitted:
        assert events[-1]["type"] in ("result", "error"), events[-1]
        if events[-1]["type"] == "error":
            assert "stopping" in events[-1]["error"], events[-1]
    # what every beam agreed on was sent before the search ended
    assert any(event["type"] == "text" for events in admitted for event in events[:-1])


def test_a_flood_of_slow_connections_through_the_tunnel_cannot_keep_visitors_out(demo_classifier, monkeypatch):
    """Every visitor through an ssh tunnel is 127.0.0.1: 330 connections sending a body a byte at
    a time, against a server that takes 300, do not keep a new visitor out; slow bodies are cut."""
    from demo_app import create_app, serve
    from demo_app.serving import waitress_setup

    monkeypatch.setattr(waitress_setup, "CONNECTION_LIMIT", 300)
    monkeypatch.setattr(waitress_setup, "BODY_GRACE_S", 3)
    with serve(create_app(demo_classifier), port=0, quiet=True) as server:
        flood = []
        for _ in range(330):
            connection = socket.socket()
            connection.settimeout(5)
            try:
                connection.connect(("127.0.0.1", server.port))
                connection.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: 100000\r\n\r\n{")
            except OSError:
                pass
            flood.append(connection)
        try:
            answer = requests.post(server.url + "/predict", json={"sentence": "정말 재밌어요"}, timeout=10)
            assert answer.status_code == 200  # answered while the flood holds every connection it opened
            for _ in range(8):  # a byte every second: far under the minimum body rate
                time.sleep(1)
                for connection in flood:
                    try:
                        connection.sendall(b" ")
                    except OSError:
                        pass
            cut = 0
            for connection in flood:
                try:
                    connection.recv(1)  # b"": closed by the server (or an answer)
                    cut += 1
                except socket.timeout:
                    pass  # still open, still waiting for the body
                except OSError:
                    cut += 1
            assert cut == len(flood)
        finally:
            for connection in flood:
                connection.close()
