"""The notebooks as a student runs them in Colab, simulated: a real kernel and real files, with
a stand-in for google.colab (tests/fake_colab: Colab cannot run here) whose Drive has only the
'MyDrive' spelling, while nlpbook's paths say 'My Drive'. No path may lead to a page that serves
anything but the student's model without saying so."""

import re
import shutil
import socket
from pathlib import Path

import nbformat
import pytest
import requests
from helpers import PRETRAINED_DIR, tiny_model, write_lightning

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "deploy_sentiment_demo_colab.ipynb"
RATSNLP_CHECKPOINT = Path(__file__).resolve().parent / "fixtures" / "ratsnlp-1.0.53" / "checkpoint-doccls"


@pytest.fixture
def colab(tmp_path, monkeypatch):
    """A fake Colab: the kernel imports tests/fake_colab's google.colab; Drive holds a pretrained
    dir and two fine-tuned checkpoints under MyDrive."""
    drive = tmp_path / "drive"
    shutil.copytree(PRETRAINED_DIR, drive / "kcbert-tiny")
    shutil.copytree(RATSNLP_CHECKPOINT, drive / "nlpbook" / "checkpoint-doccls")
    write_lightning(tiny_model(seed=3), drive / "nlpbook" / "checkpoint-doccls-v2", epoch=3, val_loss=0.12)
    monkeypatch.setenv("FAKE_DRIVE", str(drive))
    monkeypatch.setenv("PYTHONPATH", f"{ROOT / 'tests' / 'fake_colab'}:{ROOT}")
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    return tmp_path


class Student:
    """Runs a notebook's cells one at a time in a real kernel, changing form fields as a student
    does."""

    def __init__(self, client, notebook):
        self.client, self.notebook = client, notebook
        self.code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]

    def cell(self, marker):
        return next(i for i in self.code if marker in self.notebook.cells[i].source)

    def set_field(self, name, value):
        index = self.cell(f"{name} = ")
        cell = self.notebook.cells[index]
        cell.source = re.sub(rf"^{name} = .*?(  #@param.*)$", lambda m: f"{name} = {value!r}{m.group(1)}",
                             cell.source, flags=re.MULTILINE)

    def run(self, marker):
        """Run the cell containing ``marker``; its text output (a failing cell raises
        nbclient's CellExecutionError)."""
        index = self.cell(marker)
        cell = self.notebook.cells[index]
        self.client.execute_cell(cell, index)
        return "".join(o.get("text", "") or str(o.get("data", "")) for o in cell.outputs)

    def run_all(self):
        return [self.run(self.notebook.cells[i].source.splitlines()[0]) for i in self.code]


@pytest.fixture
def student(colab):
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    mount = colab / "gdrive"
    for cell in notebook.cells:  # the notebook mounts Drive at /gdrive; here, in a temporary folder
        cell.source = cell.source.replace("mount_drive()", f"mount_drive({str(mount)!r})")
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    with client.setup_kernel():
        person = Student(client, notebook)
        person.set_field("pretrained_model_name", f"{mount}/My Drive/kcbert-tiny")
        person.set_field("downstream_model_dir", f"{mount}/My Drive/nlpbook/checkpoint-doccls")
        person.set_field("history_path", f"{mount}/My Drive/nlpbook/demo_history.sqlite")
        person.set_field("export_dir", f"{mount}/My Drive/nlpbook/demo-app-export")
        person.mount = mount
        yield person


def served_url(serve_output):
    return re.search(r"serving at (http://127\.0\.0\.1:\d+)", serve_output).group(1)


