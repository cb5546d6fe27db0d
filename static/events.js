// The events page's live tail. The list reads and pages without this script;
// with it, a "Live tail" toggle subscribes to events:realtime on /ws (with the
// session cookie) and prepends the events that match the page's filters.
// The subscription's filter narrows the stream as far as the server can (one
// type, one source, a lowest level); the rest of the page's filters are
// checked here, as the API checks them (#events-live-filter, from the server).
// Bursts are coalesced: arrivals wait in a bounded queue and are written to
// the table once per animation frame, which keeps at most `data-live-rows`.
"use strict";

(function () {
  var LEVELS = ["debug", "info", "warning", "error", "critical"];
  var MAX_BACKOFF_MS = 30000;
  var PREFERENCE = "monitor.events.liveTail"; // the toggle survives a filter change or reload
  var SHORT_MESSAGE = 200;
  var tail = null;

  function Matcher(match) {
    this.types = match.types;
    this.sources = match.sources;
    this.levels = match.levels;
    this.minLevel = match.min_level ? LEVELS.indexOf(match.min_level) : -1;
    this.from = match.from ? Date.parse(match.from) : null;
    this.to = match.to ? Date.parse(match.to) : null;
    this.text = match.text;
    this.attributes = match.attributes;
  }

  Matcher.prototype.test = function (event) {
    if (this.types.length && this.types.indexOf(event.type) < 0) return false;
    if (this.sources.length && this.sources.indexOf(event.source) < 0) return false;
    if (this.levels.length && this.levels.indexOf(event.level) < 0) return false;
    if (LEVELS.indexOf(event.level) < this.minLevel) return false;
    if (this.from !== null || this.to !== null) {
      var time = Date.parse(event.time);
      if (this.from !== null && time < this.from) return false;
      if (this.to !== null && time >= this.to) return false;
    }
    if (this.text && String(event.message).toLowerCase().indexOf(this.text) < 0) return false;
    var attributes = event.attributes || {};
    for (var i = 0; i < this.attributes.length; i++) {
      var key = this.attributes[i][0];
      if (!Object.prototype.hasOwnProperty.call(attributes, key)) return false;
      if (this.attributes[i][1].indexOf(attributes[key]) < 0) return false;
    }
    return true;
  };

  function cell(row, text) {
    var td = document.createElement("td");
    if (text !== undefined) td.textContent = text;
    row.appendChild(td);
    return td;
  }

  // The same row as the server writes (templates/events.html).
  function eventRow(event) {
    var row = document.createElement("tr");
    var time = document.createElement("time");
    time.setAttribute("datetime", event.time);
    var when = new Date(event.time);
    time.textContent = isNaN(when.getTime()) ? event.time : when.toLocaleString();
    cell(row).appendChild(time);
    var level = document.createElement("span");
    level.className = "level level-" + event.level;
    level.textContent = event.level;
    cell(row).appendChild(level);
    cell(row, event.type);
    cell(row, event.source);
    var message = cell(row);
    message.className = "message";
    var link = document.createElement("a");
    link.href = "/ui/events/" + encodeURIComponent(event.id);
    var text = String(event.message || "");
    if (text.length > SHORT_MESSAGE) text = text.slice(0, SHORT_MESSAGE - 1) + "…";
    link.textContent = text || "(no message)";
    message.appendChild(link);
    return row;
  }

  function Tail(container) {
    var spec = JSON.parse(document.getElementById("events-live-filter").textContent);
    this.container = container;
    this.subscribe = spec.subscribe;
    this.matcher = new Matcher(spec.match);
    this.maxRows = Number(container.getAttribute("data-live-rows")) || 200;
    this.rows = document.getElementById("event-rows");
    this.empty = document.getElementById("events-empty");
    this.toggle = container.querySelector("#live-tail-toggle");
    this.state = container.querySelector(".live-state");
    this.queue = [];
    this.frame = null;
    this.socket = null;
    this.retry = null;
    this.backoff = 1000;
    var self = this;
    this.toggle.addEventListener("change", function () { self.switchTo(self.toggle.checked); });
    container.hidden = false;
    var wanted = false;
    try { wanted = window.sessionStorage.getItem(PREFERENCE) === "on"; } catch (ignored) { /* none */ }
    this.toggle.checked = wanted;
    this.switchTo(wanted);
  }

  Tail.prototype.say = function (words) {
    this.state.textContent = words;
  };

  Tail.prototype.switchTo = function (on) {
    try { window.sessionStorage.setItem(PREFERENCE, on ? "on" : "off"); } catch (ignored) { /* none */ }
    if (on) {
      this.connect();
    } else {
      this.disconnect();
      this.say("");
    }
  };

  Tail.prototype.connect = function () {
    if (this.socket) return;
    var self = this;
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    var socket = new WebSocket(scheme + "//" + window.location.host + "/ws");
    this.socket = socket;
    this.say("connecting…");
    socket.onopen = function () {
      socket.send(JSON.stringify({
        type: "subscribe", channel: "events:realtime", subscription: "events-page",
        filter: self.subscribe,
      }));
    };
    socket.onmessage = function (message) {
      if (self.socket !== socket) return;
      var parsed;
      try { parsed = JSON.parse(message.data); } catch (ignored) { return; }
      if (parsed.type === "data") {
        self.arrived(parsed.items || []);
      } else if (parsed.type === "subscribed") {
        self.backoff = 1000;
        self.say("live");
      } else if (parsed.type === "error") {
        self.say("refused: " + parsed.reason);
      }
    };
    socket.onclose = function (event) {
      if (self.socket !== socket) return; // switched off, or replaced
      self.socket = null;
      var wait = self.backoff + Math.random() * 500;
      self.backoff = Math.min(self.backoff * 2, MAX_BACKOFF_MS);
      self.say("reconnecting" + (event.reason ? " (" + event.reason + ")" : "") + "…");
      self.retry = setTimeout(function () { self.retry = null; self.connect(); }, wait);
    };
  };

  Tail.prototype.disconnect = function () {
    if (this.retry !== null) { clearTimeout(this.retry); this.retry = null; }
    var socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000);
    this.queue = [];
    if (this.frame !== null) { window.cancelAnimationFrame(this.frame); this.frame = null; }
  };

  // Matching events wait for the next frame; only the newest maxRows can be shown.
  Tail.prototype.arrived = function (items) {
    for (var i = 0; i < items.length; i++) {
      if (this.matcher.test(items[i])) this.queue.push(items[i]);
    }
    if (this.queue.length > this.maxRows) this.queue.splice(0, this.queue.length - this.maxRows);
    if (this.queue.length && this.frame === null) {
      var self = this;
      this.frame = window.requestAnimationFrame(function () { self.frame = null; self.write(); });
    }
  };

  Tail.prototype.write = function () {
    var batch = this.queue;
    this.queue = [];
    if (!batch.length || !this.rows.isConnected) return;
    var fragment = document.createDocumentFragment();
    for (var i = batch.length - 1; i >= 0; i--) fragment.appendChild(eventRow(batch[i]));
    this.rows.insertBefore(fragment, this.rows.firstChild);
    while (this.rows.children.length > this.maxRows) this.rows.removeChild(this.rows.lastElementChild);
    if (this.empty) this.empty.hidden = true;
  };

  Tail.prototype.stop = function () {
    this.disconnect();
  };

  // Started with the events list, stopped when htmx swaps it away (a new
  // filter brings a new list, and a new tail for it).
  function follow() {
    var container = document.getElementById("events-live");
    if (tail && tail.container !== container) {
      tail.stop();
      tail = null;
    }
    if (container && !tail) tail = new Tail(container);
  }

  document.addEventListener("htmx:after:swap", follow);
  window.addEventListener("pagehide", function () { if (tail) { tail.stop(); tail = null; } });
  window.addEventListener("pageshow", function (event) { if (event.persisted) follow(); });
  follow();
})();
