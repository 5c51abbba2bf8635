"""What the scripts that write a task's notebook from another's share: read the source notebook,
let the script change its cells, clear every output, run it (so that nbval has outputs to compare
with) and write it."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def read(name: str):
    """The notebook ``notebooks/NAME``, whose ``cells`` the script then changes."""
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def run_and_write(notebook, name: str) -> Path:
    """Clear the outputs, run every cell from the notebooks folder, write ``notebooks/NAME``."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    target = NOTEBOOKS / name
    nbformat.write(notebook, target)
    return target