def test_my_drive_spelling_typos_and_a_taken_port(student):
    from nbclient.exceptions import CellExecutionError

    student.set_field("downstream_model_dir", f"{student.mount}/My Drive/nlpbook/checkpoint-docls")  # a typo
    for marker in ("try:", "from demo_app import in_colab, mount_drive", "pretrained_model_name ="):
        student.run(marker)
    with pytest.raises(CellExecutionError) as error:
        student.run("load_predictor(args)")
    message = error.value.evalue  # the exception's one line, as the student reads it
    assert error.value.ename == "FileNotFoundError"
    assert "checkpoint directory not found" in message
    assert "checkpoint-doccls" in message
    assert len(message) < 600

    student.set_field("downstream_model_dir", f"{student.mount}/My Drive/nlpbook/checkpoint-doccls")
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        taken = other_program.getsockname()[1]
        student.set_field("port", taken)
        student.run("pretrained_model_name =")
        loaded = student.run("load_predictor(args)")
        assert "MyDrive" in loaded
        assert "does not exist; using" in loaded
        served = student.run("serve(app")
        assert f"Port {taken} is in use by another program: using port" in served
        assert "shown here" in served  # no ngrok token in Colab: the in-notebook view
        url = served_url(served)
        assert str(taken) not in url
        assert "'prediction'" in student.run("call_api(")
        health = requests.get(url + "/healthz", timeout=10).json()["model"]
        assert health["checkpoint"] == "epoch=1-val_loss=0.60.ckpt"
        assert health["demo_model"] is False
        page = requests.get(url + "/", timeout=10).text
        assert "epoch=1-val_loss=0.60.ckpt" in page
        assert "demo-note" not in page
        student.run("server.stop()")


def test_the_page_follows_what_the_notebook_loaded_last(student, colab):
    outputs = student.run_all()  # top to bottom with checkpoint A; the last cell stops the server
    assert "'prediction'" in "".join(outputs)
    exported = colab / "drive" / "nlpbook" / "demo-app-export"  # the export cell, on Drive's MyDrive
    assert (exported / "Dockerfile").is_file()
    assert "Saved in" in "".join(outputs)
    served = student.run("serve(app")
    url = served_url(served)
    assert requests.get(url + "/healthz", timeout=10).json()["model"]["checkpoint"] == "epoch=1-val_loss=0.60.ckpt"

    student.set_field("downstream_model_dir", f"{student.mount}/My Drive/nlpbook/checkpoint-doccls-v2")
    student.run("pretrained_model_name =")
    reloaded = student.run("load_predictor(args)")
    assert "Stopped the running server" in reloaded
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/healthz", timeout=5)  # nothing serves the old model any more
    assert "The server is stopped" in student.run("call_api(")
    url = served_url(student.run("serve(app"))
    assert requests.get(url + "/healthz", timeout=10).json()["model"]["checkpoint"] == "epoch=3-val_loss=0.12.ckpt"
    student.run("server.stop()")


def test_an_empty_checkpoint_field_is_the_demo_model_and_the_page_says_so(student):
    student.set_field("downstream_model_dir", "")
    for marker in ("try:", "from demo_app import in_colab, mount_drive", "pretrained_model_name =",
                   "load_predictor(args)"):
        output = student.run(marker)
    assert "No checkpoint given" in output
    url = served_url(student.run("serve(app"))
    page = requests.get(url + "/", timeout=10).text
    assert 'id="demo-note"' in page
    assert "demo model" in page
    assert requests.get(url + "/healthz", timeout=10).json()["model"]["demo_model"] is True
    student.run("server.stop()")


def test_the_history_is_kept_on_drive_and_outlives_a_server_restart(student, colab):
    import sqlite3

    outputs = "".join(student.run_all())
    kept = colab / "drive" / "nlpbook" / "demo_history.sqlite"  # Drive's MyDrive, as Colab spells it
    assert f"History on: predictions and corrections are kept in {student.mount}/My Drive" in outputs
    assert kept.is_file()
    with sqlite3.connect(kept) as connection:
        assert connection.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 2  # the API cell
    url = served_url(student.run("serve(app"))
    assert "입력한 글과 결과를 기록합니다" in requests.get(url + "/", timeout=10).text
    answer = requests.post(url + "/predict", json={"sentence": "재밌어요"}, timeout=10).json()
    flag = {"id": answer["history"]["id"], "flag_token": answer["history"]["flag_token"],
            "correction": "부정 (negative)"}
    assert requests.post(url + "/flag", json=flag, timeout=10).status_code == 200
    student.run("server.stop()")
    with sqlite3.connect(kept) as connection:
        rows = connection.execute("SELECT flagged, correction FROM predictions ORDER BY id").fetchall()
    assert rows == [(0, None), (0, None), (1, "부정 (negative)")]
