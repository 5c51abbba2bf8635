import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from demo_app import DeployArguments, create_app, load_predictor, serve

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# OpenVINO exports made by the tests go to a folder of their own, never the user's cache.
os.environ["DEMO_APP_CACHE"] = tempfile.mkdtemp(prefix="demo_app-test-cache-")
atexit.register(shutil.rmtree, os.environ["DEMO_APP_CACHE"], True)
# Processes the tests start (servers, notebook kernels, their children) make their temporary
# folders in one folder of this run's, removed when it ends: the notebooks' export cell, run
# outside Colab, and a killed server would otherwise leave folders in /tmp at every run. The test
# processes of one run (pytest-xdist's) share the folder their controller made.
if "DEMO_APP_TEST_TMPDIR" not in os.environ:
    os.environ["DEMO_APP_TEST_TMPDIR"] = os.environ["TMPDIR"] = tempfile.mkdtemp(prefix="demo_app-tmp-")
    os.chmod(os.environ["TMPDIR"], 0o755)  # PostgreSQL runs as its own user and must reach its folder
    atexit.register(shutil.rmtree, os.environ["DEMO_APP_TEST_TMPDIR"], True)

ARTIFACTS = ROOT / "test-artifacts"

# In CI the property tests draw the same examples every run (a failure there is reproducible
# from the log); on a developer's machine they keep exploring.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(scope="session")
def demo_classifier():
    """The bundled demo model, exact (fp32), batched as in production."""
    return load_predictor(DeployArguments(precision="fp32"), verbose=False)


@pytest.fixture(scope="session")
def live_server(demo_classifier):
    """A real waitress server on 127.0.0.1 serving the demo model."""
    handle = serve(create_app(demo_classifier), port=0, quiet=True)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def artifacts_dir():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (never `playwright install`)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()
