"""Give each text notebook (classification, pairs, NER, QA) its "왜? (why?)" cells after the
inference_fn cell, or refresh them, then run the notebook so that nbval has outputs to compare with.

    python scripts/add_why_cell.py
"""

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebook_maker import read, run_and_write  # noqa: E402

TITLE = "### 왜? (Why did the model say that?)"
MARKDOWN = TITLE + """

`predictor.explain(...)`은 입력한 단어마다 답에 얼마나 기여했는지(integrated gradients)를 돌려줍니다. 양수는 답 쪽으로,
음수는 반대쪽으로 밀었다는 뜻이고, 모두 더하면 점수의 변화(`score - baseline_score`)가 됩니다. 페이지의 **왜?** 버튼과
`POST /explain`도 같습니다. OpenVINO로 서빙하는 모델은 처음 설명할 때 체크포인트를 PyTorch 모델로 한 번 더 읽습니다.
*`predictor.explain(...)` says how much each word typed pushed the model towards its answer (positive) or away
from it (negative), by integrated gradients; they add up to the score's change from a baseline. The page's
**why?** button and `POST /explain` give the same. A model served through OpenVINO is read once more, as a
PyTorch model, for the first explanation.*"""

CODE = """explanation = predictor.explain({example})  # target=...: another class, entity or answer
strongest = max(explanation["words"], key=lambda word: abs(word["attribution"]))
change = explanation["score"] - explanation["baseline_score"]
print("explained:", explanation["target"])
print("the word that counts most:", strongest["text"], "(for)" if strongest["attribution"] > 0 else "(against)")
print("the attributions add up to the change within 5%:", explanation["convergence_delta"] <= 0.05 * abs(change))"""

EXAMPLES = {
    "deploy_sentiment_demo_colab.ipynb": '"이 영화 정말 재밌어요"',
    "deploy_pair_classification_colab.ipynb": '("나는 밥을 먹었다", "나는 식사를 했다")',
    "deploy_ner_colab.ipynb": '"박보검이 서울에 산다"',
    "deploy_qa_colab.ipynb": '("세종대왕은 언제 태어났나?", "세종대왕은 1397년에 태어났다.")',
}


def add_cells(name: str, example: str) -> None:
    notebook = read(name)
    cells = [cell for cell in notebook.cells
             if not (cell.cell_type == "markdown" and cell.source.startswith(TITLE))
             and not (cell.cell_type == "code" and "predictor.explain(" in cell.source)]
    after = next(i for i, cell in enumerate(cells) if cell.cell_type == "code" and "make_inference_fn(" in cell.source)
    cells[after + 1:after + 1] = [nbformat.v4.new_markdown_cell(MARKDOWN),
                                  nbformat.v4.new_code_cell(CODE.format(example=example))]
    notebook.cells = cells
    run_and_write(notebook, name)
    print(f"wrote notebooks/{name}")


if __name__ == "__main__":
    for notebook_name, input_text in EXAMPLES.items():
        add_cells(notebook_name, input_text)
