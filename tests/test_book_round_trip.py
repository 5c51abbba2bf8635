"""What demo_app writes, the book's code reads; what the book writes, demo_app reads; and no task
guessed wrong in silence (on checkpoints written by ratsnlp 1.0.53 itself)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from book_round_trip import FILES, HOSTILE, NLI_LABELS, corrections, export_all
from helpers import run_cli

from demo_app import (
    CheckpointError,
    DeployArguments,
    create_app,
    load_predictor,
    make_inference_fn,
    resolve_path,
    serve,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "ratsnlp-1.0.53"
DEMO = ROOT / "demo_app" / "demo_model"


# -- exports the book reads -------------------------------------------------------------------


def test_exports_of_hostile_text_are_read_back_by_the_books_own_readers(tmp_path):
    written = export_all(tmp_path)
    for format, path in written.items():  # what ratsnlp read (book_reads_exports.json) is what we write
        assert path.read_bytes() == (FIXTURE / "exports" / FILES[format]).read_bytes(), format
    book = json.loads((FIXTURE / "book_reads_exports.json").read_text(encoding="utf-8"))
    rows = corrections()
    nsmc = [(inputs[0], str(["부정 (negative)", "긍정 (positive)"].index(label)))
            for task, inputs, label in rows if task == "classification"]
    expected = [(text, str(i % 2)) for i, text in enumerate(HOSTILE)]
    assert [(e["text"], e["label"]) for e in book["nsmc"]] == nsmc == expected
    nli = [(inputs[0], inputs[1], label.split("(")[1].rstrip(")"))
           for task, inputs, label in rows if task == "pair-classification"]
    assert [(e["premise"], e["hypothesis"], e["label"]) for e in book["klue-nli"]] == nli
    one_line = lambda text: " ".join(text.replace("\u241e", " ").split())  # noqa: E731 - the corpus's lines
    ner = [(one_line(inputs[0]), one_line(label) + "\n") for task, inputs, label in rows if task == "ner"]
    assert [(e["text"], e["label"]) for e in book["ner"]] == ner
    assert book["ner_labels"] == ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "O", "B-PER", "I-PER"]
    qa = [(inputs[0], inputs[1], label) for task, inputs, label in rows if task == "qa"]
    assert [(e["question"], e["context"], e["answer"]) for e in book["korquad"]] == qa
    assert all(e["context"][e["start"]:e["start"] + len(e["answer"])] == e["answer"] for e in book["korquad"])


def test_a_format_that_does_not_fit_the_historys_task_is_an_error(tmp_path):
    export_all(tmp_path)
    result = run_cli("history", str(tmp_path / "classification-history.sqlite"), "--format", "klue-nli")
    assert result.returncode == 1
    assert "holds classification predictions" in result.stderr
    assert "nsmc" in result.stderr
    ok = run_cli("history", str(tmp_path / "classification-history.sqlite"), "--format", "nsmc")
    assert ok.returncode == 0
    assert ok.stdout.startswith("id\tdocument\tlabel\n")


# -- the book's files demo_app reads ------------------------------------------------------------


@pytest.mark.parametrize("task, corpus, metric", [
    ("classification", "ratings_train.txt", "accuracy"),
    ("pair-classification", "klue_nli_train.json", "accuracy"),
    ("ner", "train.txt", "entity f1"),
    ("qa", "KorQuAD_v1.0_train.json", "exact match"),
])
def test_predict_reads_the_books_corpus_files_and_scores_them(tmp_path, task, corpus, metric):
    shutil.copy(FIXTURE / "exports" / corpus, tmp_path / corpus)
    output = tmp_path / "out.jsonl"
    result = run_cli("predict", "--task", task, "--input", str(tmp_path / corpus), "--output", str(output),
                     "--no-progress")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 8, rows
    assert not any(row["error"] for row in rows), rows
    assert "8 rows: 8 predicted" in result.stderr
    assert metric in result.stderr


def test_the_projects_own_ner_and_korquad_corpora_are_scored(tmp_path):
    ner = run_cli("predict", "--task", "ner", "--input", str(ROOT / "data" / "demo_ner" / "val.txt"),
                  "--output", str(tmp_path / "ner.jsonl"), "--no-progress")
    assert ner.returncode == 0, ner.stderr
    f1 = float(ner.stderr.split("entity f1: ")[1].split()[0])
    assert f1 > 0.8, ner.stderr  # the demo NER model on its own held-out corpus
    qa = run_cli("predict", "--task", "qa", "--input", str(ROOT / "data" / "demo_qa" / "KorQuAD_v1.0_dev.json"),
                 "--output", str(tmp_path / "qa.jsonl"), "--no-progress")
    assert qa.returncode == 0, qa.stderr
    exact = float(qa.stderr.split("exact match: ")[1].split(",")[0])
    assert exact > 0.5, qa.stderr
    wrong = run_cli("predict", "--input", str(ROOT / "data" / "demo_qa" / "KorQuAD_v1.0_dev.json"))
    assert wrong.returncode == 1
    assert "--task qa" in wrong.stderr


# -- no task guessed wrong in silence -------------------------------------------------------------


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    """Checkpoints written by ratsnlp, in folders a student renamed or mixed up."""
    root = tmp_path_factory.mktemp("drive") / "MyDrive" / "nlpbook"
    shutil.copytree(FIXTURE / "checkpoint-paircls", root / "checkpoint-nli")
    shutil.copytree(FIXTURE / "checkpoint-doccls", root / "checkpoint-doccls")
    shutil.copytree(FIXTURE / "checkpoint-paircls", root / "mixed" / "checkpoint-doccls")
    return root


def test_a_renamed_pair_folder_serves_pairs(drive):
    result = run_cli("predict", "--pretrained", str(DEMO / "pretrained-paircls"), "--checkpoint-dir",
                     str(drive / "checkpoint-nli"), "--max-seq-length", "64", "나는 밥을 먹었다", "나는 식사를 했다")
    assert result.returncode == 0, result.stderr
    assert "pair-classification (recognised from the folder it was trained in (checkpoint-paircls" in result.stderr
    [line] = result.stdout.splitlines()
    assert json.loads(line)["prediction"] in NLI_LABELS


def test_a_task_contradicting_where_the_checkpoint_was_trained_stops_with_the_fix(drive):
    with pytest.raises(CheckpointError, match="trained in checkpoint-doccls .* choose task='classification'"):
        load_predictor(DeployArguments(pretrained_model_name=str(DEMO / "pretrained"), task="pair-classification",
                                        downstream_model_dir=str(drive / "checkpoint-doccls")), verbose=False)
    mixed = load_predictor(DeployArguments(pretrained_model_name=str(DEMO / "pretrained-paircls"),
                                            downstream_model_dir=str(drive / "mixed" / "checkpoint-doccls")),
                            verbose=False)
    assert mixed.task.name == "pair-classification"  # the record inside wins, and it is said:
    assert any("folder name checkpoint-doccls says classification" in w for w in mixed.warnings)
    with serve(create_app(mixed), port=0, quiet=True) as server:
        assert "folder name checkpoint-doccls says classification" in requests.get(server.url, timeout=10).text


def test_pair_shaped_input_on_a_single_sentence_model_names_the_fix(demo_classifier):
    with pytest.raises(TypeError, match="task='pair-classification'"):
        make_inference_fn(demo_classifier)("나는 밥을 먹었다", "나는 식사를 했다")
    app = create_app(demo_classifier)
    answer = app.test_client().post("/predict", json={"premise": "나는 밥을 먹었다", "hypothesis": "배고프다"})
    assert answer.status_code == 400
    assert "--task pair-classification" in answer.get_json()["error"]


def test_a_head_alone_says_so(tmp_path):
    shutil.copytree(FIXTURE / "checkpoint-doccls", tmp_path / "my-run")
    checkpoint = next((tmp_path / "my-run").glob("*.ckpt"))
    import torch

    saved = torch.load(checkpoint, weights_only=True)
    saved.pop("callbacks")  # no Lightning record, no nlpbook folder name: only the head
    torch.save(saved, checkpoint)
    predictor = load_predictor(DeployArguments(pretrained_model_name=str(DEMO / "pretrained"),
                                                downstream_model_dir=str(tmp_path / "my-run")), verbose=False)
    assert predictor.task.name == "classification"
    assert any("pair-classification" in warning for warning in predictor.warnings)


# -- the tokenizer must be the checkpoint's ------------------------------------------------------


def vocabulary_like(tmp_path, source: Path, size: int, name: str) -> Path:
    """A copy of pretrained folder ``source`` whose vocabulary is ``size`` tokens (dummy ones added)."""
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(source / "config.json", folder / "config.json")
    tokens = (source / "vocab.txt").read_text(encoding="utf-8").split("\n")
    tokens = [t for t in tokens if t][:size]
    tokens += [f"[unused{i}]" for i in range(size - len(tokens))]
    (folder / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return folder


def test_a_vocabulary_of_the_same_size_from_another_model_is_a_warning(tmp_path):
    qa_size = len([t for t in (DEMO / "pretrained-qa" / "vocab.txt").read_text(encoding="utf-8").split("\n") if t])
    foreign = vocabulary_like(tmp_path, DEMO / "pretrained-ner", qa_size, "ner-vocab")
    shutil.copy(DEMO / "pretrained-qa" / "config.json", foreign / "config.json")
    predictor = load_predictor(DeployArguments(pretrained_model_name=str(foreign),
                                                downstream_model_dir=str(DEMO / "checkpoint-qa")), verbose=False)
    assert any("[UNK]" in w and "ner-vocab" in w for w in predictor.warnings), predictor.warnings
    right = load_predictor(DeployArguments(pretrained_model_name=str(DEMO / "pretrained-qa"),
                                            downstream_model_dir=str(DEMO / "checkpoint-qa")), verbose=False)
    assert not right.warnings


def vocabulary_without(tmp_path, source: Path, characters: str, name: str) -> Path:
    """A copy of pretrained folder ``source`` whose vocabulary has no token holding any of
    ``characters`` (each replaced by an unused one, so its size and ids stay): the words that
    hold one are read as [UNK], as a right vocabulary reads a syllable it never saw."""
    folder = vocabulary_like(tmp_path, source, 0, name)
    tokens = (source / "vocab.txt").read_text(encoding="utf-8").split("\n")
    tokens = [f"[unused{i}]" if any(c in token for c in characters) else token for i, token in enumerate(tokens)]
    (folder / "vocab.txt").write_text("\n".join(tokens), encoding="utf-8")
    shutil.copy(source / "tokenizer_config.json", folder / "tokenizer_config.json")
    return folder


def test_one_word_the_right_vocabulary_lacks_is_no_warning_and_a_warning_names_the_words(tmp_path):
    """The review examples are 14 tokens: one unknown word is 7% of them, the share that once
    warned about the right tokenizer. A warning takes three unknown words, and names them."""
    one_word = vocabulary_without(tmp_path, DEMO / "pretrained", "밌", "lacks-one-syllable")
    predictor = load_predictor(DeployArguments(pretrained_model_name=str(one_word),
                                                downstream_model_dir=str(DEMO / "checkpoint-doccls")), verbose=False)
    assert predictor.predict(["이 영화 정말 재밌어요"])  # the word is [UNK], the model still answers
    assert not [w for w in predictor.warnings if "[UNK]" in w], predictor.warnings
    three_words = vocabulary_without(tmp_path, DEMO / "pretrained", "밌좋웠", "lacks-three-syllables")
    predictor = load_predictor(DeployArguments(pretrained_model_name=str(three_words),
                                                downstream_model_dir=str(DEMO / "checkpoint-doccls")), verbose=False)
    warning = next(w for w in predictor.warnings if "[UNK]" in w)
    assert "(3 of 13:" in warning, warning  # two pieces of "재밌어요" are one [UNK] now
    for word in ("'재밌어요'", "'좋았어요'", "'아까웠습니다'"):
        assert word in warning, warning


def test_special_tokens_must_match_the_config(tmp_path):
    shifted = vocabulary_like(tmp_path, DEMO / "pretrained", 1119, "shifted")
    tokens = (shifted / "vocab.txt").read_text(encoding="utf-8").split("\n")
    tokens[0], tokens[5] = tokens[5], tokens[0]  # [PAD] is no longer token 0
    (shifted / "vocab.txt").write_text("\n".join(tokens), encoding="utf-8")
    with pytest.raises(CheckpointError, match="pad_token_id"):
        load_predictor(DeployArguments(pretrained_model_name=str(shifted),
                                        downstream_model_dir=str(DEMO / "checkpoint-doccls")), verbose=False)


# -- one path rule -------------------------------------------------------------------------------


def test_either_spelling_of_drives_root_finds_the_checkpoint_in_a_notebook(drive):
    """Outside Colab the notebook decides between the student's checkpoint and the demo model
    by resolve_path: with the checkpoint under MyDrive, "My Drive" in the form finds it."""
    import nbformat
    from nbclient import NotebookClient

    spelled = str(drive / "checkpoint-nli").replace("MyDrive", "My Drive")
    assert resolve_path(spelled) == drive / "checkpoint-nli"
    notebook = nbformat.read(ROOT / "notebooks" / "deploy_pair_classification_colab.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    settings = next(cell for cell in code if "downstream_model_dir =" in cell.source)
    settings.source = (f'pretrained_model_name = {str(DEMO / "pretrained-paircls")!r}\n'
                       f"downstream_model_dir = {spelled!r}\nmax_seq_length = 64\n")
    load = next(cell for cell in code if "load_predictor(args)" in cell.source)
    notebook.cells = [settings, load]
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    output = "".join(o.get("text", "") for o in load.outputs)
    assert "bundled demo model" not in output
    assert "the other spelling of Google Drive's root" in output


# -- the smaller items ----------------------------------------------------------------------------


def test_cli_errors_name_the_inputs_own_position():
    result = run_cli("predict", "좋아요", "괜찮아요", "   ")
    assert result.returncode == 1
    assert "sentence 2" in result.stderr
    result = run_cli("predict", "--task", "pair-classification", "a", "b", "c", "d", "e", " ")
    assert result.returncode == 1
    assert "pair 2" in result.stderr


def test_flag_takes_a_class_index_or_name_as_data_files_do(demo_classifier, tmp_path):
    app = create_app(demo_classifier, history=str(tmp_path / "h.sqlite"))
    client = app.test_client()
    for correction, expected in ((0, "부정 (negative)"), ("1", "긍정 (positive)"), ("부정", "부정 (negative)"),
                                 ("positive", "긍정 (positive)")):
        handle = client.post("/api", json="좋아요").get_json()["history"]
        answer = client.post("/flag", json={**handle, "correction": correction})
        assert answer.status_code == 200
        assert answer.get_json()["correction"] == expected
    handle = client.post("/api", json="좋아요").get_json()["history"]
    assert client.post("/flag", json={**handle, "correction": 7}).status_code == 400


def test_pytest_nbval_runs_from_any_directory(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pytest", "--nbval", "-q", "-p", "no:cacheprovider",
                             str(ROOT / "notebooks" / "deploy_sentiment_demo_colab.ipynb")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:]


def test_an_existing_output_is_not_overwritten_without_being_asked(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("sentence\n좋아요\n별로예요\n", encoding="utf-8")
    output = tmp_path / "out.csv"
    assert run_cli("predict", "--input", str(source), "--output", str(output), "--no-progress").returncode == 0
    again = run_cli("predict", "--input", str(source), "--output", str(output), "--no-progress")
    assert again.returncode == 1
    assert "--resume" in again.stderr
    assert "--overwrite" in again.stderr
    assert run_cli("predict", "--input", str(source), "--output", str(output), "--overwrite",
                   "--no-progress").returncode == 0


def test_a_qa_answer_starting_inside_a_word_says_so():
    qa = load_predictor(DeployArguments(task="qa"), verbose=False)
    answer = make_inference_fn(qa)("누리식품 본사가 있는 도시는?",
                                   "누리식품은 1977년에 세운 회사다. 본사는 목포에 있다.")
    assert answer["answer"] == "목포"
    assert answer["inside_word"] is False
    from demo_app.tasks import get_task

    spans = {"question": "q", "context": "본사는 포스코타워에 있다", "spans": [
        {"start": 6, "end": 8, "probability": 0.9, "text": "타워"}]}
    assert get_task("qa").pipeline.to_dict(spans)["inside_word"] is True
