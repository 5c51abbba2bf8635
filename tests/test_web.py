"""The HTTP API against a real waitress server on 127.0.0.1."""

import base64
import json
import logging
import threading
import time

import pytest
import requests

from demo_app import create_app, make_inference_fn, serve

JSON = {"Content-Type": "application/json"}


def post(server, path, body, headers=JSON):
    return requests.post(server.url + path, data=body, headers=headers, timeout=30)


def assert_json_error(response, status, *words):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    message = response.json()["error"]
    assert "Traceback" not in message
    for word in words:
        assert word in message


def test_page(live_server):
    response = requests.get(live_server.url + "/", timeout=10)
    assert response.status_code == 200
    assert "<textarea" in response.text
    assert "static/app.js" in response.text
    assert "static/style.css" in response.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert requests.get(live_server.url + asset, timeout=10).status_code == 200


def test_api_takes_a_json_string_like_ratsnlp(live_server):
    response = post(live_server, "/api", json.dumps("이 영화 정말 재밌어요"))
    assert response.status_code == 200
    body = response.json()
    assert body["prediction"] == "긍정 (positive)"
    assert {"sentence", "positive_data", "negative_data", "positive_width", "negative_width",
            "probabilities"} <= body.keys()


def test_predict_one_many_and_get(live_server, demo_classifier):
    one = post(live_server, "/predict", json.dumps({"sentence": "시간이 아까웠습니다"})).json()
    assert one["prediction"] == "부정 (negative)"
    sentences = ["이 영화 정말 재밌어요", "시간이 아까웠습니다", "배우들 연기가 정말 좋았어요"]
    many = post(live_server, "/predict", json.dumps({"sentences": sentences})).json()["predictions"]
    assert [p["sentence"] for p in many] == sentences
    direct = make_inference_fn(demo_classifier)
    assert [p["prediction"] for p in many] == [direct(s)["prediction"] for s in sentences]
    got = requests.get(live_server.url + "/predict", params={"sentence": "재밌어요"}, timeout=10).json()
    assert got["sentence"] == "재밌어요"


def test_healthz(live_server):
    body = requests.get(live_server.url + "/healthz", timeout=10).json()
    assert body["status"] == "ok"
    assert body["model"]["labels"] == ["부정 (negative)", "긍정 (positive)"]


@pytest.mark.parametrize("path, body, status, words", [
    ("/api", "null", 400, ["JSON string", "null"]),
    ("/api", "42", 400, ["a number"]),
    ("/api", '{"sentence": "x"}', 400, ["an object", "/predict"]),
    ("/api", '["x"]', 400, ["a list"]),
    ("/api", '""', 400, ["empty"]),
    ("/api", '"   \\n "', 400, ["empty"]),
    ("/api", '"unterminated', 400, ["not valid JSON"]),
    ("/predict", "{}", 400, ['missing "sentence"']),
    ("/predict", '{"sentence": 5}', 400, ["must be a string"]),
    ("/predict", '{"sentence": null}', 400, ["must be a string"]),
    ("/predict", '{"sentence": ["a"]}', 400, ["must be a string"]),
    ("/predict", '{"sentence": ""}', 400, ["empty"]),
    ("/predict", '{"sentences": []}', 400, ["non-empty list"]),
    ("/predict", '{"sentences": "abc"}', 400, ["non-empty list"]),
    ("/predict", '{"sentences": ["ok", 1]}', 400, ["sentences[1]"]),
    ("/predict", '{"sentences": ["ok", " "]}', 400, ["sentences[1]", "empty"]),
    ("/predict", '"just a string"', 400, ["{\"sentence\""]),
    ("/predict", "[[[[[[[[[[[[", 400, ["not valid JSON"]),
])
def test_bad_json_input_is_a_400_and_the_server_keeps_serving(live_server, path, body, status, words):
    assert_json_error(post(live_server, path, body), status, *words)
    assert post(live_server, "/api", '"재밌어요"').status_code == 200


