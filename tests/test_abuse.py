"""A public demo that one visitor cannot take down: each case as a hostile visitor would try it,
against a real waitress server on 127.0.0.1 with real sockets, bounded in count and time."""

import base64
import http.client
import json
import select
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import torch
from helpers import HostileSockets, process_usage
from werkzeug.test import EnvironBuilder

from demo_app import Predictor, create_app, serve
from demo_app.web.options import WebOptions
from demo_app.web.proxies import TrustedProxies
from demo_app.web.rate_limits import RateLimiter, TokenBucket
from demo_app.web.visitors import SHARED, visitor_key

JSON = {"Content-Type": "application/json"}
INNOCENT = ["이 영화 정말 재밌어요", "시간이 아까웠습니다", "배우들 연기가 좋았어요"]


def post(url, body, headers=JSON, timeout=30):
    return requests.post(url, data=body, headers=headers, timeout=timeout)


# -- one bad request never fails its neighbours ---------------------------------------------


def test_poison_in_a_batch_fails_only_itself(demo_classifier):
    """Input the tokenizer cannot take reaches it (validation bypassed on purpose) inside batches
    full of innocent requests: only the poisoned requests fail."""
    batcher = demo_classifier.batcher
    poison = [12345]  # not text: every tokenizers version raises
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(lambda i=i: batcher.submit(poison if i % 5 == 0 else [INNOCENT[i % 3]]))
                   for i in range(200)]
        submitted = [f.result() for f in futures]
    outcomes = []
    for i, future in enumerate(submitted):
        try:
            outcomes.append(("ok", future.result(timeout=30)[0].label))
        except Exception as error:  # noqa: BLE001
            outcomes.append(("failed", type(error).__name__))
    for i, (kind, _) in enumerate(outcomes):
        assert kind == ("failed" if i % 5 == 0 else "ok"), (i, outcomes[i])


def test_poison_over_http_beside_innocent_visitors(live_server):
    url = live_server.url
    bad_bodies = ['{"sentence": "\\ud800"}', '"\\udfff x"', '{"sentences": ["ok", "\\ud83d"]}',
                  '{"sentence": "x", "n": ' + "9" * 5000 + "}", "[" + "1" * 5000 + "]"]

    def innocent(i):
        return post(url + "/predict", json.dumps({"sentence": INNOCENT[i % 3]})).status_code

    def hostile(i):
        path = "/api" if bad_bodies[i % len(bad_bodies)].startswith('"') else "/predict"
        return post(url + path, bad_bodies[i % len(bad_bodies)])

    with ThreadPoolExecutor(16) as pool:
        good = pool.map(innocent, range(150))
        bad = list(pool.map(hostile, range(50)))
    assert set(good) == {200}
    for response in bad:
        assert response.status_code == 400, response.text
        message = response.json()["error"]
        assert "Unicode" in message or "too large" in message, message


def test_nan_weights_answer_a_clean_json_error(demo_classifier):
    model = demo_classifier.model.__class__(demo_classifier.model.config).eval()
    model.load_state_dict(demo_classifier.model.state_dict())
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    broken = Predictor(model, demo_classifier.tokenizer, labels=demo_classifier.labels)
    with serve(create_app(broken), port=0, quiet=True) as server:
        response = post(server.url + "/api", '"재밌어요"')
        assert response.status_code == 500
        assert "NaN" in response.json()["error"]
        assert "Traceback" not in response.text
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200


# -- idle and slow connections ----------------------------------------------------------------


def answers_quickly(url):
    started = time.monotonic()
    assert requests.get(url + "/healthz", timeout=2).status_code == 200
    assert post(url + "/api", '"재밌어요"', timeout=2).status_code == 200
    return time.monotonic() - started


def test_500_idle_and_100_slowloris_sockets_do_not_lock_anyone_out(live_server):
    with HostileSockets(live_server.port, idle=500, slow=100) as hostile:
        for _ in range(3):
            hostile.trickle()
            assert answers_quickly(live_server.url) < 2
            time.sleep(0.5)
    assert answers_quickly(live_server.url) < 2


# -- visitors as the tunnel sees them ---------------------------------------------------------


