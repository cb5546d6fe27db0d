// The Move and resize page's grid. Without this script the page is its form of
// x, y, w, h fields and step buttons; with it, each widget is also a box on a
// 12-column grid, dragged (mouse, pen, or a finger on its title) to move it and
// by its right edge, bottom edge or corner to resize it, snapping to the cells. An outline
// shows where it would land, in the error colour over another widget or off
// the grid, where letting go puts it back. Arrow keys on a focused box move it
// a cell, with Shift resize it. A place accepted is written into
// the form's fields and the form is posted as it is (with its version and
// CSRF token) by fetch, asking for JSON: the answer's new version goes into
// the form for the next save. A stale version (412) is shown with a link to
// reload; any other refusal puts the boxes and fields back as last saved.
"use strict";

(function () {
  var COLUMNS = 12;
  var MAX_ROWS = 10000;
  var MAX_HEIGHT = 100;
  var ROOM_BELOW = 3;  // empty rows shown below the lowest widget, to drag into

  function whole(input) {
    var text = input.value.trim();
    return /^\d{1,5}$/.test(text) ? parseInt(text, 10) : null;
  }

  function Board(section) {
    this.section = section;
    this.form = document.getElementById(section.getAttribute("data-form"));
    this.grid = section.querySelector(".arrange-grid");
    this.outline = section.querySelector(".arrange-outline");
    this.status = section.querySelector(".arrange-status");
    this.alert = section.querySelector(".arrange-alert");
    this.reload = section.querySelector(".arrange-reload");
    this.boxes = {};
    this.saving = false;
    this.pending = false;
    this.stale = false;
    this.drag = null;
    var boxes = section.querySelectorAll(".arrange-box");
    for (var i = 0; i < boxes.length; i++) {
      var id = boxes[i].getAttribute("data-widget");
      if (document.getElementById("place-" + id)) this.boxes[id] = boxes[i];
    }
    this.saved = this.places();
    this.listen();
    section.hidden = false;
    this.draw();
  }

  // The form's row of a widget: its title and its four fields.
  Board.prototype.fields = function (id) {
    var row = document.getElementById("place-" + id);
    return {
      x: row.querySelector('input[name="x"]'), y: row.querySelector('input[name="y"]'),
      w: row.querySelector('input[name="w"]'), h: row.querySelector('input[name="h"]'),
    };
  };

  Board.prototype.title = function (id) {
    return this.boxes[id].querySelector(".arrange-title").textContent;
  };

  // Every widget's place as the fields say now (null where a field is not a number).
  Board.prototype.places = function () {
    var places = {};
    for (var id in this.boxes) {
      var f = this.fields(id);
      var place = { x: whole(f.x), y: whole(f.y), w: whole(f.w), h: whole(f.h) };
      places[id] = place.x === null || place.y === null || place.w === null || place.h === null
        ? null : place;
    }
    return places;
  };

  Board.prototype.write = function (places) {
    for (var id in places) {
      if (!places[id]) continue;
      var f = this.fields(id);
      f.x.value = places[id].x; f.y.value = places[id].y;
      f.w.value = places[id].w; f.h.value = places[id].h;
    }
  };

  function where(place) {
    return "column " + place.x + ", row " + place.y + " · " + place.w + " × " + place.h;
  }

  function setPlace(element, place) {
    element.style.gridColumn = (place.x + 1) + " / span " + place.w;
    element.style.gridRow = (place.y + 1) + " / span " + place.h;
  }

  // The boxes where the fields put them, and rows enough to drag below the lowest.
  Board.prototype.draw = function (extraBottom) {
    var places = this.places();
    var bottom = extraBottom || 0;
    for (var id in this.boxes) {
      var place = places[id];
      if (!place || place.x + place.w > COLUMNS || place.w < 1 || place.h < 1) continue;
      setPlace(this.boxes[id], place);
      this.boxes[id].querySelector(".arrange-where").textContent = where(place);
      bottom = Math.max(bottom, place.y + place.h);
    }
    var rows = Math.min(bottom + ROOM_BELOW, MAX_ROWS);
    this.grid.style.gridTemplateRows = "repeat(" + rows + ", " + this.rowHeight() + "px)";
  };

  Board.prototype.rowHeight = function () {
    return parseFloat(getComputedStyle(this.grid).gridAutoRows) || 44;
  };

  // Cell pitch in pixels: a column or a row and the gap after it.
  Board.prototype.pitch = function () {
    var style = getComputedStyle(this.grid);
    var gap = parseFloat(style.columnGap) || 0;
    var width = this.grid.getBoundingClientRect().width;
    return { x: (width + gap) / COLUMNS, y: this.rowHeight() + (parseFloat(style.rowGap) || 0) };
  };

  // Why a place is refused ("" when it is not): off the grid, or over another widget.
  Board.prototype.refusal = function (id, place) {
    if (place.h > MAX_HEIGHT) return "higher than " + MAX_HEIGHT + " rows";
    if (place.x < 0 || place.y < 0 || place.x + place.w > COLUMNS || place.y + place.h > MAX_ROWS ||
        place.w < 1 || place.h < 1) {
      return "off the grid";
    }
    var places = this.places();
    for (var other in places) {
      var p = places[other];
      if (other === id || !p) continue;
      if (place.x < p.x + p.w && p.x < place.x + place.w &&
          place.y < p.y + p.h && p.y < place.y + place.h) {
        return "over " + this.title(other);
      }
    }
    return "";
  };

  Board.prototype.listen = function () {
    var board = this;
    this.grid.addEventListener("pointerdown", function (event) { board.start(event); });
    this.grid.addEventListener("pointermove", function (event) { board.move(event); });
    this.grid.addEventListener("pointerup", function (event) { board.end(event, true); });
    this.grid.addEventListener("pointercancel", function (event) { board.end(event, false); });
    this.grid.addEventListener("keydown", function (event) { board.key(event); });
    // Typing in the fields moves the boxes too (saved by the form's own button).
    this.form.addEventListener("input", function () { if (!board.drag) board.draw(); });
  };

  Board.prototype.start = function (event) {
    if (this.drag || this.stale || (event.pointerType === "mouse" && event.button !== 0)) return;
    var box = event.target.closest(".arrange-box");
    if (!box) return;
    var id = box.getAttribute("data-widget");
    var from = this.places()[id];
    if (!from) return;
    var handle = event.target.closest("[data-resize]");
    // A finger anywhere else on the box scrolls the page (phones show little else).
    if (event.pointerType === "touch" && !handle && !event.target.closest(".arrange-title")) return;
    event.preventDefault();
    box.setPointerCapture(event.pointerId);
    box.classList.add("arrange-moving");
    this.drag = {
      id: id, box: box, from: from, to: from, pointer: event.pointerId,
      resize: handle ? handle.getAttribute("data-resize") : "",
      startX: event.clientX, startY: event.clientY, pitch: this.pitch(),
    };
    this.show(from, "");
  };

  Board.prototype.move = function (event) {
    var drag = this.drag;
    if (!drag || event.pointerId !== drag.pointer) return;
    var dx = event.clientX - drag.startX;
    var dy = event.clientY - drag.startY;
    var cols = Math.round(dx / drag.pitch.x);
    var rows = Math.round(dy / drag.pitch.y);
    var from = drag.from;
    var to = { x: from.x, y: from.y, w: from.w, h: from.h };
    if (!drag.resize) {
      to.x += cols; to.y += rows;
      drag.box.style.transform = "translate(" + dx + "px, " + dy + "px)";
    } else {
      if (drag.resize.indexOf("w") >= 0) to.w = Math.max(from.w + cols, 1);
      if (drag.resize.indexOf("h") >= 0) to.h = Math.max(from.h + rows, 1);
    }
    drag.to = to;
    this.show(to, this.refusal(drag.id, to));
  };

  // The outline at `place`, kept within the grid's columns and rows so it stays in view.
  Board.prototype.show = function (place, refusal) {
    var x = Math.min(Math.max(place.x, 0), COLUMNS - 1);
    var w = Math.max(Math.min(place.x + place.w, COLUMNS) - x, 1);
    var y = Math.max(place.y, 0);
    setPlace(this.outline, { x: x, y: y, w: w, h: Math.max(place.y + place.h - y, 1) });
    this.outline.classList.toggle("arrange-refused", refusal !== "");
    this.outline.querySelector(".arrange-outline-text").textContent =
      refusal ? "Refused: " + refusal : where(place);
    this.outline.hidden = false;
    this.draw(place.y + place.h);
  };

  Board.prototype.end = function (event, dropped) {
    var drag = this.drag;
    if (!drag || event.pointerId !== drag.pointer) return;
    this.drag = null;
    drag.box.classList.remove("arrange-moving");
    drag.box.style.transform = "";
    this.outline.hidden = true;
    if (dropped) {
      this.place(drag.id, drag.from, drag.to, drag.resize !== "");
    } else {
      this.draw();
    }
  };

  // Arrow keys on a focused box: one cell at a time; with Shift, one column or row
  // narrower, wider, lower or higher. Saved at once, as a drop is.
  var STEPS = {
    ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1],
  };

  Board.prototype.key = function (event) {
    var step = STEPS[event.key];
    var box = event.target.closest(".arrange-box");
    if (!step || !box || this.drag || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    var id = box.getAttribute("data-widget");
    var from = this.places()[id];
    if (!from || this.stale) return;
    var resize = event.shiftKey;
    var to = resize
      ? { x: from.x, y: from.y, w: from.w + step[0], h: from.h + step[1] }
      : { x: from.x + step[0], y: from.y + step[1], w: from.w, h: from.h };
    this.place(id, from, to, resize);
  };

  // A place chosen by a drop or a key: refused on screen, or written and saved.
  Board.prototype.place = function (id, from, to, resize) {
    var same = to.x === from.x && to.y === from.y && to.w === from.w && to.h === from.h;
    var refusal = to.w < 1 || to.h < 1 ? "too small" : this.refusal(id, to);
    var name = this.title(id);
    this.draw();
    if (same) return;
    if (refusal) {
      this.say(name + " was not " + (resize ? "resized" : "moved") + ": the place is " +
        refusal + ".");
      return;
    }
    var changed = {};
    changed[id] = to;
    this.write(changed);
    this.draw();
    this.change = name + (resize
      ? " resized to " + to.w + " columns wide, " + to.h + " rows high"
      : " moved to column " + to.x + ", row " + to.y);
    this.save();
  };

  Board.prototype.say = function (text) {
    this.status.textContent = text;
  };

  Board.prototype.refuse = function (text, stale) {
    this.alert.textContent = text;
    this.reload.hidden = !stale;
  };

  // The form as it is, posted by fetch; one save at a time, the next with its answer's version.
  Board.prototype.save = function () {
    if (this.saving) { this.pending = true; return; }
    var board = this;
    var change = this.change;
    this.saving = true;
    this.pending = false;
    this.refuse("", false);
    this.say("Saving…");
    fetch(this.form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(this.form)),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    }).then(function (response) {
      var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
      if (response.ok && !json) {
        // Sent on to the sign-in page: the session ended (or was signed out elsewhere).
        board.signedOut();
        return null;
      }
      if (response.ok) {
        return response.json().then(function (answer) {
          board.form.querySelector('input[name="version"]').value = answer.version;
          board.saved = board.places();
          board.say("Saved: " + change + ".");
        });
      }
      return response.text().then(function (page) { board.refused(response.status, page); });
    }).catch(function () {
      board.refused(0, "");
    }).then(function () {
      board.saving = false;
      if (board.pending && !board.stale) board.save();
    });
  };

  Board.prototype.signedOut = function () {
    this.pending = false;
    this.stale = true;
    this.say("");
    this.section.classList.add("arrange-stale");
    this.refuse("Your session has ended, so your last change was not saved: nothing was " +
      "changed. Sign in again to arrange this dashboard.", true);
  };

  Board.prototype.refused = function (status, page) {
    this.pending = false;
    this.say("");
    if (status === 412) {
      // Someone else saved a layout since this page was read: keep what the user made
      // on screen, say it is not saved, and offer the layout as it is now.
      this.stale = true;
      this.section.classList.add("arrange-stale");
      this.refuse("Someone else changed this dashboard's layout since you opened it, so " +
        "your last change was not saved: nothing was changed. Reload the layout to see " +
        "theirs, then make yours again.", true);
      return;
    }
    var reason = "the service could not be reached";
    if (page) {
      var shown = new DOMParser().parseFromString(page, "text/html");
      var parts = [];
      var lines = shown.querySelectorAll(".error, .problem-fields li");
      for (var i = 0; i < lines.length; i++) parts.push(lines[i].textContent.trim());
      reason = parts.join(" ") || "the answer was " + status;
    }
    this.write(this.saved);
    this.draw();
    this.refuse("Not saved, so put back as last saved: " + reason, false);
  };

  function setUp(root) {
    var sections = root.querySelectorAll(".arrange-board[data-form]");
    for (var i = 0; i < sections.length; i++) {
      if (sections[i].getAttribute("data-ready")) continue;
      sections[i].setAttribute("data-ready", "1");
      new Board(sections[i]);
    }
  }

  document.addEventListener("htmx:after:swap", function () { setUp(document); });
  setUp(document);
})();
