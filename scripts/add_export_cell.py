"""Give every notebook its "Keep it running after Colab" cells (before "Stop"), or refresh them,
then run the notebook so that nbval has outputs to compare with.

    python scripts/add_export_cell.py            # every notebook in notebooks/
"""

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebook_maker import NOTEBOOKS, read, run_and_write  # noqa: E402

TITLE = "## 8. 계속 켜 두기 (Keep it running after Colab)"
MARKDOWN = TITLE + """

Colab은 쉬고 있거나 최대 12시간이 지나면 멈추고, 공개 URL도 함께 사라집니다. 이 셀은 모델과 앱을 한 폴더로
드라이브에 저장합니다: safetensors 가중치, `Dockerfile`, `requirements.txt`, Hugging Face Space용 `README.md`.
`push_to_hub`를 켜고 Colab 보안 비밀(열쇠 아이콘)에 쓰기 권한이 있는 `HF_TOKEN`을 넣으면 그 폴더를 Space로 올립니다.
*A Colab runtime stops when idle or after about 12 hours, and the public URL with it. This cell saves the
model and the app as one folder on Drive (safetensors weights, a `Dockerfile`, `requirements.txt`, a
`README.md` that makes it a Hugging Face Space); any container host runs it. With `push_to_hub` on and a
write token as the Colab secret `HF_TOKEN` (the key icon), it uploads the folder to your Space. Off by
default; the token is never printed.*"""

CODE = """export_dir = "/gdrive/My Drive/nlpbook/demo-app-export"  #@param {type:"string"}
push_to_hub = False  #@param {type:"boolean"}
space_id = "your-hf-name/nlpbook-demo"  #@param {type:"string"}

from demo_app import export_app, in_colab, push_to_space

if not in_colab():  # the notebook's own tests run outside Colab: a temporary folder
    import tempfile

    export_dir = tempfile.mkdtemp(prefix="demo-app-export-")
folder = export_app(args, export_dir, say=lambda message: None)  # re-running replaces the earlier export
print("Exported:", ", ".join(sorted(path.name for path in folder.iterdir())))
if in_colab():
    print(f"Saved in {folder}. Run it anywhere: docker build -t demo . && docker run -p 7860:7860 demo")
if push_to_hub:
    from google.colab import userdata

    print("Your Space:", push_to_space(folder, space_id, userdata.get("HF_TOKEN")))"""


def add_cells(name: str) -> None:
    notebook = read(name)
    cells = [cell for cell in notebook.cells
             if not (cell.cell_type == "markdown" and cell.source.startswith(TITLE))
             and not (cell.cell_type == "code" and "export_app(args" in cell.source)]
    stop = next(i for i, cell in enumerate(cells) if cell.cell_type == "markdown" and "종료 (Stop)" in cell.source)
    cells[stop].source = cells[stop].source.replace("## 8. 종료", "## 9. 종료")
    cells[stop:stop] = [nbformat.v4.new_markdown_cell(MARKDOWN), nbformat.v4.new_code_cell(CODE)]
    notebook.cells = cells
    run_and_write(notebook, name)
    print(f"wrote notebooks/{name}")


if __name__ == "__main__":
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        add_cells(path.name)
