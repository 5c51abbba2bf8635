// A QA answer: its probability as a bar, highlighted in the context, and the next candidates.
"use strict";

DemoApp.renderers.answer = {
  draw(data) {
    const { element, highlighted, percent } = DemoApp;
    const answer = data.no_answer ? "확실한 답을 찾지 못했습니다 (no confident answer)" : String(data.answer);
    document.getElementById("result-answer").textContent = answer;
    DemoApp.drawBars([{ label: "확률 (probability)", width: percent(data.probability) }]);
    const spans = data.no_answer ? [] : [{ start: data.start, end: data.end }];
    document.getElementById("answer-context").replaceChildren(
      highlighted(String(data.context), spans, () => element("mark", "answer")));
    const list = document.getElementById("candidates");
    list.replaceChildren();
    for (const candidate of (data.candidates || []).slice(data.no_answer ? 0 : 1)) {
      list.append(element("li", "", candidate.text + " (" + percent(candidate.probability) + ")"));
    }
  },
  summary: (data) => (data.no_answer ? "—" : String(data.answer)),
};
