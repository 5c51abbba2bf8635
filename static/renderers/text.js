// Generated text: the prompt, then the new text appended as it streams in (always as text).
// When it is done, the page shows the book's `result` exactly (the prompt and the continuation
// joined as the model's tokenizer joins them), and Copy copies that `result`.
"use strict";

DemoApp.renderers.text = {
  start(fields) {
    DemoApp.setText("result-prompt", fields.prompt);
    DemoApp.setText("result-generated", "");
    delete document.getElementById("generated-text").dataset.result;
    DemoApp.setText("generated-meta", "생성 중… (writing…)");
  },
  append(piece) {
    document.getElementById("result-generated").append(piece);
  },
  stopped() {
    DemoApp.setText("generated-meta", "멈췄습니다: 여기까지 쓴 글입니다 (stopped: the text so far)");
  },
  draw(data) {
    const prompt = String(data.prompt);
    const whole = String(data.result);
    DemoApp.setText("result-prompt", prompt);
    DemoApp.setText("result-generated", whole.startsWith(prompt) ? whole.slice(prompt.length) : " " + data.generated);
    document.getElementById("generated-text").dataset.result = whole;
    DemoApp.setText("generated-meta", DemoApp.renderers.text.meta(data));
  },
  meta(data) {
    const maxLength = data.settings && data.settings.max_length;
    const unset = !data.settings || data.settings.max_new_tokens === null || data.settings.max_new_tokens === undefined;
    if (data.tokens === 0 && data.stopped === "length" && unset && data.prompt_tokens >= maxLength) {
      return "새 글 없음: 프롬프트가 " + data.prompt_tokens + " 토큰이라 max_length(" + maxLength + ")를 이미 채웠습니다. "
        + "max_length를 늘리거나 max_new_tokens를 정하세요 (no new text: the prompt is " + data.prompt_tokens
        + " tokens and max_length, which counts the prompt as the book does, is " + maxLength
        + ": raise max_length or set max_new_tokens)";
    }
    const end = data.stopped === "eos" ? "모델이 끝냄 (the model ended it)" : "길이 제한 (length limit)";
    return data.tokens + " tokens · " + data.seconds + " s · " + end;
  },
  summary: (data) => String(data.generated),
};

document.getElementById("copy").addEventListener("click", async () => {
  const box = document.getElementById("generated-text");
  const text = box.dataset.result || box.textContent;  // the book's result once it is done
  try {
    await navigator.clipboard.writeText(text);
    DemoApp.setText("generated-meta", "복사했습니다 (copied)");
  } catch (_) {
    DemoApp.setText("generated-meta", "복사할 수 없습니다: 글을 직접 선택하세요 (select the text to copy it)");
  }
});
