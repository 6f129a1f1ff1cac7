// Shopflow pages work without this file; it only makes them nicer:
// 1. a task form shows the fields of the decision chosen (the others are disabled, so they are
//    neither shown nor sent), 2. (times are shown in the business's time zone, SHOPFLOW_TIMEZONE,
//    by the server), 3. a "select all" box ticks the inbox's rows, 4. a live page (<main
//    data-live="<event stream>">: the inbox, a case) fetches itself again and swaps its <main> when the stream says it changed; never
//    while the reader is typing in it or has ticked rows (it waits until they are done);
//    a decision's result (<section data-keep id=…>) stays where it was made, and a page shown
//    after a form (<main data-here="url">) is fetched again from its own address.
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

  function enhance(root) {
    root.querySelectorAll("form[data-decision-form]").forEach(function (form) {
      followDecision(form);
      form.addEventListener("change", function (ev) {
        if (ev.target && ev.target.name === "decision") { followDecision(form); }
      });
    });
    root.querySelectorAll("input[data-select-all]").forEach(function (all) {
      var name = all.getAttribute("data-select-all");
      all.addEventListener("change", function () {
        document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
          box.checked = all.checked;
        });
      });
    });
  }

  function busy(main) {
    var el = document.activeElement;
    var typing = el && main.contains(el) && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) &&
      el.type !== "checkbox" && el.type !== "radio" && el.type !== "submit";
    return typing || main.querySelector("input[type=checkbox]:checked") !== null;
  }

  function live(main) {
    var pending = false, fetching = false;
    function refresh() {
      if (fetching) { pending = true; return; }
      if (busy(main)) { pending = true; setTimeout(retry, 2000); return; }
      pending = false;
      fetching = true;
      fetch(here, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null || busy(main)) { pending = true; return; }
          var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
          if (!fresh) { return; }
          var kept = Array.prototype.slice.call(main.querySelectorAll("[data-keep][id]"));
          main.innerHTML = fresh.innerHTML;
          kept.reverse().forEach(function (el) {
            var twin = main.querySelector("#" + CSS.escape(el.id));
            if (twin) { twin.replaceWith(el); } else { main.insertBefore(el, main.firstChild); }
          });
          main.setAttribute("data-refreshed", String(Date.now()));
          enhance(main);
        })
        .catch(function () { pending = true; })
        .then(function () { fetching = false; if (pending) { setTimeout(retry, 2000); } });
    }
    var here = main.getAttribute("data-here") || window.location.href;
    if (main.getAttribute("data-here") && window.history && window.history.replaceState) {
      window.history.replaceState(null, "", here);  // a reload shows the page, not the form
    }
    function retry() { if (pending) { refresh(); } }
    var source = new EventSource(main.getAttribute("data-live"));
    source.addEventListener("change", refresh);
    window.addEventListener("pagehide", function () { source.close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    var main = document.querySelector("main[data-live]");
    if (main && window.EventSource && window.fetch && window.DOMParser) { live(main); }
  });
})();
