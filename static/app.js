// demo_app page script: the form, sending it, the "recent" list and the "wrong?" button; the
// result itself is drawn by the task's renderer (static/renderers/). Every piece of visitor or
// model text enters the page through textContent, never as HTML (static/common.js).
"use strict";

(function () {
  // The server's own request timeout plus a margin for the network (set by the template).
  const REQUEST_TIMEOUT_MS = Number(document.body.dataset.timeoutMs) || 30000;
  const HISTORY_SIZE = 5;

  const form = document.getElementById("predict-form");
  const inputs = Array.from(document.querySelectorAll("textarea.field"));  // the task's fields
  const submit = document.getElementById("submit");
  const statusLine = document.getElementById("status");
  const errorBox = document.getElementById("error");
  const result = document.getElementById("result");
  const history = document.getElementById("history");

  const { element, probabilitiesOf } = DemoApp;

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  // The task's renderer (static/renderers/), loaded before this script.
  const renderer = DemoApp.renderers[document.body.dataset.renderer] || DemoApp.renderers.bars;

  function render(data) {
    for (const input of inputs) DemoApp.setText("result-" + input.name, data[input.name]);
    DemoApp.setText("result-image", data.image);
    renderer.draw(data);
    result.hidden = false;

    const entry = element("li");
    const short = (text) => (String(text).length > 60 ? String(text).slice(0, 60) + "…" : String(text));
    const asked = picker ? short(data.image) : inputs.map((input) => short(data[input.name])).join(" / ");
    entry.append(element("span", "history-sentence", asked + " "),
                 element("span", "history-label", "→ " + renderer.summary(data)));
    history.prepend(entry);
    while (history.children.length > HISTORY_SIZE) history.lastElementChild.remove();
    offerFlag(data);
    if (DemoApp.offerWhy) DemoApp.offerWhy(data, askedFields);
  }

  // "틀렸어요 (wrong?)": with the history on, a visitor can mark the last result wrong and give
  // the right answer. The answer's "history" handle says which stored row it is.
  const flagBox = document.getElementById("flag");
  let flagged = null;

  function offerFlag(data) {
    if (!flagBox) return;
    flagged = data.history || null;
    flagBox.hidden = !flagged;
    document.getElementById("flag-form").hidden = true;
    document.getElementById("flag-open").hidden = false;
    document.getElementById("flag-status").textContent = "";
    const correction = document.getElementById("flag-correction");
    if (correction.tagName === "SELECT") {
      correction.replaceChildren();
      for (const bar of probabilitiesOf(data)) {
        const option = element("option", "", String(bar.label));
        option.value = String(bar.label);
        option.selected = bar.label !== data.prediction && correction.children.length === 0;
        correction.append(option);
      }
    } else if (Array.isArray(data.entities)) {
      correction.value = tagged(String(data.sentence), data.entities);
    } else {
      correction.value = data.no_answer ? "" : String(data.answer || "");
    }
  }

  // The sentence in the book's corpus format, "<이순신:PER>은 ...", for a NER correction.
  function tagged(sentence, entities) {
    let out = "", at = 0;
    for (const e of entities.slice().sort((a, b) => a.start - b.start)) {
      if (!Number.isInteger(e.start) || e.start < at || e.end > sentence.length) continue;
      out += sentence.slice(at, e.start) + "<" + sentence.slice(e.start, e.end) + ":" + e.label + ">";
      at = e.end;
    }
    return out + sentence.slice(at);
  }

  if (flagBox) {
    document.getElementById("flag-open").addEventListener("click", () => {
      document.getElementById("flag-form").hidden = false;
      document.getElementById("flag-open").hidden = true;
      document.getElementById("flag-correction").focus();
    });
    document.getElementById("flag-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const status = document.getElementById("flag-status");
      if (!flagged) return;
      try {
        const response = await fetch("flag", {
          method: "POST",
          headers: { "Content-Type": "application/json", "ngrok-skip-browser-warning": "1" },
          body: JSON.stringify({ id: flagged.id, flag_token: flagged.flag_token,
                                 correction: document.getElementById("flag-correction").value }),
        });
        const data = await response.json().catch(() => ({}));
        if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
        status.textContent = "고맙습니다: 기록했습니다 (thank you: recorded)";
        document.getElementById("flag-form").hidden = true;
      } catch (error) {
        status.textContent = "보내지 못했습니다 (not sent): " + error.message;
      }
    });
  }

  // A 4xx is about what the visitor sent (the server's message says what to change); a 5xx is the server's.
  function errorLabel(status) {
    if (status === 429) return "잠시 후 다시 (too many requests): ";
    return status < 500 ? "입력을 확인하세요 (check your input): " : "서버 오류 (server error): ";
  }

  // POST to /predict: the task's fields as JSON, or an image as a multipart "file".
  async function classify(fields) {
    const isForm = fields instanceof FormData;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    try {
      const headers = {
        // Lets the page work behind ngrok's free-tier browser warning.
        "ngrok-skip-browser-warning": "1",
        "X-Demo-Source": "page",  // the history (when on) notes where a prediction came from
      };
      if (!isForm) headers["Content-Type"] = "application/json";
      const response = await fetch("predict", {
        method: "POST",
        headers,
        body: isForm ? fields : JSON.stringify(fields),
        signal: controller.signal,
      });
      let data = null;
      try { data = await response.json(); } catch (_) { /* not JSON: handled below */ }
      if (!response.ok) {
        const reason = data && data.error ? data.error : "HTTP " + response.status;
        throw new Error(errorLabel(response.status) + reason);
      }
      if (!data) throw new Error("서버 응답을 읽을 수 없습니다 (unreadable server response)");
      return data;
    } catch (error) {
      if (error.name === "AbortError") {
        throw new Error("시간 초과: 서버가 " + REQUEST_TIMEOUT_MS / 1000 + "초 안에 답하지 않았습니다 (timeout)");
      }
      if (error instanceof TypeError) {
        throw new Error("네트워크 오류: 서버에 연결할 수 없습니다 (network error: server unreachable)");
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  // The image page: a file chosen, taken with the camera or dropped, shown before it is sent.
  const picker = document.getElementById("image");
  const camera = document.getElementById("camera");
  const preview = document.getElementById("preview");
  let chosen = null;

  function choose(file) {
    chosen = file || null;
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.hidden = !chosen;
    if (chosen) preview.src = URL.createObjectURL(chosen);
  }

  if (picker) {
    picker.addEventListener("change", () => choose(picker.files[0]));
    camera.addEventListener("change", () => choose(camera.files[0]));
    const zone = document.getElementById("drop-zone");
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("dragging"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      if (event.dataTransfer.files.length) choose(event.dataTransfer.files[0]);
    });
  }

  function readForm() {
    if (picker) {
      if (!chosen) {
        showError("사진을 골라 주세요 (please choose a photo)");
        return null;
      }
      const body = new FormData();
      body.append("file", chosen, chosen.name || "photo.jpg");
      return body;
    }
    const fields = {};
    for (const input of inputs) {
      if (!input.value.trim()) {
        showError(input.dataset.label + " 입력해 주세요 (please type the " + input.name + ")");
        input.focus();
        return null;
      }
      fields[input.name] = input.value;
    }
    // The task's settings (generation's decoding settings): sent as typed, "" for the default,
    // as the book's page sends them.
    for (const setting of document.querySelectorAll(".setting")) fields[setting.name] = setting.value;
    return fields;
  }

  // A task whose results stream (generation): POST predict/stream answers with server-sent
  // events, {"type": "text", "text": piece} as the model writes, then {"type": "result", ...}.
  // The stop button aborts the request, which stops the server's work too.
  const streams = document.body.dataset.stream === "on";
  const stopButton = document.getElementById("stop");
  let streaming = null;

  async function stream(fields) {
    streaming = new AbortController();
    if (stopButton) stopButton.hidden = false;
    try {
      const response = await fetch("predict/stream", {
        method: "POST",
        headers: { "Content-Type": "application/json", "ngrok-skip-browser-warning": "1", "X-Demo-Source": "page" },
        body: JSON.stringify(fields),
        signal: streaming.signal,
      });
      if (!response.ok) {
        const data = await response.json().catch(() => null);
        throw new Error(errorLabel(response.status) + (data && data.error ? data.error : "HTTP " + response.status));
      }
      renderer.start(fields);
      result.hidden = false;
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!frame.startsWith("data: ")) continue;
          const event = JSON.parse(frame.slice(6));
          if (event.type === "text") renderer.append(String(event.text));
          else if (event.type === "error") throw new Error("서버 오류 (server error): " + event.error);
          else if (event.type === "result") return event.result;
        }
      }
      throw new Error("연결이 끊겼습니다 (the connection closed before the end)");
    } catch (error) {
      if (error.name === "AbortError") return null;  // stopped: the text so far stays
      if (error instanceof TypeError) {
        throw new Error("네트워크 오류: 서버에 연결할 수 없습니다 (network error: server unreachable)");
      }
      throw error;
    } finally {
      streaming = null;
      if (stopButton) stopButton.hidden = true;
    }
  }

  if (stopButton) {
    stopButton.addEventListener("click", () => {
      if (streaming) streaming.abort();
      statusLine.textContent = "멈췄습니다 (stopped)";
      if (renderer.stopped) renderer.stopped();
    });
  }

  let askedFields = null;  // what the last result answered: "why?" explains it (static/explain.js)

  async function run() {
    errorBox.hidden = true;
    const fields = readForm();
    if (!fields) return;
    const fileName = chosen ? String(chosen.name || "photo") : null;
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    statusLine.textContent = streams ? "생성 중… (writing…)" : "분석 중… (analyzing…)";
    try {
      const data = streams ? await stream(fields) : await classify(fields);
      if (data === null) return;
      askedFields = fields;
      if (fileName !== null) data.image = fileName;  // shown as the input, as text
      render(data);
      statusLine.textContent = "";
    } catch (error) {
      statusLine.textContent = "";
      showError(error.message);
    } finally {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  for (const input of inputs) {
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        run();
      }
    });
  }
  for (const button of document.querySelectorAll(".example")) {
    button.addEventListener("click", () => {
      for (const input of inputs) input.value = button.dataset[input.name];
      run();
    });
  }
})();
