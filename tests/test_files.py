"""Whole data files: `predict --input` as a subprocess (as a student runs it) and
`POST /predict/file` on a real server, with the bundled demo model."""

import csv
import io
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from helpers import run_cli

from demo_app import create_app, serve
from demo_app.files.formats import MAX_LINE_BYTES

ROOT = Path(__file__).resolve().parent.parent
REVIEWS = ROOT / "data" / "demo_reviews" / "ratings_test.txt"
NLI = ROOT / "data" / "demo_nli" / "klue_nli_dev.json"


def write_nsmc(path: Path, rows: int) -> Path:
    """An NSMC-format file (id, document, label; tab-separated, with a header) of ``rows`` rows,
    cycling through the held-out demo reviews."""
    reviews = [line.split("\t") for line in REVIEWS.read_text(encoding="utf-8").splitlines()[1:]]
    with open(path, "w", encoding="utf-8") as out:
        out.write("id\tdocument\tlabel\n")
        for i, (_, document, label) in zip(range(rows), itertools.cycle(reviews)):
            out.write(f"{i}\t{document}\t{label}\n")
    return path


def read_tsv(path: Path):
    with open(path, encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


# -- the command line --------------------------------------------------------------------------

PEAK_RSS = """
import sys
from demo_app import load_predictor, predict_file
report = predict_file(load_predictor(verbose=False, batching=False), sys.argv[1], sys.argv[2], progress=False)
peak_kb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print(report.rows, peak_kb)
"""


@pytest.fixture(scope="module")
def nsmc_50k(tmp_path_factory):
    """A 50,000-row NSMC-format file and its predictions from one uninterrupted CLI run."""
    directory = tmp_path_factory.mktemp("nsmc")
    source = write_nsmc(directory / "ratings_test.txt", 50_000)
    output = directory / "predictions.tsv"
    result = run_cli("predict", "--input", str(source), "--output", str(output))
    assert result.returncode == 0, result.stderr
    return source, output, result


def test_50000_rows_in_50000_rows_out_with_an_accuracy_summary(nsmc_50k):
    source, output, result = nsmc_50k
    rows = read_tsv(output)
    assert len(rows) == 50_000
    inputs = read_tsv(source)
    assert [row["document"] for row in rows] == [row["document"] for row in inputs]  # order kept
    assert set(rows[0]) == {"id", "document", "label", "prediction", "probability", "error"}
    assert "50000 rows: 50000 predicted, 0 skipped" in result.stderr
    # The summary printed is the one the output's own columns give.
    labels = ["부정 (negative)", "긍정 (positive)"]
    correct = sum(labels[int(row["label"])] == row["prediction"] for row in rows)
    assert f"accuracy: {correct / 50_000:.4f} ({correct} of 50000 labelled rows)" in result.stderr
    assert "rows/s" in result.stderr  # the progress bar's rate (it is not a terminal here, still shown)


def test_memory_stays_constant_however_long_the_file(tmp_path, nsmc_50k):
    """Peak RSS of a 50,000-row run is within 40 MB of a 2,000-row run: rows are streamed."""
    small = write_nsmc(tmp_path / "small.txt", 2_000)
    peaks = {}
    for name, source in (("small", small), ("large", nsmc_50k[0])):
        out = subprocess.run([sys.executable, "-c", PEAK_RSS, str(source), str(tmp_path / f"{name}.tsv")],
                             capture_output=True, text=True, cwd=ROOT, timeout=300,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert out.returncode == 0, out.stderr
        rows, peak_kb = map(int, out.stdout.split())
        peaks[name] = peak_kb / 1024
    assert peaks["large"] - peaks["small"] < 40, peaks


def test_summary_matches_a_hand_count(tmp_path):
    """Six labelled rows whose predictions are known: 4 right, 2 wrong, by hand."""
    source = tmp_path / "hand.tsv"
    source.write_text("id\tdocument\tlabel\n"
                      "1\t이 영화 정말 재밌어요\t1\n"       # positive, right
                      "2\t배우들 연기가 정말 좋았어요\t1\n"  # positive, right
                      "3\t시간이 아까웠습니다\t0\n"          # negative, right
                      "4\t스토리가 너무 지루했어요\t0\n"     # negative, right
                      "5\t이 영화 정말 재밌어요\t0\n"        # predicted positive, gold negative
                      "6\t시간이 아까웠습니다\t1\n",         # predicted negative, gold positive
                      encoding="utf-8")
    result = run_cli("predict", "--input", str(source), "--output", str(tmp_path / "out.tsv"))
    assert result.returncode == 0, result.stderr
    assert "accuracy: 0.6667 (4 of 6 labelled rows)" in result.stderr
    # precision and recall of each class are 2 / 3
    assert result.stderr.count("0.6667") >= 5
    matrix = result.stderr.split("confusion matrix")[1].splitlines()
    assert [line.split()[-2:] for line in matrix[2:4]] == [["2", "1"], ["1", "2"]]


def test_resume_after_a_killed_run_gives_the_same_output(tmp_path, nsmc_50k):
    # The first 12,000 rows, and their lines of the uninterrupted run's output: enough for the
    # run to be killed part-way, a quarter of the time of all 50,000.
    whole_source, whole_reference, _ = nsmc_50k
    source, reference = tmp_path / "ratings_test.txt", tmp_path / "reference.tsv"
    for whole, part in ((whole_source, source), (whole_reference, reference)):
        with open(whole, "rb") as lines:
            part.write_bytes(b"".join(line for _, line in zip(range(12_001), lines)))
    output = tmp_path / "predictions.tsv"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "demo_app", "predict", "--input", str(source),
                                "--output", str(output), "--no-progress"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not output.exists() or output.stat().st_size < 300_000):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = output.read_bytes()
    assert 300_000 <= len(partial) < reference.stat().st_size  # stopped part-way
    result = run_cli("predict", "--input", str(source), "--output", str(output), "--resume")
    assert result.returncode == 0, result.stderr
    assert "of them from the earlier run" in result.stderr
    assert output.read_bytes() == reference.read_bytes()


def test_resume_refuses_an_output_of_another_input(tmp_path):
    first = write_nsmc(tmp_path / "a.txt", 30)
    other = tmp_path / "b.txt"
    other.write_text("id\tdocument\tlabel\n" + "".join(f"{i}\t다른 문장 {i}\t1\n" for i in range(30)),
                     encoding="utf-8")
    assert run_cli("predict", "--input", str(first), "--output", str(tmp_path / "out.tsv")).returncode == 0
    result = run_cli("predict", "--input", str(other), "--output", str(tmp_path / "out.tsv"), "--resume")
    assert result.returncode == 1
    assert "does not continue b.txt" in result.stderr


def write_bad_file(path: Path) -> Path:
    """Good rows around an empty one, a too-long one, a CP949 line in a UTF-8 file, a line over
    MAX_LINE_BYTES, a row with a missing column and one with an unknown label."""
    lines = [b"id\tdocument\tlabel",
             "1\t이 영화 정말 재밌어요\t1".encode(),
             b"2\t\t0",
             ("3\t" + "가" * 2001 + "\t0").encode(),
             "4\t시간이 아까웠습니다\t0".encode("cp949"),
             b"5\t" + b"x" * (MAX_LINE_BYTES + 10) + b"\t1",
             "6\t좋아요".encode(),
             "7\t좋아요\t5".encode(),
             "8\t시간이 아까웠습니다\t0".encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_bad_rows_are_kept_with_their_error_and_reported_with_line_numbers(tmp_path):
    source = write_bad_file(tmp_path / "bad.tsv")
    output = tmp_path / "out.tsv"
    result = run_cli("predict", "--input", str(source), "--output", str(output))
    assert result.returncode == 0, result.stderr
    rows = read_tsv(output)
    assert len(rows) == 8  # rows in = rows out
    assert [row["prediction"] != "" for row in rows] == [True] + [False] * 6 + [True]
    errors = [row["error"] for row in rows]
    for line, words in ((3, "is empty"), (4, "2001 characters"), (5, "is not UTF-8 text"),
                        (6, "longer than"), (7, "has 2 columns"), (8, "label '5'")):
        assert any(e.startswith(f"line {line}") and words in e for e in errors), (line, errors)
        assert f"line {line}" in result.stderr
    assert "8 rows: 2 predicted, 6 skipped" in result.stderr
    assert "Traceback" not in result.stderr


def test_on_bad_row_fail_stops_there_and_keeps_the_rows_before(tmp_path):
    source = write_bad_file(tmp_path / "bad.tsv")
    output = tmp_path / "out.tsv"
    result = run_cli("predict", "--input", str(source), "--output", str(output), "--on-bad-row", "fail")
    assert result.returncode == 1
    assert "line 3" in result.stderr
    assert "is empty" in result.stderr
    assert [row["id"] for row in read_tsv(output)] == ["1"]


def test_whole_file_problems_are_one_line_errors(tmp_path):
    (tmp_path / "cols.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    result = run_cli("predict", "--input", str(tmp_path / "cols.csv"))
    assert result.returncode == 1
    assert "needs a 'sentence' column (or 'document'" in result.stderr
    (tmp_path / "binary.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    result = run_cli("predict", "--input", str(tmp_path / "binary.csv"))
    assert result.returncode == 1
    assert "not a text file" in result.stderr
    result = run_cli("predict", "--input", str(tmp_path / "x.docx"))
    assert result.returncode == 1
    assert "no such input file" in result.stderr
    assert "Traceback" not in result.stderr


def test_csv_jsonl_and_a_klue_nli_file(tmp_path):
    (tmp_path / "in.csv").write_text('sentence,note\n"재밌어요, 정말",a\n시간이 아까웠습니다,b\n',
                                     encoding="utf-8-sig")  # Excel writes a BOM
    result = run_cli("predict", "--input", str(tmp_path / "in.csv"))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["sentence"] for r in rows] == ["재밌어요, 정말", "시간이 아까웠습니다"]
    assert rows[1]["prediction"] == "부정 (negative)"
    assert rows[0]["note"] == "a"

    (tmp_path / "in.jsonl").write_text('{"sentence": "이 영화 정말 재밌어요"}\n{"sentence": ""}\n', encoding="utf-8")
    result = run_cli("predict", "--input", str(tmp_path / "in.jsonl"))
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["prediction"] == "긍정 (positive)"
    assert second["error"].startswith("line 2")

    result = run_cli("predict", "--task", "pair-classification", "--input", str(NLI),
                     "--output", str(tmp_path / "nli.jsonl"), timeout=600)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "nli.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(json.loads(NLI.read_text(encoding="utf-8")))
    accuracy = float(result.stderr.split("accuracy: ")[1].split()[0])
    assert accuracy > 0.8  # KLUE-NLI's gold_label words are matched to the model's labels


def test_ner_and_qa_files(tmp_path):
    (tmp_path / "ner.tsv").write_text("sentence\n이순신은 조선 중기의 무신이다\n", encoding="utf-8")
    result = run_cli("predict", "--task", "ner", "--input", str(tmp_path / "ner.tsv"))
    assert result.returncode == 0, result.stderr
    row = read_tsv_text(result.stdout)[0]
    entities = json.loads(row["entities"])
    assert row["tagged"].startswith("<이순신:PER>")
    assert all(row["sentence"][e["start"]:e["end"]] == e["text"] for e in entities)

    (tmp_path / "qa.jsonl").write_text(json.dumps({"question": "누리식품 본사가 있는 도시는?", "context":
        "누리식품은 1977년에 장보고가 세운 회사다. 본사는 목포에 있으며 직원은 약 8000명이다."},
        ensure_ascii=False) + "\n", encoding="utf-8")
    result = run_cli("predict", "--task", "qa", "--input", str(tmp_path / "qa.jsonl"))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["answer"] == "목포"


def read_tsv_text(text):
    return list(csv.DictReader(io.StringIO(text), delimiter="\t"))


# -- HTTP ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def file_server(demo_classifier):
    app = create_app(demo_classifier, sync_file_rows=300, max_file_bytes=2_000_000, max_file_rows=60_000)
    handle = serve(app, port=0, quiet=True)
    yield handle
    handle.stop()


def upload(url, name, content, **extra):
    return requests.post(url + "/predict/file", files={"file": (name, content)}, timeout=60, **extra)


def test_a_small_file_is_answered_at_once_with_a_csv_download(file_server, tmp_path):
    source = write_nsmc(tmp_path / "ratings_test.txt", 120)
    response = upload(file_server.url, "ratings_test.txt", source.read_bytes())
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "done"
    assert answer["rows"] == 120
    assert answer["predicted"] == 120
    assert answer["summary"]["rows"] == 120
    assert 0.8 < answer["summary"]["accuracy"] <= 1
    assert len(answer["preview"]) == 20
    assert answer["columns"][-1] == "error"
    download = requests.get(file_server.url + answer["download"], timeout=30)
    assert download.headers["Content-Type"].startswith("text/csv")
    assert "ratings_test-predictions.csv" in download.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8"))))
    assert len(rows) == 120
    assert rows[0]["prediction"] in ("긍정 (positive)", "부정 (negative)")


def test_a_large_file_is_a_job_with_progress_and_cancel(file_server, tmp_path):
    source = write_nsmc(tmp_path / "big.txt", 20_000)
    response = upload(file_server.url, "big.txt", source.read_bytes())
    assert response.status_code == 202, response.text
    status_url = file_server.url + response.json()["status_url"]
    seen = []
    while len(seen) < 3:
        progress = requests.get(status_url, timeout=10).json()
        assert progress["status"] == "running"
        seen.append(progress["progress"]["done"])
        time.sleep(0.3)
    assert seen == sorted(seen)
    assert seen[-1] > 0
    assert progress["progress"]["total"] == 20_000
    # meanwhile a visitor's request is answered
    assert requests.post(file_server.url + "/api", json="재밌어요", timeout=10).status_code == 200
    cancelled = requests.delete(status_url, timeout=10).json()
    assert cancelled["status"] == "cancelled"
    assert 0 < cancelled["rows"] < 20_000
    rows = list(csv.DictReader(io.StringIO(requests.get(file_server.url + cancelled["download"],
                                                         timeout=30).text)))
    assert len(rows) == cancelled["rows"]  # what was done before the cancel


@pytest.mark.parametrize("name, data, status, words", [
    ("cols.csv", "a,b\n1,2\n".encode(), 400, "needs a 'sentence' column"),
    ("x.png", b"\x89PNG\r\n\x1a\n\x00\x00", 400, "cannot tell the format"),
    ("binary.csv", b"sentence\n\x00\x01\x02\x00", 400, "not a text file"),
    ("empty.csv", b"", 400, "is empty"),
    ("huge.csv", b"sentence\n" + b"a" * 2_100_000, 413, "max_file_bytes"),
    ("many.csv", b"sentence\n" + b"a\n" * 60_001, 413, "max_file_rows"),
])
def test_malformed_files_get_a_clear_4xx_and_the_server_goes_on(file_server, name, data, status, words):
    response = upload(file_server.url, name, data)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert requests.post(file_server.url + "/api", json="재밌어요", timeout=10).status_code == 200


def test_mixed_encodings_and_huge_lines_are_bad_rows_not_errors(file_server, tmp_path):
    response = upload(file_server.url, "bad.tsv", write_bad_file(tmp_path / "bad.tsv").read_bytes())
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["rows"] == 8
    assert answer["predicted"] == 2
    assert answer["skipped"] == 6
    assert any("line 5 is not UTF-8 text" in problem for problem in answer["problems"])


def test_not_multipart_and_no_file_field(file_server):
    response = requests.post(file_server.url + "/predict/file", json={"sentence": "x"}, timeout=10)
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["error"]
    response = requests.post(file_server.url + "/predict/file", files={"other": ("a.csv", b"x")}, timeout=10)
    assert response.status_code == 400
    assert "field named" in response.json()["error"]
    assert requests.get(file_server.url + "/jobs/nope", timeout=10).status_code == 404


@pytest.mark.parametrize("method, suffix", [("GET", ""), ("DELETE", ""), ("GET", "/results.csv")])
def test_a_job_id_too_long_for_a_file_name_is_a_json_404(file_server, method, suffix, caplog):
    """An id is checked before it names a file: 300 characters would be ENAMETOOLONG."""
    response = requests.request(method, f"{file_server.url}/jobs/{'a' * 300}{suffix}", timeout=10)
    assert response.status_code == 404
    assert "no such job" in response.json()["error"]
    assert "Traceback" not in caplog.text


# -- found by a hostile-visitor trial ------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["", "x"])
def test_cp949_files_are_read_wherever_the_sample_cuts_a_character(tmp_path, prefix):
    """The encoding is sniffed from 64 KiB; a two-byte character cut at the sample's end must
    not turn the whole file into undecodable rows."""
    lines = ["sentence"] + [f"{prefix}이 영화 정말 재밌어요 {i}" for i in range(3000)]
    source = tmp_path / "excel.csv"
    source.write_bytes("\n".join(lines).encode("cp949") + b"\n")
    result = run_cli("predict", "--input", str(source), "--output", str(tmp_path / "out.csv"))
    assert "3000 rows: 3000 predicted, 0 skipped" in result.stderr, result.stderr[-500:]


def test_a_lone_surrogate_in_any_column_is_one_bad_row(tmp_path, file_server):
    lines = [json.dumps({"sentence": "재밌어요", "id": i}) for i in range(50)]
    lines.append('{"sentence": "좋아요", "id": "\\ud800"}')
    lines.append(json.dumps({"sentence": "지루해요", "id": 51}))
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("predict", "--input", str(source), "--output", str(tmp_path / "out.jsonl"))
    assert result.returncode == 0, result.stderr
    assert "52 rows: 51 predicted, 1 skipped" in result.stderr, result.stderr
    answer = upload(file_server.url, "in.jsonl", source.read_bytes()).json()
    assert answer.get("status") == "done", answer
    assert answer["status"] == "done"
    assert answer["rows"] == 52
    assert answer["skipped"] == 1


@pytest.mark.parametrize("name, data, status, words", [
    ("cr.csv", "sentence\r좋아요\r별로예요\r".encode(), 400, "CR only"),
    ("deep.json", b"[" * 200_000, 400, "nested too deeply"),
    ("a." + "가" * 150, "sentence\n좋아요\n".encode(), 200, ""),  # an odd name, format=csv below
])
def test_odd_files_are_4xx_or_read_never_500(file_server, name, data, status, words):
    response = upload(file_server.url, name, data, data={"format": "csv"} if name.startswith("a.") else {})
    assert response.status_code == status, response.text
    assert words in response.json().get("error", "")


def test_a_one_line_json_array_is_counted_by_its_items(file_server):
    data = json.dumps([{"sentence": "a"}] * 60_001, separators=(",", ":")).encode()
    response = upload(file_server.url, "many.json", data)
    assert response.status_code == 413
    assert "over 60000 rows" in response.json()["error"]


def test_the_preview_keeps_long_cells_short(file_server):
    data = ("sentence,note\n" + "".join(f"좋아요,{'😀' * 5000}\n" for _ in range(5))).encode()
    answer = upload(file_server.url, "long.csv", data).json()
    assert answer["status"] == "done"
    assert len(answer["preview"][0]["note"]) == 201


def test_uploads_and_results_are_deleted_when_the_server_stops(tmp_path):
    from helpers import free_port, job_folders, wait_until_serving

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "demo_app", "serve", "--port", str(port)], cwd=ROOT,
                               env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, process)
        assert upload(url, "a.csv", "sentence\n좋아요\n".encode()).json()["status"] == "done"
        made = job_folders(process.pid)
        assert len(made) == 1
        assert os.listdir(made.pop())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert job_folders(process.pid) == set()