def seen_visitor(peer: str, forwarded_for: list, hops: int, prefix: str = "") -> tuple:
    """The visitor key and path prefix a request from ``peer`` with these headers gets through
    the app's proxy middleware (ProxyFix with ``hops``), as the app would see them."""
    def echo(environ, start_response):
        start_response("200 OK", [])
        return [environ.get("SCRIPT_NAME", "").encode(), b"|", visitor_key(environ.get("REMOTE_ADDR")).encode()]

    headers = [("X-Forwarded-For", value) for value in forwarded_for]
    headers += [("X-Forwarded-Prefix", prefix)] if prefix else []
    environ = EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": peer}).get_environ()
    body = b"".join(TrustedProxies(echo, WebOptions(forwarded_hops=hops))(environ, lambda *args: None))
    script_name, key = body.decode().split("|")
    return key, script_name


def test_visitor_key_trusts_only_the_hops_it_is_told_of():
    assert seen_visitor("127.0.0.1", ["6.6.6.6"], 0)[0] == SHARED  # nobody vouches for it
    assert seen_visitor("127.0.0.1", ["6.6.6.6, 198.51.100.7"], 1)[0] == "198.51.100.7"
    assert seen_visitor("127.0.0.1", ["198.51.100.7, 10.0.0.2"], 2)[0] == "198.51.100.7"
    assert seen_visitor("127.0.0.1", ["10.0.0.2"], 2)[0] == SHARED  # fewer entries than proxies
    assert seen_visitor("127.0.0.1", [], 1)[0] == SHARED
    assert seen_visitor("127.0.0.1", ["not-an-ip"], 1)[0] == SHARED
    assert seen_visitor("127.0.0.1", ["x" * 250_000], 1)[0] == SHARED
    assert seen_visitor("203.0.113.5", ["1.2.3.4"], 0)[0] == "203.0.113.5"  # a direct peer, no proxy
    # A host's proxy is not on loopback (Spaces, Render, an nginx on another address): trusted anyway.
    assert seen_visitor("10.1.2.3", ["6.6.6.6, 198.51.100.7"], 1)[0] == "198.51.100.7"
    a = seen_visitor("127.0.0.1", ["2001:db8:1:2:aaaa::1"], 1)[0]
    assert a == seen_visitor("127.0.0.1", ["2001:db8:1:2:bbbb::9"], 1)[0] == "2001:db8:1:2::/64"
    assert seen_visitor("127.0.0.1", ["::ffff:198.51.100.7"], 1)[0] == "198.51.100.7"


def test_the_path_prefix_is_taken_from_trusted_proxies_and_local_agents():
    assert seen_visitor("10.1.2.3", ["198.51.100.7"], 1, prefix="/demo")[1] == "/demo"
    assert seen_visitor("127.0.0.1", [], 0, prefix="/user/a/proxy/5000")[1] == "/user/a/proxy/5000"  # Jupyter
    assert seen_visitor("203.0.113.5", [], 0, prefix="/evil")[1] == ""  # a visitor's own header: ignored


def test_rotating_x_forwarded_for_cannot_multiply_the_limit(demo_classifier):
    untrusted = create_app(demo_classifier, rate_limit="5/minute")
    with serve(untrusted, port=0, quiet=True) as server:
        codes = [post(server.url + "/api", '"좋아"', headers={**JSON, "X-Forwarded-For": f"10.0.0.{i}"})
                 .status_code for i in range(20)]
        assert codes.count(200) == 5
        assert codes.count(429) == 15
    # Behind ngrok (one trusted hop) each address is a visitor, but the server-wide ceiling holds.
    trusted = create_app(demo_classifier, rate_limit="5/minute", rate_limit_total="20/minute",
                         forwarded_hops=1)
    with serve(trusted, port=0, quiet=True) as server:
        codes = [post(server.url + "/api", '"좋아"',
                      headers={**JSON, "X-Forwarded-For": f"6.6.6.6, 198.51.100.{i}"}).status_code
                 for i in range(40)]
        assert codes.count(200) == 20
        assert codes.count(429) == 20
        assert "for everyone" in post(server.url + "/api", '"좋아"',
                                      headers={**JSON, "X-Forwarded-For": "198.51.100.99"}).json()["error"]


def test_a_request_refused_for_everyone_costs_the_visitor_nothing():
    """3/minute per visitor, 2/minute for everyone: the third request is refused by the
    server-wide bucket, and the visitor keeps the token it would have cost them."""
    limiter = RateLimiter("3/minute", "2/minute")
    assert [limiter.check("198.51.100.7") == 0 for _ in range(3)] == [True, True, False]
    limiter._everyone = TokenBucket(100, 60.0, time.monotonic())  # everyone's bucket refilled
    assert [limiter.check("198.51.100.7") == 0 for _ in range(2)] == [True, False]  # one left, not none


