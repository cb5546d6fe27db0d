// Live updates of the alerts pages' instance lists. The pages read without
// this script (a reload shows changes); with it, the page subscribes to the
// `alerts` channel on /ws (with the session cookie) and, when an instance
// changes, asks the server for the page again (its own URL, with its filters
// and cursors, as htmx asks: HX-Request) and swaps in the fresh list
// (`[data-alerts-live]`, which has the same id in the answer). News is
// coalesced: at most one request a second, and none while one is under way;
// what arrives meanwhile makes one more. Only the list is replaced, so the
// filter form and anything else on the page keep their state; focus inside
// the list stays on the same link or region when it is still there.
"use strict";

(function () {
  var MIN_GAP_MS = 1000; // at most one refetch a second
  var MAX_BACKOFF_MS = 30000;
  var LIVE = "Live: changes show as they happen";
  var live = null;

  function localise(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var when = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(when.getTime())) times[i].textContent = when.toLocaleString();
    }
  }

  // A selector that finds the focused element again in the fresh list.
  function focusKey(element, container) {
    if (!element || element === container || !container.contains(element)) return null;
    if (element.id) return "#" + CSS.escape(element.id);
    var href = element.getAttribute("href");
    if (href) return element.tagName.toLowerCase() + '[href="' + CSS.escape(href) + '"]';
    var labelled = element.getAttribute("aria-labelledby");
    if (labelled) return '[aria-labelledby="' + CSS.escape(labelled) + '"]';
    return null;
  }

  function Live(container) {
    this.container = container;
    this.ruleId = container.getAttribute("data-rule-id"); // the rule page: its news only
    this.lastFetch = 0;
    this.timer = null;
    this.fetching = false;
    this.pending = false;
    this.stopped = false;
    this.connected = false; // once subscribed: a later subscription may have missed news
    this.backoff = 1000;
    this.socket = null;
    this.status = document.createElement("p");
    this.status.className = "live-state";
    this.status.setAttribute("role", "status");
    container.parentNode.insertBefore(this.status, container);
    this.connect();
  }

  Live.prototype.connect = function () {
    var self = this;
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    var socket = new WebSocket(scheme + "//" + window.location.host + "/ws");
    this.socket = socket;
    socket.onopen = function () {
      self.backoff = 1000;
      socket.send(JSON.stringify({ type: "subscribe", channel: "alerts" }));
    };
    socket.onmessage = function (message) {
      var parsed;
      try { parsed = JSON.parse(message.data); } catch (ignored) { return; }
      if (parsed.type === "subscribed") {
        self.say(LIVE);
        // After a reconnect, whatever changed while the socket was down.
        if (self.connected) self.news();
        self.connected = true;
      } else if (parsed.type === "data" && self.concerns(parsed.items || [])) {
        self.news();
      }
    };
    socket.onclose = function (event) {
      if (self.stopped) return;
      // 1008: the session ended or was refused. The page's answer says where to
      // go (the sign-in page) if so; reconnecting alone would never learn it.
      if (event.code === 1008 && !self.fetching) self.refresh();
      self.say("Reconnecting to show changes…");
      var wait = self.backoff + Math.random() * 500;
      self.backoff = Math.min(self.backoff * 2, MAX_BACKOFF_MS);
      setTimeout(function () { if (!self.stopped) self.connect(); }, wait);
    };
  };

  // A rule's page cares for its own instances; every page for muting news
  // (a silence or inhibition rule changes which instances are marked muted).
  Live.prototype.concerns = function (items) {
    if (!this.ruleId) return items.length > 0;
    for (var i = 0; i < items.length; i++) {
      if (items[i].kind === "muting") return true;
      if (String(items[i].rule_id) === this.ruleId) return true;
    }
    return false;
  };

  // The connection's state, said beside the list (outside it, so that a swap
  // does not make screen readers announce it again).
  Live.prototype.say = function (words) {
    if (this.status.textContent !== words) this.status.textContent = words;  // said once
  };

  Live.prototype.news = function () {
    this.pending = true;
    this.schedule();
  };

  Live.prototype.schedule = function () {
    if (this.timer !== null || this.fetching || this.stopped) return;
    var wait = Math.max(0, this.lastFetch + MIN_GAP_MS - Date.now());
    var self = this;
    this.timer = setTimeout(function () { self.timer = null; self.refresh(); }, wait);
  };

  Live.prototype.refresh = function () {
    var self = this;
    this.pending = false;
    this.fetching = true;
    this.lastFetch = Date.now();
    var url = this.container.getAttribute("data-live-url");
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) {
        var away = response.headers.get("HX-Redirect");
        if (away) { window.location.assign(away); return null; }
        if (response.ok) return response.text();
        // An outage (503) or a refusal: say so; the next news tries again.
        self.say("Not updated (" + response.status + "); a reload shows changes");
        return null;
      })
      .then(function (html) {
        self.fetching = false;
        if (html === null || self.stopped) return;
        self.swap(html);
        if (self.socket && self.socket.readyState === WebSocket.OPEN) self.say(LIVE);
      }, function () {
        self.fetching = false;
        self.say("Not updated; a reload shows changes");
      })
      .then(function () { if (self.pending) self.schedule(); });
  };

  Live.prototype.swap = function (html) {
    // Parsed inert (nothing in it loads or runs), then only the list is taken.
    var parsed = new DOMParser().parseFromString(html, "text/html");
    var found = parsed.getElementById(this.container.id);
    if (!found || !this.container.isConnected) return;
    var fresh = document.adoptNode(found);
    var focused = focusKey(document.activeElement, this.container);
    var hadFocus = this.container.contains(document.activeElement);
    this.container.replaceWith(fresh);
    this.container = fresh;
    localise(fresh);
    if (hadFocus) {
      // The same link or region when it is still there, else the list itself,
      // so a keyboard or screen-reader user is not sent back to the page's top.
      var again = focused ? fresh.querySelector(focused) : null;
      (again || fresh).focus({ preventScroll: true });
    }
  };

  Live.prototype.stop = function () {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
    if (this.status.isConnected) this.status.remove();
  };

  // Started on an alerts page, stopped when htmx swaps it away, restarted on return.
  function follow() {
    var container = document.querySelector("[data-alerts-live]");
    if (live && live.container !== container && !live.container.isConnected) {
      live.stop();
      live = null;
    }
    if (container && !live) live = new Live(container);
  }

  document.addEventListener("htmx:after:swap", follow);
  window.addEventListener("pagehide", function () { if (live) { live.stop(); live = null; } });
  window.addEventListener("pageshow", function (event) { if (event.persisted) follow(); });
  follow();
})();
