// An image's top classes as bars, with the predicted class's id.
"use strict";

DemoApp.renderers.image = {
  draw(data) {
    DemoApp.setText("result-label", data.prediction);
    DemoApp.setText("result-class-id", data.class_id ? "(" + data.class_id + ")" : "");
    DemoApp.drawBars(DemoApp.probabilitiesOf(data));
  },
  summary: (data) => String(data.prediction),
};
