// Generated text: the prompt, then the new text appended as it streams in (always as text).
"use strict";

DemoApp.renderers.text = {
  start(fields) {
    DemoApp.setText("result-prompt", fields.prompt);
    DemoApp.setText("result-generated", "");
    DemoApp.setText("generated-meta", "생성 중… (writing…)");
  },
  append(piece) {
    document.getElementById("result-generated").append(piece);
  },
  draw(data) {
    DemoApp.setText("result-prompt", data.prompt);
    DemoApp.setText("result-generated", data.generated);
    const end = data.stopped === "eos" ? "모델이 끝냄 (the model ended it)" : "길이 제한 (length limit)";
    DemoApp.setText("generated-meta", data.tokens + " tokens · " + data.seconds + " s · " + end);
  },
  summary: (data) => String(data.generated),
};

document.getElementById("copy").addEventListener("click", async () => {
  const text = document.getElementById("generated-text").textContent;
  try {
    await navigator.clipboard.writeText(text);
    DemoApp.setText("generated-meta", "복사했습니다 (copied)");
  } catch (_) {
    DemoApp.setText("generated-meta", "복사할 수 없습니다: 글을 직접 선택하세요 (select the text to copy it)");
  }
});
