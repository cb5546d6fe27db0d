// The channel form's kind switch. Without this script a new channel's kind is
// chosen on a page of its own and the form shows that kind's inputs only; with
// it, the form's Kind select is shown and switching it shows the chosen kind's
// inputs (each marked data-kinds) and hides the others. The server reads only
// the chosen kind's inputs (channel_form.py), so hidden ones are never sent on.
"use strict";

(function () {
  function showKind(form, kind) {
    var fields = form.querySelectorAll("[data-kinds]");
    for (var i = 0; i < fields.length; i++) {
      fields[i].hidden = fields[i].getAttribute("data-kinds").split(" ").indexOf(kind) < 0;
    }
  }

  function enable(root) {
    var forms = root.querySelectorAll("form[data-channel-form]");
    for (var i = 0; i < forms.length; i++) {
      var form = forms[i];
      var select = form.querySelector("select[data-kind-switch]");
      if (!select || !select.disabled) continue;
      var switches = form.querySelectorAll("[data-kind-switch]");
      for (var j = 0; j < switches.length; j++) switches[j].hidden = false;
      select.disabled = false;
      var fixed = form.querySelector("[data-kind-fixed]");
      if (fixed) fixed.disabled = true;
      var link = form.querySelector("[data-kind-link]");
      if (link) link.hidden = true;
      showKind(form, select.value);
    }
  }

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-kind-switch]")) {
      showKind(select.form, select.value);
    }
  });
  enable(document);
  document.addEventListener("htmx:after:swap", function () {
    enable(document);
  });
})();
