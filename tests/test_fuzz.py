"""Property-based fuzzing of every API route over real HTTP: whatever arrives, the answer is a
documented 2xx/4xx JSON object (never a 5xx, never HTML) and the server keeps answering."""

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo_app import create_app, serve

DOCUMENTED = {200, 400, 404, 405, 413, 415, 429}
ROUTES = ["/api", "/predict", "/healthz", "/api/", "/predict/x"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
# Valid JSON that no encoding can carry (lone surrogates) and numbers too large to read.
HOSTILE_JSON = st.one_of(
    st.sampled_from(['"\\ud800"', '{"sentence": "a\\udfff"}', '{"sentences": ["ok", "\\ud83d"]}']),
    st.integers(4301, 20000).map(lambda digits: ('{"sentence": "x", "n": ' + "7" * digits + "}")),
    st.integers(4301, 20000).map(lambda digits: "1" * digits),
).map(str.encode)
BODIES = st.one_of(
    HOSTILE_JSON,
    st.binary(max_size=300),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["sentence", "sentences", "x"]), JSON_VALUES, max_size=2)
      .map(lambda v: json.dumps(v).encode()),
    st.text(max_size=80).map(lambda s: s.encode("utf-16")),
    st.integers(1, 3000).map(lambda depth: ("[" * depth + "]" * depth).encode()),
    st.integers(1, 200_000).map(lambda n: json.dumps("가" * n).encode()),
)
CONTENT_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                                 "application/x-www-form-urlencoded", "multipart/form-data", "", "application/ld+json"])
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])


@pytest.fixture(scope="module")
def server(demo_classifier):
    handle = serve(create_app(demo_classifier), port=0, quiet=True)
    yield handle
    handle.stop()


def check(response, method):
    assert response.status_code in DOCUMENTED, (response.status_code, response.text[:300])
    if method != "HEAD":  # HEAD answers carry no body
        assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
        assert isinstance(response.json(), dict)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), method=METHODS, body=BODIES, content_type=CONTENT_TYPES)
def test_any_request_gets_a_documented_json_answer(server, route, method, body, content_type):
    response = requests.request(method, server.url + route, data=body,
                                headers={"Content-Type": content_type} if content_type else {}, timeout=30)
    check(response, method)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=100), key=st.sampled_from(["sentence", "s", "sentence[]"]))
def test_any_query_string(server, query, key):
    response = requests.get(server.url + "/predict", params={key: query}, timeout=30)
    check(response, "GET")


def test_server_still_answers_after_fuzzing(server):
    assert requests.post(server.url + "/api", json="재밌어요", timeout=10).status_code == 200
