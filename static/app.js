// monitor's script for every page. Pages work without it; it makes htmx
// requests carry the session's CSRF token, keeps the navigation's current
// page in step after htmx swaps the main part, shows times in the
// browser's own time zone, gives a new API key its Copy button, and loads
// the scripts a page names (data-page-script).
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

  // A new API key's Copy button: the clipboard API where the page may use it,
  // else the text is selected for the user to copy (Ctrl+C).
  function enableCopyButtons(root) {
    var buttons = root.querySelectorAll("button[data-copy-from]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
    }
  }

  function selectText(field, status, message) {
    field.focus();
    field.select();
    if (status) {
      status.textContent = message;
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-copy-from]") : null;
    if (!button) {
      return;
    }
    var field = document.getElementById(button.getAttribute("data-copy-from"));
    var status = document.querySelector(".copy-status");
    if (!field) {
      return;
    }
    var fallback = "Selected: press Ctrl+C (or ⌘C) to copy.";
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () {
        if (status) {
          status.textContent = "Copied to the clipboard.";
        }
      }, function () {
        selectText(field, status, fallback);
      });
    } else {
      selectText(field, status, fallback);
    }
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-select-on-focus")) {
      event.target.select();
    }
  });

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

  // Whether a swap replaced the main part (a new page), not one piece of it.
  function swappedMain(event) {
    var target = event.detail && event.detail.ctx ? event.detail.ctx.target : null;
    if (!target) return true;
    return typeof target === "string" ? target === "#main" : target.id === "main";
  }

  document.addEventListener("htmx:after:swap", function (event) {
    loadPageScripts(document);
    markCurrentPage();
    localiseTimes(document);
    enableCopyButtons(document);
    var main = document.getElementById("main");
    if (main && swappedMain(event)) {
      main.focus({ preventScroll: true });  // screen readers start on the new page
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    loadPageScripts(document);
    localiseTimes(document);
    enableCopyButtons(document);
  });
})();
