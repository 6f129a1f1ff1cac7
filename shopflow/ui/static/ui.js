// Shopflow pages work without this file; it only makes them nicer:
// 1. a task form shows the fields of the decision chosen (the others are disabled, so they are
//    neither shown nor sent), 2. times show in the reader's own time zone, 3. a "select all"
//    box ticks the inbox's rows.
(function () {
  "use strict";

  function followDecision(form) {
    var chosen = form.querySelector('input[name="decision"]:checked');
    var value = chosen ? chosen.value : null;
    form.querySelectorAll("fieldset[data-decision]").forEach(function (fs) {
      var on = fs.getAttribute("data-decision") === value;
      fs.hidden = !on;
      fs.disabled = !on;
    });
  }

  function localTimes() {
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) { return; }
      el.title = el.textContent;
      var pad = function (n) { return String(n).padStart(2, "0"); };
      el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
        " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-decision-form]").forEach(function (form) {
      followDecision(form);
      form.addEventListener("change", function (ev) {
        if (ev.target && ev.target.name === "decision") { followDecision(form); }
      });
    });
    document.querySelectorAll("input[data-select-all]").forEach(function (all) {
      var name = all.getAttribute("data-select-all");
      all.addEventListener("change", function () {
        document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
          box.checked = all.checked;
        });
      });
    });
    localTimes();
  });
})();
