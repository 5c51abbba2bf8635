"""``python -m demo_app push SPACE_ID DIR`` and ``push_to_space``: an export uploaded to a Space.

huggingface.co cannot be reached from the tests, so ``fake_hub.py`` stands in for it: a real HTTP
server that ``huggingface_hub``'s own client talks to (``HF_ENDPOINT``), answering as the hub does.
"""

from pathlib import Path

import pytest
from fake_hub import FakeHub
from helpers import run_cli

from demo_app import DeployArguments, HubError, export_app, push_to_space

SECRET_URL = "postgres://teacher:not-a-real-pass@db.example/demo"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_app(DeployArguments(), tmp_path_factory.mktemp("export") / "app", say=lambda message: None)


@pytest.fixture
def hub(monkeypatch):
    server = FakeHub()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.close()


def test_the_cli_makes_a_docker_space_uploads_the_export_and_sets_its_secrets(exported, hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_write")
    monkeypatch.setenv("DEMO_APP_HISTORY", SECRET_URL)
    result = run_cli("push", "student/demo", str(exported), "--secret", "DEMO_APP_HISTORY",
                     "--variable", "DEMO_APP_RATE_LIMIT=30/minute")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{hub.url}/spaces/student/demo"
    assert hub.requests[0] == "GET /api/whoami-v2"  # the token is checked before anything else
    assert [(repo["type"], repo["sdk"], repo["name"]) for repo in hub.repos] == [("space", "docker", "demo")]
    sent = {path: content for path, content in hub.files.items()}
    on_disk = {str(path.relative_to(exported)): path.read_bytes() for path in exported.rglob("*") if path.is_file()}
    assert sent == on_disk  # every file, byte for byte
    assert hub.secrets == {"DEMO_APP_HISTORY": SECRET_URL}
    assert hub.variables == {"DEMO_APP_RATE_LIMIT": "30/minute"}
    for secret in ("hf_write", "not-a-real-pass"):
        assert secret not in result.stdout + result.stderr


def test_a_re_export_into_a_pushed_folder_replaces_it(exported, hub):
    assert push_to_space(exported, "student/demo", "hf_write", say=lambda message: None).endswith("/student/demo")
    again = export_app(DeployArguments(), exported, say=lambda message: None)  # replaced, not refused
    assert again == exported
    assert (exported / "model" / "demo_app.json").is_file()


@pytest.mark.parametrize(("token", "words"), [("hf_wrong", "refused the token (401"), ("hf_read", "can only read")])
def test_a_bad_token_stops_before_any_upload(exported, hub, token, words):
    with pytest.raises(HubError, match=words.replace("(", r"\(")) as error:
        push_to_space(exported, "student/demo", token, say=lambda message: None)
    assert "settings/tokens" in str(error.value)
    assert hub.requests == ["GET /api/whoami-v2"]
    assert token not in str(error.value)


def test_no_token_and_a_missing_secret_are_errors_before_the_network(exported, hub, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(HubError, match="no Hugging Face token.*HF_TOKEN"):
        push_to_space(exported, "student/demo", say=lambda message: None)
    monkeypatch.delenv("DEMO_APP_AUTH", raising=False)
    with pytest.raises(HubError, match="DEMO_APP_AUTH is not set"):
        push_to_space(exported, "student/demo", "hf_write", secrets=["DEMO_APP_AUTH"], say=lambda message: None)
    with pytest.raises(FileNotFoundError, match="not an exported demo"):
        push_to_space(Path(exported).parent, "student/demo", "hf_write", say=lambda message: None)
    assert hub.requests == []


@pytest.mark.parametrize("silent", ["all", True])
def test_a_hub_that_never_answers_is_an_error_that_says_so(exported, monkeypatch, silent):
    """A hub that accepts connections and never answers: at the token check (``all``), or after it
    (the upload). The push ends with a sentence naming the limit, instead of waiting forever."""
    hub = FakeHub(silent=silent)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    try:
        with pytest.raises(HubError, match="did not answer within 1 s"):
            push_to_space(exported, "student/demo", "hf_write", timeout_s=1, say=lambda message: None)
        assert hub.requests[0] == "GET /api/whoami-v2"
        assert len(hub.requests) == (1 if silent == "all" else 2)  # nothing after what went unanswered
    finally:
        hub.close()
