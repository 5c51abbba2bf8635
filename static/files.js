// demo_app page script for whole files: upload, progress, cancel, results table, CSV download.
// Every value from the file or the model enters the page through textContent, never as HTML.
"use strict";

(function () {
  const form = document.getElementById("file-form");
  if (!form) return;
  const picker = document.getElementById("file");
  const submit = document.getElementById("file-submit");
  const cancel = document.getElementById("file-cancel");
  const bar = document.getElementById("file-progress");
  const status = document.getElementById("file-status");
  const resultBox = document.getElementById("file-result");
  const HEADERS = { "ngrok-skip-browser-warning": "1", "X-Demo-Source": "page" };
  const POLL_MS = 1000;
  let job = null;

  function cell(tag, text) {
    const node = document.createElement(tag);
    node.textContent = text === null || text === undefined ? "" : String(text);
    return node;
  }

  async function answer(response) {
    const data = await response.json().catch(() => null);
    if (!response.ok && response.status !== 202) {
      throw new Error(data && data.error ? data.error : "HTTP " + response.status);
    }
    if (!data) throw new Error("서버 응답을 읽을 수 없습니다 (unreadable server response)");
    return data;
  }

  function showProgress(data) {
    const p = data.progress || {};
    bar.hidden = false;
    bar.max = Math.max(p.total || 1, 1);
    bar.value = p.done || 0;
    const eta = p.eta_s === null || p.eta_s === undefined ? "" : ", 남은 시간 약 " + Math.ceil(p.eta_s) + "초 (ETA)";
    status.textContent = (p.done || 0) + " / " + (p.total || "?") + " 행 (rows), " + (p.rows_per_s || 0) + " 행/초" + eta;
  }

  function showResult(data) {
    bar.hidden = true;
    cancel.hidden = true;
    submit.disabled = false;
    if (data.status === "failed") {
      status.textContent = "실패 (failed): " + data.error;
      return;
    }
    const stopped = data.status === "cancelled" ? " — 취소됨 (cancelled)" : "";
    status.textContent = data.rows + "행 중 " + data.predicted + "행 예측, " + data.skipped +
      "행 건너뜀 (" + data.rows + " rows: " + data.predicted + " predicted, " + data.skipped + " skipped)" + stopped;
    document.getElementById("file-download").href = data.download;
    const summary = data.summary;
    document.getElementById("file-summary").textContent = summary
      ? "정확도 (accuracy) " + (summary.accuracy * 100).toFixed(2) + "% (" + summary.correct + " / " + summary.rows + ")\n" +
        summary.per_class.map((c) => c.label + ": precision " + c.precision + ", recall " + c.recall + ", n=" + c.support).join("\n")
      : "";
    const problems = document.getElementById("file-problems");
    problems.replaceChildren(...(data.problems || []).slice(0, 20).map((p) => cell("li", p)));
    const table = document.getElementById("file-table");
    const head = document.createElement("tr");
    for (const column of data.columns || []) head.append(cell("th", column));
    const rows = (data.preview || []).map((row) => {
      const tr = document.createElement("tr");
      for (const column of data.columns || []) tr.append(cell("td", row[column]));
      return tr;
    });
    table.replaceChildren(head, ...rows);
    resultBox.hidden = false;
  }

  async function poll() {
    while (job) {
      const data = await answer(await fetch(job, { headers: HEADERS }));
      if (data.status === "running") {
        showProgress(data);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      } else {
        job = null;
        showResult(data);
      }
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!picker.files.length) {
      status.textContent = "파일을 골라 주세요 (choose a file)";
      return;
    }
    const body = new FormData();
    body.append("file", picker.files[0]);
    submit.disabled = true;
    resultBox.hidden = true;
    status.textContent = "올리는 중… (uploading…)";
    try {
      const data = await answer(await fetch("predict/file", { method: "POST", headers: HEADERS, body }));
      if (data.status === "running") {
        job = data.status_url;
        cancel.hidden = false;
        showProgress(data);
        await poll();
      } else {
        showResult(data);
      }
    } catch (error) {
      job = null;
      bar.hidden = true;
      cancel.hidden = true;
      submit.disabled = false;
      status.textContent = "오류 (error): " + error.message;
    }
  });

  cancel.addEventListener("click", async () => {
    if (!job) return;
    const url = job;
    job = null;
    try {
      showResult(await answer(await fetch(url, { method: "DELETE", headers: HEADERS })));
    } catch (error) {
      status.textContent = "오류 (error): " + error.message;
    }
  });
})();
