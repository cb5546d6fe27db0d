// The overview page's charts and live updates. The page reads without this
// script (numbers and tables are server-rendered); with it, the charts are
// drawn with uPlot (times in the browser's time zone), and the websocket's
// news of new events or alert transitions makes the page refetch its live
// part, at most once a second and not before the server's answer can have
// changed (its tick).
"use strict";

(function () {
  var TICK_MS = 10000; // the overview's tick (OVERVIEW_TICK_CAP)
  var MIN_GAP_MS = 1000; // at most one refetch a second
  var TICK_MARGIN_MS = 250; // after the tick ends, the next answer exists
  var MAX_BACKOFF_MS = 30000;
  var LEVEL_COLOURS = {
    debug: "#8a8f98", info: "#2f7fd8", warning: "#d89a00", error: "#d33a3a", critical: "#9b3fc4",
    "error rate": "#d33a3a", events: "#2f7fd8", samples: "#18a06b",
  };
  var live = null;

  function themeColour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  function drawCharts(container) {
    var areas = container.querySelectorAll("[data-chart]");
    var charts = [];
    for (var i = 0; i < areas.length; i++) {
      var source = document.getElementById(areas[i].getAttribute("data-chart"));
      if (!source || typeof window.uPlot === "undefined") continue;
      var chart = JSON.parse(source.textContent);
      var axis = { stroke: themeColour("--muted"), grid: { stroke: themeColour("--border") },
                   ticks: { stroke: themeColour("--border") } };
      var series = [{}];
      var data = [chart.times];
      for (var s = 0; s < chart.series.length; s++) {
        var label = chart.series[s].label;
        series.push({ label: label, stroke: LEVEL_COLOURS[label] || themeColour("--accent"),
                      width: 2, points: { show: false }, spanGaps: false });
        data.push(chart.series[s].values);
      }
      areas[i].textContent = "";
      charts.push(new window.uPlot({
        width: Math.max(areas[i].clientWidth, 200),
        height: 180,
        series: series,
        axes: [axis, Object.assign({ label: chart.unit, labelSize: 20 }, axis)],
        scales: { x: { time: true } },
        legend: { live: true },
      }, data, areas[i]));
    }
    return charts;
  }

  function localise(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var when = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(when.getTime())) times[i].textContent = when.toLocaleString();
    }
  }

  function Live(container) {
    this.container = container;
    this.url = container.getAttribute("data-live-url");
    this.charts = drawCharts(container);
    this.lastFetch = Date.now();
    this.tickEnd = this.lastFetch + Number(container.getAttribute("data-fresh-for")) * 1000;
    this.timer = null;
    this.fetching = false;
    this.pending = false;
    this.stopped = false;
    this.backoff = 1000;
    this.socket = null;
    this.connect();
  }

  Live.prototype.connect = function () {
    var self = this;
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    var socket = new WebSocket(scheme + "//" + window.location.host + "/ws");
    this.socket = socket;
    socket.onopen = function () {
      self.backoff = 1000;
      socket.send(JSON.stringify({ type: "subscribe", channel: "events:realtime" }));
      // Alert transitions change the firing count.
      socket.send(JSON.stringify({ type: "subscribe", channel: "alerts" }));
      self.say("live");
    };
    socket.onmessage = function (message) {
      var parsed;
      try { parsed = JSON.parse(message.data); } catch (ignored) { return; }
      if (parsed.type === "data") self.newEvents();
    };
    socket.onclose = function (event) {
      if (self.stopped) return;
      // 1008: the session ended or was refused. The live part's answer says where
      // to go (the sign-in page) if so; reconnecting alone would never learn it.
      if (event.code === 1008 && !self.fetching) self.refresh();
      self.say("reconnecting");
      var wait = self.backoff + Math.random() * 500;
      self.backoff = Math.min(self.backoff * 2, MAX_BACKOFF_MS);
      setTimeout(function () { if (!self.stopped) self.connect(); }, wait);
    };
  };

  Live.prototype.say = function (words) {
    var state = this.container.querySelector(".live-state");
    if (state) state.textContent = words;
  };

  // An event committed now is counted in the answer of the tick after this one.
  Live.prototype.newEvents = function () {
    this.pending = true;
    this.schedule();
  };

  Live.prototype.schedule = function () {
    if (this.timer !== null || this.fetching || this.stopped) return;
    var now = Date.now();
    var ready = this.tickEnd;
    while (ready < now) ready += TICK_MS;
    var at = Math.max(this.lastFetch + MIN_GAP_MS, ready + TICK_MARGIN_MS);
    var self = this;
    this.timer = setTimeout(function () { self.timer = null; self.refresh(); }, at - now);
  };

  Live.prototype.refresh = function () {
    var self = this;
    this.pending = false;
    this.fetching = true;
    this.lastFetch = Date.now();
    fetch(this.url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) {
        var away = response.headers.get("HX-Redirect");
        if (away) { window.location.assign(away); return null; }
        if (response.ok) return response.text();
        // An outage (503) or a refusal: say so, and try again after the next tick.
        self.say("not updated (" + response.status + ")");
        self.pending = true;
        return null;
      })
      .then(function (html) {
        self.fetching = false;
        if (html === null || self.stopped) return;
        self.swap(html);
        if (self.socket && self.socket.readyState === WebSocket.OPEN) self.say("live");
      }, function () {
        self.fetching = false;
        self.pending = true; // try again with the next news or tick
      })
      .then(function () { if (self.pending) self.schedule(); });
  };

  Live.prototype.swap = function (html) {
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.querySelector("#overview-live");
    if (!fresh || !this.container.isConnected) return;
    var said = this.container.querySelector(".live-state");
    this.destroyCharts();
    this.container.replaceWith(fresh);
    this.container = fresh;
    this.say(said ? said.textContent : "");
    this.tickEnd = this.lastFetch + Number(fresh.getAttribute("data-fresh-for")) * 1000;
    localise(fresh);
    this.charts = drawCharts(fresh);
  };

  Live.prototype.destroyCharts = function () {
    for (var i = 0; i < this.charts.length; i++) this.charts[i].destroy();
    this.charts = [];
  };

  Live.prototype.resize = function () {
    for (var i = 0; i < this.charts.length; i++) {
      var area = this.charts[i].root.parentNode;
      this.charts[i].setSize({ width: Math.max(area.clientWidth, 200), height: 180 });
    }
  };

  Live.prototype.stop = function () {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.destroyCharts();
    if (this.socket) this.socket.close(1000);
  };

  // Started on the overview, stopped when htmx swaps it away, restarted on return.
  function follow() {
    var container = document.getElementById("overview-live");
    if (live && live.container !== container && !live.container.isConnected) {
      live.stop();
      live = null;
    }
    if (container && !live) live = new Live(container);
  }

  document.addEventListener("htmx:after:swap", follow);
  window.addEventListener("resize", function () { if (live) live.resize(); });
  window.addEventListener("pagehide", function () { if (live) { live.stop(); live = null; } });
  window.addEventListener("pageshow", function (event) { if (event.persisted) follow(); });
  follow();
})();