def test_not_utf8_is_a_400(live_server):
    assert_json_error(post(live_server, "/api", b'"\xff\xfe"'), 400, "UTF-8")


def test_deeply_nested_json_is_a_400(live_server):
    assert_json_error(post(live_server, "/predict", "[" * 20000 + "]" * 20000), 400, "nested")


def test_non_json_content_type_is_a_415(live_server):
    assert_json_error(post(live_server, "/api", '"x"', headers={"Content-Type": "text/plain"}), 415,
                      "Content-Type: application/json")
    assert_json_error(requests.post(live_server.url + "/predict", data={"sentence": "x"}, timeout=10), 415)


def test_limits_are_413_naming_the_limit(live_server):
    assert_json_error(post(live_server, "/api", json.dumps("가" * 2001)), 413, "2000", "max_text_chars")
    assert_json_error(post(live_server, "/predict", json.dumps({"sentences": ["좋아"] * 65})), 413,
                      "64", "max_batch_sentences")
    assert_json_error(post(live_server, "/api", json.dumps("가" * 70000)), 413, "max_body_bytes")
    assert post(live_server, "/api", '"재밌어요"').status_code == 200


def test_404_and_405_are_json_under_the_api(live_server):
    assert_json_error(requests.get(live_server.url + "/api", timeout=10), 405, "GET")
    assert_json_error(requests.delete(live_server.url + "/predict", timeout=10), 405)
    assert_json_error(requests.get(live_server.url + "/api/v2/nothing", timeout=10), 404, "/api/v2/nothing")
    assert_json_error(requests.put(live_server.url + "/healthz", timeout=10), 405)


