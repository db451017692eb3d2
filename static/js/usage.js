// Usage charts: draws a uPlot bar chart into each [data-chart] element from the JSON block
// (json_script) it names. The page works without this file: every chart has a table with the
// same numbers. No inline scripts or style attributes (CSP); uPlot styles through the CSSOM.
(function () {
  "use strict";

  var IMPORT_COLOUR = "#0b5d3b";
  var EXPORT_COLOUR = "#8a4b00";

  function toNumber(value) {
    return value === null || value === undefined ? null : parseFloat(value);
  }

  function readData(element) {
    var source = document.getElementById(element.getAttribute("data-chart"));
    if (!source) { return null; }
    try {
      return JSON.parse(source.textContent);
    } catch (error) {
      return null;
    }
  }

  function barSeries(label, colour, fill, align, size) {
    return {
      label: label,
      stroke: colour,
      fill: fill,
      width: 1,
      points: { show: false },
      paths: window.uPlot.paths.bars({ size: [size, 60], align: align }),
      value: function (u, v) { return v === null ? "—" : v.toFixed(3) + " kWh"; }
    };
  }

  function draw(element) {
    var data = readData(element);
    if (!data || !data.labels || !data.labels.length) { return; }
    var labels = data.labels;
    var xs = labels.map(function (label, index) { return index; });
    var twoSeries = Array.isArray(data["export"]);
    var size = twoSeries ? 0.4 : 0.7;
    var series = [
      { label: data.xLabel || "", value: function (u, v) { return v === null ? "" : (labels[v] || ""); } },
      barSeries(data.importLabel, IMPORT_COLOUR, "rgba(11, 93, 59, 0.45)", twoSeries ? -1 : 0, size)
    ];
    var values = [xs, data["import"].map(toNumber)];
    if (twoSeries) {
      series.push(barSeries(data.exportLabel, EXPORT_COLOUR, "rgba(138, 75, 0, 0.45)", 1, size));
      values.push(data["export"].map(toNumber));
    }
    element.hidden = false;
    var options = {
      width: Math.max(element.clientWidth, 280),
      height: 260,
      scales: {
        x: { time: false, range: function (u, min, max) { return [min - 0.5, max + 0.5]; } },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } }
      },
      axes: [
        {
          incrs: [1, 2, 3, 4, 6, 8, 12, 24],
          space: 48,
          values: function (u, splits) {
            return splits.map(function (i) { return Number.isInteger(i) ? (labels[i] || "") : ""; });
          }
        },
        { label: "kWh", size: 60 }
      ],
      series: series,
      legend: { show: true }
    };
    var plot = new window.uPlot(options, values, element);
    if (window.ResizeObserver) {
      new window.ResizeObserver(function () {
        var width = Math.max(element.clientWidth, 280);
        if (Math.abs(width - plot.width) > 2) { plot.setSize({ width: width, height: 260 }); }
      }).observe(element);
    }
  }

  function init() {
    if (!window.uPlot) { return; }
    document.querySelectorAll("[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
