// The alert rule editor. The page works without this script (every kind's
// fields are shown, each marked with the kinds that read it; the charts'
// figures are tables). With it, only the chosen kind's fields are shown, and
// each chart of a rule's series is drawn with uPlot: one line per group, the
// threshold and resolve threshold as dashed lines, a backtest's firing spans
// shaded. Charts arrive with the page and with htmx's preview and backtest swaps.
"use strict";

(function () {
  var PALETTE = ["#2f7fd8", "#d89a00", "#9b3fc4", "#0b8a8a", "#c2410c", "#6b7280",
                 "#be185d", "#4d7c0f", "#1e3a8a", "#0f9bb0"];
  var THRESHOLD_COLOURS = ["#d33a3a", "#18a06b"];
  var drawn = [];

  function themeColour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  function checkedValue(form, name) {
    var chosen = form.querySelector('input[name="' + name + '"]:checked');
    return chosen ? chosen.value : "";
  }

  // Whether a field is read for the form's kind (rule_form.py rule_body says the same).
  function used(form, field, kinds) {
    var kind = form.elements.kind ? form.elements.kind.value : "";
    if (kinds.indexOf(kind) < 0) return false;
    if (kind === "error_group") {
      var frequency = form.elements.condition && form.elements.condition.value === "frequency";
      if (["window", "comparator", "threshold", "resolve_threshold"].indexOf(field) >= 0) return frequency;
      if (field === "resolve_after") return !frequency;
    }
    if (kind === "absence") {
      var events = checkedValue(form, "absence_of") === "events";
      if (field === "metric" || field === "matchers") return !events;
      if (field === "filters") return events;
    }
    return true;
  }

  function showKindFields() {
    var form = document.getElementById("rule-form");
    if (!form) return;
    form.classList.add("kind-switched");
    var fields = form.querySelectorAll("[data-kinds]");
    for (var i = 0; i < fields.length; i++) {
      var kinds = fields[i].getAttribute("data-kinds").split(" ");
      fields[i].hidden = !used(form, fields[i].getAttribute("data-field"), kinds);
    }
  }

  function shadeSpans(spans) {
    return function (plot) {
      if (!spans.length) return;
      var ctx = plot.ctx, box = plot.bbox;
      ctx.save();
      ctx.fillStyle = "rgba(211, 58, 58, 0.18)";
      for (var i = 0; i < spans.length; i++) {
        var left = Math.max(plot.valToPos(spans[i][0], "x", true), box.left);
        var right = Math.min(plot.valToPos(spans[i][1], "x", true), box.left + box.width);
        if (right > left) ctx.fillRect(left, box.top, Math.max(right - left, 1), box.height);
      }
      ctx.restore();
    };
  }

  function draw(area) {
    var source = document.getElementById(area.getAttribute("data-rule-chart"));
    if (!source || typeof window.uPlot === "undefined") return null;
    var chart = JSON.parse(source.textContent);
    var axis = { stroke: themeColour("--muted"), grid: { stroke: themeColour("--border") },
                 ticks: { stroke: themeColour("--border") } };
    var series = [{}];
    var data = [chart.times];
    for (var s = 0; s < chart.series.length; s++) {
      series.push({ label: chart.series[s].label, width: 2, points: { show: false },
                    spanGaps: false, stroke: PALETTE[s % PALETTE.length] });
      data.push(chart.series[s].values);
    }
    for (var t = 0; t < chart.thresholds.length; t++) {
      var line = chart.thresholds[t];
      series.push({ label: line.label, width: 1.5, dash: [6, 4], points: { show: false },
                    stroke: THRESHOLD_COLOURS[t % THRESHOLD_COLOURS.length] });
      data.push(chart.times.map(function () { return line.value; }));
    }
    area.textContent = "";
    area.removeAttribute("aria-hidden");
    area.setAttribute("role", "img");
    area.setAttribute("aria-label", "Chart of the rule's value per group with its thresholds; its figures are in the table below");
    return new window.uPlot({
      width: Math.max(area.clientWidth, 240),
      height: 260,
      series: series,
      axes: [axis, axis],
      scales: { x: { time: true } },
      legend: { live: true },
      hooks: { drawClear: [shadeSpans(chart.spans || [])] },
    }, data, area);
  }

  function drawAll() {
    for (var i = 0; i < drawn.length; i++) {
      if (!drawn[i].root.isConnected) { drawn[i].destroy(); drawn.splice(i--, 1); }
    }
    var areas = document.querySelectorAll("[data-rule-chart]");
    for (var j = 0; j < areas.length; j++) {
      if (areas[j].getAttribute("data-drawn")) continue;
      var plot = draw(areas[j]);
      if (plot) { drawn.push(plot); areas[j].setAttribute("data-drawn", "1"); }
    }
  }

  function resize() {
    for (var i = 0; i < drawn.length; i++) {
      var area = drawn[i].root.parentNode;
      drawn[i].setSize({ width: Math.max(area.clientWidth, 240), height: 260 });
    }
  }

  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("#rule-form")) showKindFields();
  });
  document.addEventListener("htmx:after:swap", function () { showKindFields(); drawAll(); });
  window.addEventListener("resize", resize);
  showKindFields();
  drawAll();
})();
