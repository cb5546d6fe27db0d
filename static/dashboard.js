// A dashboard's charts. The page reads without this script (each chart has a
// table of its series); with it, every timeseries widget's JSON data block is
// drawn with uPlot in its cell of the grid, times in the browser's time zone.
"use strict";

(function () {
  var PALETTE = ["#2f7fd8", "#d33a3a", "#18a06b", "#d89a00", "#9b3fc4", "#0b8a8a",
                 "#c2410c", "#6b7280", "#be185d", "#4d7c0f", "#1e3a8a"];
  var LEVEL_COLOURS = { debug: "#8a8f98", info: "#2f7fd8", warning: "#d89a00",
                        error: "#d33a3a", critical: "#9b3fc4" };
  var drawn = [];

  function themeColour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  function chartHeight(area) {
    var body = area.closest(".widget-body");
    var room = body ? body.clientHeight - 40 : 160;
    return Math.max(room, 100);
  }

  function draw(area) {
    var source = document.getElementById(area.getAttribute("data-chart"));
    if (!source || typeof window.uPlot === "undefined") return null;
    var chart = JSON.parse(source.textContent);
    var axis = { stroke: themeColour("--muted"), grid: { stroke: themeColour("--border") },
                 ticks: { stroke: themeColour("--border") } };
    var series = [{}];
    var data = [chart.times];
    for (var s = 0; s < chart.series.length; s++) {
      var label = chart.series[s].label;
      series.push({ label: label, width: 2, points: { show: false }, spanGaps: false,
                    stroke: LEVEL_COLOURS[label] || PALETTE[s % PALETTE.length] });
      data.push(chart.series[s].values);
    }
    area.textContent = "";
    area.removeAttribute("aria-hidden");
    area.setAttribute("role", "img");
    area.setAttribute("aria-label", "Chart; its figures are in the table below");
    // The table stays for screen readers; the chart stands in for it on screen.
    var table = area.parentNode.querySelector("table.summary");
    if (table) table.classList.add("visually-hidden");
    var plot = new window.uPlot({
      width: Math.max(area.clientWidth, 200),
      height: chartHeight(area),
      series: series,
      axes: [axis, Object.assign({ label: chart.unit || "", labelSize: chart.unit ? 20 : 0 }, axis)],
      scales: { x: { time: true } },
      legend: { live: true },
    }, data, area);
    fit(plot, area);
    return plot;
  }

  // The legend takes what it needs (it wraps with many series); the plot the rest.
  function fit(plot, area) {
    var body = area.closest(".widget-body");
    var legend = area.querySelector(".u-legend");
    if (!body) return;
    var height = body.clientHeight - (legend ? legend.offsetHeight : 0) - 6;
    plot.setSize({ width: Math.max(area.clientWidth, 200), height: Math.max(height, 80) });
  }

  function drawAll() {
    for (var i = 0; i < drawn.length; i++) {
      if (!drawn[i].root.isConnected) { drawn[i].destroy(); drawn.splice(i--, 1); }
    }
    var areas = document.querySelectorAll(".dash-grid [data-chart]");
    for (var j = 0; j < areas.length; j++) {
      if (areas[j].getAttribute("data-drawn")) continue;
      var plot = draw(areas[j]);
      if (plot) { drawn.push(plot); areas[j].setAttribute("data-drawn", "1"); }
    }
  }

  function resize() {
    for (var i = 0; i < drawn.length; i++) {
      var area = drawn[i].root.parentNode;
      fit(drawn[i], area);
    }
  }

  document.addEventListener("htmx:after:swap", drawAll);
  window.addEventListener("resize", resize);
  drawAll();
})();