def test_huge_header_values_keep_memory_flat(demo_classifier):
    app = create_app(demo_classifier, rate_limit="1000/minute", forwarded_hops=1)
    limiter = app.extensions["demo_app"].rate_limiter
    with serve(app, port=0, quiet=True) as server, requests.Session() as session:
        def send(i):
            header = f"{i}-" + "x" * 250_000
            return session.get(server.url + "/predict", params={"sentence": "좋아"},
                               headers={"X-Forwarded-For": header}, timeout=30).status_code
        [send(i) for i in range(50)]  # warm-up: buffers, allocator pools
        before = process_usage()["rss_mb"]
        codes = [send(i) for i in range(400)]
        after = process_usage()["rss_mb"]
    assert set(codes) <= {200, 429}
    assert limiter.visitors == 1  # every one of them is the one shared visitor
    assert after - before < 40, f"RSS grew {before:.0f} -> {after:.0f} MB"


def test_100k_visitors_keep_per_request_cost_flat():
    limiter = RateLimiter("5/minute", "1000000/second", max_visitors=10_000)

    def cost(keys):
        started = time.perf_counter()
        for key in keys:
            limiter.check(key)
        return (time.perf_counter() - started) / len(keys)

    first = cost([f"10.0.{i // 256}.{i % 256}" for i in range(2_000)])
    cost([f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(100_000)])
    last = cost([f"11.0.{i // 256}.{i % 256}" for i in range(2_000)])
    assert limiter.visitors == 10_000  # bounded: the least recently seen were forgotten
    assert last < first * 5, (first, last)  # a ratio in one run, not a wall-clock budget


def test_wrong_passwords_are_throttled_but_the_right_one_always_gets_in(demo_classifier):
    """Behind an ssh tunnel or Colab's proxy every visitor is 127.0.0.1: a guesser there must not
    lock the owner out, and one visitor's guesses must not spill onto other visitors."""
    app = create_app(demo_classifier, auth="student:s3cret-but-long")
    wrong = {**JSON, "Authorization": "Basic " + base64.b64encode(b"student:guess").decode()}
    right = {**JSON, "Authorization": "basic " + base64.b64encode(b"student:s3cret-but-long").decode()}
    with serve(app, port=0, quiet=True) as server:
        assert post(server.url + "/api", '"좋아"', headers=right).status_code == 200  # lowercase scheme
        codes = [post(server.url + "/api", '"좋아"', headers=wrong).status_code for _ in range(30)]
        assert codes[:5] == [401] * 5
        assert set(codes[5:]) == {429}
        throttled = post(server.url + "/api", '"좋아"', headers=wrong)
        assert throttled.status_code == 429
        assert int(throttled.headers["Retry-After"]) >= 1
        for _ in range(3):  # the guesser keeps going; the owner, at the same address, gets in
            assert post(server.url + "/api", '"좋아"', headers=wrong).status_code == 429
            assert post(server.url + "/api", '"좋아"', headers=right).status_code == 200

    app = create_app(demo_classifier, auth="student:s3cret-but-long", forwarded_hops=1)
    with serve(app, port=0, quiet=True) as server:  # many addresses, 10 x 5 guesses each
        for n in range(10):
            for _ in range(6):
                post(server.url + "/api", '"좋아"', headers={**wrong, "X-Forwarded-For": f"198.51.100.{n}"})
        innocent = {**wrong, "X-Forwarded-For": "203.0.113.7"}
        assert post(server.url + "/api", '"좋아"', headers=innocent).status_code == 401  # not 429
        forwarded = {**right, "X-Forwarded-For": "203.0.113.7"}
        assert post(server.url + "/api", '"좋아"', headers=forwarded).status_code == 200


def test_auth_needs_a_password_or_generates_one(demo_classifier, capfd):
    from demo_app import WebOptions

    for bad in ("user:", ":pw", ""):
        with pytest.raises(ValueError, match="user:password"):
            WebOptions(auth=bad)
    app = create_app(demo_classifier, auth="teacher")
    shown = capfd.readouterr().err
    password = shown.split("with the password ")[1].split()[0]
    assert len(password) >= 16
    assert app.extensions["demo_app"].settings.auth == f"teacher:{password}"
    create_app(demo_classifier, auth="teacher:short")
    assert "shorter than 12 characters" in capfd.readouterr().err


# -- stop() and re-serve --------------------------------------------------------------------


def keep_alive_request(connection):
    """GET /healthz on a kept-alive http.client connection: the body, or b"" if it was closed."""
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().read()
    except (http.client.HTTPException, OSError):
        return b""