def test_security_headers_and_closed_cors(live_server):
    response = requests.get(live_server.url + "/", headers={"Origin": "https://evil.example"}, timeout=10)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors" in csp
    assert "colab.research.google.com" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    api = post(live_server, "/api", '"x"', headers={**JSON, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in api.headers


def test_cors_allow_list_and_basic_auth(demo_classifier):
    app = create_app(demo_classifier, cors_origins=["https://course.example"], auth="student:s3cret")
    with serve(app, port=0, quiet=True) as server:
        assert_json_error(post(server, "/api", '"x"'), 401, "password")
        assert requests.get(server.url + "/", timeout=10).headers["WWW-Authenticate"].startswith("Basic")
        token = base64.b64encode("student:s3cret".encode()).decode()
        headers = {**JSON, "Authorization": f"Basic {token}", "Origin": "https://course.example"}
        response = post(server, "/api", '"재밌어요"', headers=headers)
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "https://course.example"
        wrong = base64.b64encode(b"student:wrong").decode()
        assert post(server, "/api", '"x"', headers={**JSON, "Authorization": f"Basic {wrong}"}).status_code == 401
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200  # for monitors


def test_rate_limit_is_429_with_retry_after(demo_classifier):
    # forwarded_hops=1: one trusted proxy (ngrok's edge) appends the visitor's address.
    app = create_app(demo_classifier, rate_limit="3/minute", forwarded_hops=1)
    with serve(app, port=0, quiet=True) as server:
        first = {**JSON, "X-Forwarded-For": "198.51.100.7"}
        codes = [post(server, "/api", '"좋아"', headers=first).status_code for _ in range(3)]
        limited = post(server, "/api", '"좋아"', headers=first)
        assert codes == [200, 200, 200]
        assert_json_error(limited, 429, "3/minute")
        assert int(limited.headers["Retry-After"]) >= 1
        # Visitors behind a tunnel share 127.0.0.1; the proxy's X-Forwarded-For tells them apart.
        other = post(server, "/api", '"좋아"', headers={**JSON, "X-Forwarded-For": "203.0.113.9"})
        assert other.status_code == 200


def test_overload_is_503_with_retry_after(demo_classifier):
    """A full request queue answers at once with 503 instead of piling up latency."""
    from demo_app import DeployArguments, load_predictor

    classifier = load_predictor(DeployArguments(), verbose=False, max_queue=1, batch_size=1)
    gate = threading.Event()
    original = classifier.batcher._run_batch
    classifier.batcher._run_batch = lambda batch: (gate.wait(), original(batch))[1]
    with serve(create_app(classifier), port=0, quiet=True) as server:
        results = []
        senders = [threading.Thread(target=lambda: results.append(post(server, "/api", '"좋아"')))
                   for _ in range(4)]
        for sender in senders:
            sender.start()
            time.sleep(0.2)
        gate.set()
        for sender in senders:
            sender.join()
        codes = sorted(r.status_code for r in results)
        assert 200 in codes
        assert 503 in codes
        busy = next(r for r in results if r.status_code == 503)
        assert busy.headers["Retry-After"] == "1"
        assert "busy" in busy.json()["error"]
        assert post(server, "/api", '"좋아"').status_code == 200


def test_plain_inference_fn_is_served_too():
    def inference_fn(sentence):  # a ratsnlp-style function, no classifier behind it
        return {"sentence": sentence, "prediction": "긍정 (positive)", "positive_data": "긍정 0.9",
                "negative_data": "부정 0.1", "positive_width": "90%", "negative_width": "10%"}

    with serve(create_app(inference_fn), port=0, quiet=True) as server:
        assert post(server, "/api", '"hi"').json()["positive_width"] == "90%"
        assert_json_error(post(server, "/api", '"  "'), 400, "empty")


def test_serve_replaces_an_earlier_server_on_the_same_port(demo_classifier, capsys):
    first = serve(create_app(demo_classifier), port=0, quiet=True)
    port = first.port
    second = serve(create_app(demo_classifier), port=port, quiet=True)  # a re-run notebook cell
    try:
        assert not first.running
        assert second.running
        assert "Stopping the earlier demo_app server" in capsys.readouterr().out
        assert requests.get(second.url + "/healthz", timeout=10).status_code == 200
    finally:
        second.stop()
    assert not second.running
    with pytest.raises(requests.ConnectionError):
        requests.get(second.url + "/healthz", timeout=2)


def test_port_held_by_another_program_says_what_to_do(demo_classifier):
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(OSError, match=f"port {port} .* in use .*port=0"):
            serve(create_app(demo_classifier), port=port, quiet=True)


def test_stop_lets_requests_in_flight_finish(demo_classifier):
    from demo_app import DeployArguments, load_predictor

    classifier = load_predictor(DeployArguments(), verbose=False)
    original = classifier.batcher._run_batch
    classifier.batcher._run_batch = lambda batch: (time.sleep(1.0), original(batch))[1]
    server = serve(create_app(classifier), port=0, quiet=True)
    responses = []
    sender = threading.Thread(target=lambda: responses.append(post(server, "/api", '"좋아요"')))
    sender.start()
    time.sleep(0.3)
    server.stop()
    sender.join()
    assert responses[0].status_code == 200
    assert not server.running
    server.stop()  # a second stop is harmless


def test_logs_hold_lengths_and_timings_not_text_or_passwords(demo_classifier, caplog):
    caplog.set_level(logging.DEBUG)
    app = create_app(demo_classifier, auth="student:pw-Secret-42")
    token = base64.b64encode(b"student:pw-Secret-42").decode()
    with serve(app, port=0, quiet=True) as server:
        post(server, "/api", json.dumps("비밀 일기 내용입니다"), headers={**JSON, "Authorization": f"Basic {token}"})
        post(server, "/api", json.dumps("x"), headers={**JSON, "Authorization": "Basic d3Jvbmc6d3Jvbmc="})
    assert "POST /api 200 chars=11 " in caplog.text
    assert "POST /api 401" in caplog.text
    assert "비밀" not in caplog.text
    assert "pw-Secret-42" not in caplog.text
    assert token not in caplog.text
