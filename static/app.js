// monitor's one first-party script. Pages work without it; it makes htmx
// requests carry the session's CSRF token, keeps the navigation's current
// page in step after htmx swaps the main part, and shows times in the
// browser's own time zone.
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

  document.addEventListener("htmx:after:swap", function () {
    markCurrentPage();
    localiseTimes(document);
    var main = document.getElementById("main");
    if (main) {
      main.focus({ preventScroll: true });  // screen readers start on the new page
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    localiseTimes(document);
  });
})();
