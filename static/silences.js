// The new-silence form's "Add a matcher" button. The form works without this
// script (it has a blank row more than it was filled with, and empty rows are
// ignored); with it, the button appends one more blank row, numbered as the
// server numbers them (matcher_name_N, …), up to the API's limit.
"use strict";

(function () {
  function reveal(root) {
    var buttons = root.querySelectorAll("[data-add-matcher][hidden]");
    for (var i = 0; i < buttons.length; i++) buttons[i].hidden = false;
  }

  function renumber(element, attribute, number) {
    var value = element.getAttribute(attribute);
    if (value) element.setAttribute(attribute, value.replace(/\d+$/, String(number)));
  }

  function addRow(button) {
    var group = button.closest("fieldset");
    var rows = group.querySelectorAll("[data-matcher-row]");
    var limit = Number(button.getAttribute("data-max"));
    var number = rows.length;
    if (number >= limit) return;
    var last = rows[rows.length - 1];
    var row = last.cloneNode(true);
    var stale = row.querySelectorAll(".field-error");
    for (var i = 0; i < stale.length; i++) stale[i].remove();
    var fields = row.querySelectorAll("input, select");
    for (var j = 0; j < fields.length; j++) {
      fields[j].removeAttribute("aria-invalid");
      fields[j].removeAttribute("aria-describedby");
      renumber(fields[j], "id", number);
      renumber(fields[j], "name", number);
      if (fields[j].tagName === "SELECT") fields[j].selectedIndex = 0;
      else fields[j].value = "";
    }
    var labels = row.querySelectorAll("label");
    for (var k = 0; k < labels.length; k++) {
      renumber(labels[k], "for", number);
      labels[k].textContent = labels[k].textContent.replace(/\d+/, String(number + 1));
    }
    last.after(row);
    row.querySelector("input").focus();
    if (number + 1 >= limit) button.disabled = true;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-add-matcher]") : null;
    if (button) addRow(button);
  });
  reveal(document);
  document.addEventListener("htmx:after:swap", function () {
    reveal(document);
  });
})();
