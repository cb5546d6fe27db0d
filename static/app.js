// monitor's script for every page. Pages work without it; it makes htmx
// requests carry the session's CSRF token, keeps the navigation's current
// page in step after htmx swaps the main part, and shows times in the
// browser's own time zone, and loads the scripts a page names (data-page-script).
"use strict";

(function () {
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  // Every htmx request carries the token (state-changing ones need it).
  document.addEventListener("htmx:config:request", function (event) {
    var token = csrfToken();
    if (token && event.detail && event.detail.ctx) {
      event.detail.ctx.request.headers["X-CSRF-Token"] = token;
    }
  });

  function markCurrentPage() {
    var links = document.querySelectorAll(".side-nav a");
    for (var i = 0; i < links.length; i++) {
      if (links[i].getAttribute("href") === window.location.pathname) {
        links[i].setAttribute("aria-current", "page");
      } else {
        links[i].removeAttribute("aria-current");
      }
    }
  }

  // <time datetime="…Z"> written by the server in UTC, shown in local time.
  function localiseTimes(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var when = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        times[i].textContent = when.toLocaleString();
      }
    }
  }

  // A page that draws with scripts of its own names them in `data-page-script`
  // (space-separated, in order); each is loaded once, whether the page came
  // whole or its main part through htmx (whose swapped-in scripts never run).
  function loadPageScripts(root) {
    var holders = root.querySelectorAll("[data-page-script]");
    for (var i = 0; i < holders.length; i++) {
      var sources = holders[i].getAttribute("data-page-script").split(/\s+/);
      for (var j = 0; j < sources.length; j++) {
        if (!sources[j] || document.querySelector('script[src="' + sources[j] + '"]')) continue;
        var script = document.createElement("script");
        script.src = sources[j];
        script.async = false;  // run in the order named
        document.head.appendChild(script);
      }
    }
  }

  document.addEventListener("htmx:after:swap", function () {
    loadPageScripts(document);
    markCurrentPage();
    localiseTimes(document);
    var main = document.getElementById("main");
    if (main) {
      main.focus({ preventScroll: true });  // screen readers start on the new page
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    loadPageScripts(document);
    localiseTimes(document);
  });
})();