def test_serve_and_stop_cycles_leave_nothing_behind(demo_classifier):
    app = create_app(demo_classifier)

    def cycle(port):
        server = serve(app, port=port, quiet=True)
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
        return server

    cycle(0).stop()  # warm-up
    baseline = process_usage()
    started = time.monotonic()
    for _ in range(30):
        cycle(0).stop()
    stop_time = (time.monotonic() - started) / 30
    started = time.monotonic()
    running = [cycle(0) for _ in range(30)]  # what a cycle costs without stop()
    start_time = (time.monotonic() - started) / 30
    for handle in running:
        handle.stop()
    server = cycle(0)
    for _ in range(30):  # re-running the notebook cell: same port, replaced in place
        server = serve(app, port=server.port, quiet=True)
    server.stop()
    after = process_usage()
    assert after["threads"] <= baseline["threads"] + 1, (baseline, after)
    assert after["fds"] <= baseline["fds"] + 5, (baseline, after)
    assert after["rss_mb"] - baseline["rss_mb"] < 40, (baseline, after)
    # stop() returns at once (no waiting out a poll interval or a timeout, which cost a second): a
    # cycle with it costs a few times starting a server and asking it once (3x failed once in CI,
    # 65 ms against 17 ms: joining the server's threads).
    assert stop_time < 10 * start_time, (stop_time, start_time)


def test_no_old_app_answers_after_stop_or_reserve(demo_classifier, capfd):
    old = serve(create_app(demo_classifier), port=0, quiet=True)
    connection = http.client.HTTPConnection("127.0.0.1", old.port, timeout=5)
    assert b'"status":"ok"' in keep_alive_request(connection)
    new = serve(create_app(demo_classifier, auth="student:s3cret"), port=old.port, quiet=True)
    try:
        assert keep_alive_request(connection) == b"", "the old app answered on a kept-alive connection"
        assert requests.post(new.url + "/api", json="좋아", timeout=5).status_code == 401  # the new app
    finally:
        connection.close()
        new.stop()
    assert "Traceback" not in capfd.readouterr().err


# -- bodies and protocol corners ------------------------------------------------------------


