// "왜? (why?)": asks POST /explain for the last result and tints the words the visitor typed by
// how much each pushed the model towards the answer (blue) or away from it (orange), darker for
// stronger; tapping or focusing a word shows its number. Words enter the page through
// textContent only (static/common.js); colours come from classes in style.css.
"use strict";

(function () {
  const box = document.getElementById("why");
  const open = document.getElementById("why-open");
  const target = document.getElementById("why-target");
  const status = document.getElementById("why-status");
  const words = document.getElementById("why-words");
  const detail = document.getElementById("why-detail");
  const legend = document.getElementById("why-legend");
  const { element, probabilitiesOf } = DemoApp;
  const LEVELS = 4;
  let fields = null;

  // What can be explained in this result: the classes, the entities found, the candidate answers.
  function targetsOf(data) {
    if (Array.isArray(data.entities)) {
      return data.entities.map((entity, index) => ({ value: String(index), text: entity.text + " (" + entity.label + ")" }));
    }
    if (Array.isArray(data.candidates)) {
      return data.candidates.map((span, index) => ({ value: String(index), text: span.text }));
    }
    return probabilitiesOf(data).map((bar) => ({ value: String(bar.label), text: String(bar.label) }));
  }

  DemoApp.offerWhy = function (data, asked) {
    fields = asked && !(asked instanceof FormData) ? asked : null;
    const choices = targetsOf(data);
    box.hidden = !fields || choices.length === 0;
    words.hidden = legend.hidden = true;
    status.textContent = detail.textContent = "";
    target.replaceChildren();
    for (const choice of choices) {
      const option = element("option", "", choice.text);
      option.value = choice.value;
      option.selected = choice.value === String(data.prediction);
      target.append(option);
    }
  };

  function levelOf(value, largest) {
    return largest > 0 ? Math.min(LEVELS, Math.ceil((Math.abs(value) / largest) * LEVELS)) : 0;
  }

  function draw(explanation) {
    words.replaceChildren();
    const largest = Math.max(0, ...explanation.words.map((word) => Math.abs(word.attribution)));
    let field = null, line = null;
    for (const word of explanation.words) {
      if (word.field !== field) {
        field = word.field;
        line = element("p", "why-line");
        line.append(element("span", "why-field", field + ": "));
        words.append(line);
      }
      const level = levelOf(word.attribution, largest);
      const kind = level === 0 ? "" : (word.attribution > 0 ? " why-for-" : " why-against-") + level;
      const span = element("span", "why-word" + kind, word.text);
      const number = (word.attribution > 0 ? "+" : "") + word.attribution.toFixed(3);
      span.title = number;
      span.tabIndex = 0;
      const show = () => { detail.textContent = word.text + ": " + number; };
      span.addEventListener("click", show);
      span.addEventListener("focus", show);
      line.append(span, " ");
    }
    words.hidden = legend.hidden = false;
    status.textContent = "‘" + explanation.target + "’ 쪽으로 (towards it), " + explanation.method + ", " +
      explanation.steps + " steps, convergence_delta " + explanation.convergence_delta;
  }

  open.addEventListener("click", async () => {
    if (!fields) return;
    open.disabled = true;
    status.textContent = "계산 중… (working…)";
    try {
      const response = await fetch("explain", {
        method: "POST",
        headers: { "Content-Type": "application/json", "ngrok-skip-browser-warning": "1" },
        body: JSON.stringify(Object.assign({}, fields, { target: target.value })),
      });
      let data = null;
      try { data = await response.json(); } catch (_) { /* not JSON: said below */ }
      if (!response.ok || !data) {
        status.textContent = (data && data.error) ? String(data.error) : "HTTP " + response.status;
        return;
      }
      draw(data);
    } catch (_) {
      status.textContent = "네트워크 오류 (network error)";
    } finally {
      open.disabled = false;
    }
  });
})();
