// What the page's scripts share: making elements (visitor and model text always enters the page
// through textContent, never as HTML, so <img src=x onerror=alert(1)> stays text), bars,
// highlighted spans, and the table of renderers (one per kind of result, static/renderers/).
"use strict";

window.DemoApp = (function () {
  const WIDTH = /^\d{1,3}(\.\d+)?%$/;  // the server's bar widths, e.g. "85.99%"

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Older inference_fn dicts have no "probabilities": rebuild it from ratsnlp's keys.
  function probabilitiesOf(data) {
    if (Array.isArray(data.probabilities)) return data.probabilities;
    const number = (text) => parseFloat(String(text).split(" ").pop());
    return [
      { label: "부정 (negative)", probability: number(data.negative_data), width: data.negative_width },
      { label: "긍정 (positive)", probability: number(data.positive_data), width: data.positive_width },
    ];
  }

  function barClass(label) {
    if (/positive|긍정|entailment|^참/i.test(label)) return "bar-fill positive";
    if (/negative|부정|contradiction|^거짓/i.test(label)) return "bar-fill negative";
    return "bar-fill";
  }

  // [{label, width}] as bars in #bars; a width that is not "12.34%" draws nothing.
  function drawBars(items) {
    const bars = document.getElementById("bars");
    bars.replaceChildren();
    for (const item of items) {
      const row = element("div", "bar-row");
      const track = element("div", "bar-track");
      const fill = element("div", barClass(String(item.label)));
      const width = String(item.width);
      fill.style.width = WIDTH.test(width) ? width : "0%";
      fill.dataset.width = width;
      fill.setAttribute("role", "img");
      fill.setAttribute("aria-label", item.label + " " + width);
      track.append(fill);
      row.append(element("span", "bar-label", String(item.label)), track,
                 element("span", "bar-value", width));
      bars.append(row);
    }
  }

  // `text` with the spans [{start, end}] wrapped in elements made by `mark`; everything else stays
  // text nodes. Offsets come from the server and are checked, never trusted as HTML.
  function highlighted(text, spans, mark) {
    const fragment = document.createDocumentFragment();
    let at = 0;
    const valid = spans.filter((s) => Number.isInteger(s.start) && Number.isInteger(s.end) &&
                                      s.start >= 0 && s.end <= text.length && s.start < s.end);
    for (const span of valid.sort((a, b) => a.start - b.start)) {
      if (span.start < at) continue;
      fragment.append(text.slice(at, span.start));
      const node = mark(span);
      node.textContent = text.slice(span.start, span.end);
      fragment.append(node);
      at = span.end;
    }
    fragment.append(text.slice(at));
    return fragment;
  }

  function percent(probability) {
    return (Math.round(Number(probability) * 1000) / 10).toFixed(1) + "%";
  }

  function setText(id, text) {
    const node = document.getElementById(id);
    if (node) node.textContent = text;
  }

  // renderers[name] = {draw(data), summary(data) -> a few words for the "recent" list}
  return { renderers: {}, element, probabilitiesOf, drawBars, highlighted, percent, setText };
})();
