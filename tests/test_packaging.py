"""`pip install .` must give a working app: the wheel carries templates, static files and the
demo model, and the app finds them when installed outside the source tree."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True, timeout=300)
    [path] = out.glob("demo_app-*.whl")
    return path


def test_wheel_contains_the_page_and_the_demo_model(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ["demo_app/templates/index.html", "demo_app/static/app.js", "demo_app/static/style.css",
                     "demo_app/demo_model/pretrained/vocab.txt", "demo_app/demo_model/pretrained/config.json"]:
        assert expected in names
    assert any(n.startswith("demo_app/demo_model/checkpoint-doccls/epoch=") for n in names)
    assert "demo_app/demo_model/pretrained-paircls/vocab.txt" in names
    assert any(n.startswith("demo_app/demo_model/checkpoint-paircls/epoch=") for n in names)
    assert "demo_app/tasks/pair_classification.py" in names


def test_the_wheel_carries_every_module_and_page_script(wheel):
    """Every Python module of the source tree, in every subpackage (a new one must be listed in
    pyproject.toml: demo_app.tasks.decoding once was not, and the installed app could not load
    generation), and every page script and style."""
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {f"demo_app/{path.relative_to(ROOT / 'demo_app').as_posix()}"
               for path in (ROOT / "demo_app").rglob("*.py") if "__pycache__" not in path.parts}
    assert modules - names == set()
    scripts = {f"demo_app/static/{path.relative_to(ROOT / 'static').as_posix()}"
               for path in (ROOT / "static").rglob("*") if path.suffix in (".js", ".css")}
    assert scripts - names == set()


def test_the_wheel_carries_every_tasks_demo_model_and_page_parts(wheel):
    """What adding a task takes, checked for each: its demo model, its form and result partials
    and its renderer ship in the wheel."""
    from demo_app import TASKS

    names = set(zipfile.ZipFile(wheel).namelist())
    for task in TASKS.values():
        for folder in {task.checkpoints.demo_pretrained_dir, task.checkpoints.demo_checkpoint_dir}:
            shipped = f"demo_app/demo_model/{folder.name}/"
            assert any(name.startswith(shipped) for name in names), (task.name, shipped)
        assert f"demo_app/templates/forms/{task.page.form}.html" in names, task.name
        assert f"demo_app/templates/results/{task.page.renderer}.html" in names, task.name
        assert f"demo_app/static/renderers/{task.page.renderer}.js" in names, task.name


def test_installed_wheel_serves_the_page(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    script = (
        "import demo_app, sys; assert 'site' in demo_app.__file__, demo_app.__file__\n"
        "app = demo_app.create_app(demo_app.load_predictor(verbose=False))\n"
        "client = app.test_client()\n"
        "page = client.get('/'); assert page.status_code == 200 and b'textarea' in page.data\n"
        "assert client.get('/static/app.js').status_code == 200\n"
        "print(client.post('/api', json='이 영화 정말 재밌어요').get_json()['prediction'])\n"
        "generation = demo_app.DeployArguments(task='generation')\n"
        "app = demo_app.create_app(demo_app.load_predictor(generation, verbose=False))\n"
        "client = app.test_client()\n"
        "assert client.get('/').status_code == 200 and client.get('/static/renderers/text.js').status_code == 200\n"
        "print(client.post('/api', json={'prompt': '긍정 아 정말', 'top_k': '1'}).get_json()['result'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["긍정 (positive)", "긍정 아 정말 좋았어요 위기도 감동적이었다</s>"]


def python_313():
    """Colab's Python today. Not installable from a package registry: found only where this
    machine's image carries it (pyenv)."""
    import glob
    import shutil

    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = sorted(glob.glob(f"{pyenv}/versions/3.13*/bin/python3.13")) + [shutil.which("python3.13")]
    for candidate in filter(None, candidates):  # pyenv's shim exists even where it cannot run
        if subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return None


@pytest.mark.skipif(python_313() is None, reason="no Python 3.13 on this machine")
def test_the_package_compiles_under_python_313_and_uses_no_removed_modules():
    """torch has no CPU wheel for 3.13 here, so this is a syntax and standard-library check: every
    module compiles under 3.13, and none imports a module 3.12 or 3.13 removed."""
    script = (
        "import ast, pathlib, sys\n"
        "removed = {'asynchat', 'asyncore', 'distutils', 'imp', 'smtpd', 'aifc', 'audioop', 'cgi', 'cgitb',"
        " 'chunk', 'crypt', 'imghdr', 'mailcap', 'msilib', 'nis', 'nntplib', 'ossaudiodev', 'pipes', 'sndhdr',"
        " 'spwd', 'sunau', 'telnetlib', 'uu', 'xdrlib', 'lib2to3'}\n"
        "for path in sorted(pathlib.Path(sys.argv[1]).rglob('*.py')):\n"
        "    tree = compile(path.read_text(encoding='utf-8'), str(path), 'exec', ast.PyCF_ONLY_AST)\n"
        "    for node in ast.walk(tree):\n"
        "        names = [a.name for a in node.names] if isinstance(node, ast.Import) else "
        "[node.module or ''] if isinstance(node, ast.ImportFrom) and not node.level else []\n"
        "        bad = [n for n in names if n.split('.')[0] in removed]\n"
        "        assert not bad, (path, bad)\n"
        "print(sys.version_info[:2])\n"
    )
    result = subprocess.run([python_313(), "-c", script, str(ROOT / "demo_app")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(3, 13)"
