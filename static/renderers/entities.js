// Named entities highlighted in the sentence, with a summary line for screen readers.
"use strict";

DemoApp.renderers.entities = {
  draw(data) {
    const { element, highlighted, percent } = DemoApp;
    const entities = Array.isArray(data.entities) ? data.entities : [];
    const box = document.getElementById("entities");
    box.replaceChildren(highlighted(String(data.sentence), entities, (entity) => {
      const mark = element("mark", "entity entity-" + String(entity.label).replace(/[^A-Z]/g, ""));
      mark.title = entity.name + " " + entity.label + " " + percent(entity.probability);
      mark.dataset.type = String(entity.label);
      return mark;
    }));
    document.getElementById("entity-summary").textContent = entities.length
      ? entities.map((e) => e.text + " → " + e.name + " (" + e.label + ", " + percent(e.probability) + ")").join(" · ")
      : "찾은 개체명이 없습니다 (no entities found)";
  },
  summary: (data) => (data.entities || []).map((e) => e.text + "/" + e.label).join(", ") || "—",
};