def test_12_mb_bodies_get_a_readable_413(live_server):
    body = json.dumps("가" * 4_000_000).encode()  # 12 MB
    response = post(live_server.url + "/api", body)
    assert response.status_code == 413
    assert "max_body_bytes" in response.json()["error"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    request = urllib.request.Request(live_server.url + "/api", data=body, headers=JSON)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413
    assert "max_body_bytes" in json.loads(refused.value.read())["error"]
    assert post(live_server.url + "/api", '"좋아"').status_code == 200


def raw_exchange(port, request_bytes):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(request_bytes)
        chunks = []
        while True:
            try:
                data = connection.recv(65536)
            except socket.timeout:
                return b"".join(chunks), False  # still open
            if not data:
                return b"".join(chunks), True  # closed by the server
            chunks.append(data)


def test_the_servers_own_error_pages_carry_the_security_headers(live_server):
    answer, closed = raw_exchange(live_server.port, b"POST /api HTTP/1.1\r\nHost: x\r\n"
                                                    b"Content-Length: nope\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    assert closed
    assert b"Content-Security-Policy: default-src 'self'" in answer
    assert b"nosniff" in answer


def test_transfer_encoding_with_content_length_closes_the_connection(live_server):
    answer, closed = raw_exchange(
        live_server.port,
        b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n4\r\n\"ok\"\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")
    assert closed


def test_cors_answers_vary_by_origin(demo_classifier):
    with serve(create_app(demo_classifier, cors_origins=["https://course.example"]), port=0,
               quiet=True) as server:
        for origin in ("https://course.example", "https://evil.example"):
            response = post(server.url + "/api", '"좋아"', headers={**JSON, "Origin": origin})
            assert "Origin" in response.headers["Vary"]


def test_framing_outside_colab_is_the_app_and_colab_page_only(live_server):
    csp = requests.get(live_server.url + "/", timeout=5).headers["Content-Security-Policy"]
    ancestors = csp.split("frame-ancestors", 1)[1].split(";")[0].split()
    assert ancestors == ["'self'", "https://colab.research.google.com"]


def test_chunked_bodies_over_the_limit_are_counted_not_stored(live_server):
    """A chunked body has no length up front: it is kept up to the app's limit and past that
    only counted, so a 20 MB upload leaves no temporary file behind and gets the JSON 413."""
    import os

    def chunks():
        for _ in range(20):
            yield b"a" * 1_000_000

    before = set(os.listdir("/proc/self/fd"))
    response = requests.post(live_server.url + "/predict", data=chunks(), headers=JSON, timeout=60)
    assert response.status_code == 413
    assert "max_body_bytes" in response.json()["error"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    deleted = [os.readlink(f"/proc/self/fd/{fd}") for fd in set(os.listdir("/proc/self/fd")) - before
               if os.path.exists(f"/proc/self/fd/{fd}")]
    assert not [path for path in deleted if "(deleted)" in path]
    small = requests.post(live_server.url + "/predict", data=iter([b'{"sentence": ', b'"\xec\xa2\x8b\xec\x95\x84"}']),
                          headers=JSON, timeout=30)
    assert small.status_code == 200
    assert small.json()["sentence"] == "좋아"


def test_a_first_visit_without_credentials_is_not_a_wrong_password(demo_classifier):
    app = create_app(demo_classifier, auth="student:s3cret")
    right = {"Authorization": "Basic " + base64.b64encode(b"student:s3cret").decode()}
    with serve(app, port=0, quiet=True) as server:
        codes = [requests.get(server.url + "/", timeout=10).status_code for _ in range(10)]
        assert set(codes) == {401}
        assert requests.get(server.url + "/", headers=right, timeout=10).status_code == 200


def test_a_visitors_path_cannot_forge_log_lines(live_server, caplog):
    import logging

    caplog.set_level(logging.INFO)
    requests.get(live_server.url + "/nope%0D%0A2026-01-01%20FAKE%20LOGLINE", timeout=10)
    assert not any(line.startswith("2026-01-01 FAKE") for line in caplog.text.splitlines())
    assert "\\r\\n2026-01-01 FAKE LOGLINE" in caplog.text


def test_one_address_cannot_hold_every_connection(live_server):
    """Peers other than loopback's 127.0.0.1 (a tunnel agent speaks for everyone) hold at most
    CONNECTIONS_PER_ADDRESS connections; 127.0.0.2 stands in for one such visitor."""
    from demo_app.serving.waitress_setup import CONNECTIONS_PER_ADDRESS

    sockets = []
    try:
        for _ in range(CONNECTIONS_PER_ADDRESS + 50):
            connection = socket.socket()
            connection.bind(("127.0.0.2", 0))
            connection.connect(("127.0.0.1", live_server.port))
            sockets.append(connection)
        time.sleep(1.0)
        readable, _, _ = select.select(sockets, [], [], 0.5)  # closed by the server: EOF to read
        closed = [c for c in readable if not c.recv(1, socket.MSG_PEEK)] if readable else []
        assert len(sockets) - len(closed) == CONNECTIONS_PER_ADDRESS
        assert answers_quickly(live_server.url) < 2
    finally:
        for connection in sockets:
            connection.close()


def test_serve_and_stop_cycles_close_their_sockets_without_the_garbage_collector(demo_classifier):
    import gc

    app = create_app(demo_classifier)
    server = serve(app, port=0, quiet=True)
    requests.get(server.url + "/healthz", timeout=5)
    server.stop()
    gc.collect()
    gc.disable()
    try:
        baseline = process_usage()["fds"]
        for _ in range(20):
            server = serve(app, port=0, quiet=True)
            with requests.Session() as session:
                assert session.get(server.url + "/healthz", timeout=5).status_code == 200
            server.stop()
        assert process_usage()["fds"] <= baseline + 2
    finally:
        gc.enable()


def test_a_form_of_thousands_of_parts_is_told_so(live_server):
    body = {f"field{i}": "x" for i in range(5000)}
    response = requests.post(live_server.url + "/predict/file", files={"file": ("a.csv", b"sentence\nx\n")},
                             data=body, timeout=30)
    assert response.status_code == 413
    assert "more than 1000 parts" in response.json()["error"]


def test_a_recompressed_checkpoint_is_refused_not_read_as_garbage(tmp_path):
    """torch.save stores its archive's entries as they are; a checkpoint zipped again with
    compression (or a "zip bomb") would be memory-mapped as garbage numbers."""
    import zipfile

    from demo_app import CheckpointError, read_state_dict

    torch.save({"classifier.weight": torch.zeros(2, 4), "classifier.bias": torch.zeros(2)}, tmp_path / "plain.pt")
    with zipfile.ZipFile(tmp_path / "plain.pt") as source, \
            zipfile.ZipFile(tmp_path / "zipped.pt", "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info.filename))
    assert read_state_dict(tmp_path / "plain.pt")["classifier.bias"].tolist() == [0.0, 0.0]
    with pytest.raises(CheckpointError, match="compressed archive"):
        read_state_dict(tmp_path / "zipped.pt")
