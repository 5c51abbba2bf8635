"""Static checks of every notebook (nbval runs them; see the README's two commands and docs/setup.md)."""

import ast
import re
from pathlib import Path

import nbformat
import pytest

import demo_app

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
MACHINE_PATHS = re.compile(r"(/root/|/home/\w+|/work/|/tmp/|site-packages|C:\\\\Users)")
SECRETS = re.compile(r"(authtoken\s*[:=]\s*\S{8,}|NGROK_AUTHTOKEN\s*=\s*['\"]\w|\b2[A-Za-z0-9]{24,}_[A-Za-z0-9]{20,})")


def output_text(output):
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return "\n".join(output.traceback)
    return "\n".join(str(v) for v in output.get("data", {}).values())


def code_cells(path):
    return [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def python_source(cell):
    # IPython magics (%pip) are not Python; the rest of the cell is.
    return "\n".join(line[:len(line) - len(line.lstrip())] + "pass"
                     if line.lstrip().startswith(("%", "!")) else line
                     for line in cell.source.splitlines())


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_are_clean(path):
    for cell in code_cells(path):
        assert cell.execution_count, f"cell never run (run the notebook before committing):\n{cell.source}"
        for output in cell.outputs:
            text = output_text(output)
            assert output.output_type != "error", text
            assert "Traceback" not in text, text
            assert not MACHINE_PATHS.search(text), f"machine-specific path in output: {text[:300]}"
            assert not SECRETS.search(text), "something like a token in the output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_use_only_demo_apps_public_api(path):
    for cell in code_cells(path):
        tree = ast.parse(python_source(cell))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("demo_app"):
                assert node.module == "demo_app", f"imports a private module: {node.module}"
                for alias in node.names:
                    assert alias.name in demo_app.__all__, f"{alias.name} is not public API"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name == "demo_app" or not alias.name.startswith("demo_app."), alias.name
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "demo_app"):
                assert node.attr in demo_app.__all__ + ["__version__"], f"demo_app.{node.attr}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_blocking_calls_or_debug_mode(path):
    source = "\n".join(cell.source for cell in code_cells(path))
    assert "app.run(" not in source
    assert ".wait()" not in source
    assert not re.search(r"debug\s*=\s*True", source)
    assert "NGROK_AUTHTOKEN =" not in source  # tokens come from secrets, never from a cell


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_can_be_run_again_in_the_orders_students_try(path):
    """Top to bottom, then: the server cell again (replaces, no busy port), the API cell, the
    load cell, the server cell once more, stop twice, the API cell after stop, and every cell
    from the top again. Any error fails the test."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    find = {name: next(i for i in code if marker in notebook.cells[i].source)
            for name, marker in [("load", "load_predictor(args)"), ("serve", "serve(app"),
                                 ("api", "call_api("), ("stop", "server.stop()")]}
    order = code + [find["serve"], find["api"], find["load"], find["serve"], find["api"],
                    find["stop"], find["stop"], find["api"]] + code
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        for index in order:
            client.execute_cell(notebook.cells[index], index)  # raises CellExecutionError
    api_output = "".join(output_text(o) for o in notebook.cells[find["api"]].outputs)
    assert any(key in api_output for key in ("'prediction'", "'label'", "'answer'", "'result'")), api_output  # per task
