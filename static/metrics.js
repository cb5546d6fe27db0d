// The Metrics explorer's chart. The page reads without this script (the
// values are a server-rendered table); with it, the query's series are drawn
// with uPlot (times in the browser's time zone, a legend naming each series)
// and, once per bucket interval (at least every 10 s), the page's own URL is
// fetched again as htmx would and the chart, summary and table replaced:
// the server answers the same query for the next tick, so new points appear.
"use strict";

(function () {
  var MIN_REFRESH_MS = 10000;
  var PALETTE = ["#2f7fd8", "#d33a3a", "#18a06b", "#d89a00", "#9b3fc4", "#0f9bb0", "#c4568a",
                 "#6b7a1f", "#e0702a", "#5a62d6"];
  var explorer = null;

  function themeColour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  function Explorer(area) {
    this.area = area;
    this.url = window.location.href;
    this.chart = null;
    this.timer = null;
    this.draw(JSON.parse(document.getElementById(area.getAttribute("data-chart")).textContent));
    var every = Number(area.getAttribute("data-interval-s")) * 1000;
    this.every = Math.max(every || 0, MIN_REFRESH_MS);
    this.schedule();
  }

  Explorer.prototype.draw = function (data) {
    if (typeof window.uPlot === "undefined") return;
    if (this.chart) { this.chart.destroy(); this.chart = null; }
    var axis = { stroke: themeColour("--muted"), grid: { stroke: themeColour("--border") },
                 ticks: { stroke: themeColour("--border") } };
    var series = [{}];
    var columns = [data.times];
    for (var i = 0; i < data.series.length; i++) {
      series.push({ label: data.series[i].label, stroke: PALETTE[i % PALETTE.length], width: 2,
                    points: { show: false }, spanGaps: false });
      columns.push(data.series[i].values);
    }
    this.area.textContent = "";
    this.chart = new window.uPlot({
      width: Math.max(this.area.clientWidth, 240),
      height: 300,
      series: series,
      axes: [axis, axis],
      scales: { x: { time: true } },
      legend: { live: true },
    }, columns, this.area);
  };

  Explorer.prototype.schedule = function () {
    var self = this;
    this.timer = setTimeout(function () { self.timer = null; self.refresh(); }, this.every);
  };

  // The same URL, asked as htmx asks (the main part only); its new parts replace the old.
  Explorer.prototype.refresh = function () {
    var self = this;
    if (!this.area.isConnected || window.location.href !== this.url) return;
    fetch(this.url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html && self.area.isConnected) self.replace(new DOMParser().parseFromString(html, "text/html"));
      })
      .catch(function () { /* the next tick tries again */ })
      .then(function () { if (self.area.isConnected) self.schedule(); });
  };

  Explorer.prototype.replace = function (fresh) {
    var parts = ["metric-chart-data", "metric-answer"];
    for (var i = 0; i < parts.length; i++) {
      var now = document.getElementById(parts[i]);
      var next = fresh.getElementById(parts[i]);
      if (now && next) now.textContent = next.textContent;
    }
    var swaps = [".window-note", ".metric-values"];
    for (var j = 0; j < swaps.length; j++) {
      var old = document.querySelector(swaps[j]);
      var replacement = fresh.querySelector(swaps[j]);
      if (old && replacement) old.replaceWith(document.importNode(replacement, true));
    }
    localise(document.querySelector(".metric-values"));
    localise(document.querySelector(".window-note"));
    this.draw(JSON.parse(document.getElementById("metric-chart-data").textContent));
  };

  function localise(root) {
    if (!root) return;
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var when = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(when.getTime())) times[i].textContent = when.toLocaleString();
    }
  }

  Explorer.prototype.resize = function () {
    if (this.chart) this.chart.setSize({ width: Math.max(this.area.clientWidth, 240), height: 300 });
  };

  Explorer.prototype.stop = function () {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    if (this.chart) { this.chart.destroy(); this.chart = null; }
  };

  // Started with the chart, replaced when htmx swaps in a new query.
  function follow() {
    var area = document.getElementById("metric-chart");
    if (explorer && explorer.area !== area) {
      explorer.stop();
      explorer = null;
    }
    if (area && !explorer) explorer = new Explorer(area);
  }

  document.addEventListener("htmx:after:swap", follow);
  window.addEventListener("resize", function () { if (explorer) explorer.resize(); });
  window.addEventListener("pagehide", function () { if (explorer) { explorer.stop(); explorer = null; } });
  window.addEventListener("pageshow", function (event) { if (event.persisted) follow(); });
  follow();
})();
