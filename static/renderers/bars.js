// Class probabilities as bars: document and pair classification.
"use strict";

DemoApp.renderers.bars = {
  draw(data) {
    DemoApp.setText("result-label", data.prediction);
    DemoApp.drawBars(DemoApp.probabilitiesOf(data));
  },
  summary: (data) => String(data.prediction),
};
