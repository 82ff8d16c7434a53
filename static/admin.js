// Governance pages: open and close <dialog> modals (data-modal-open / data-modal-close), open
// dialogs that arrive in htmx fragments (data-autoopen), close a modal whose form was sent,
// and filter lists client-side (data-filter-input / data-filter-item).
(function () {
  "use strict";
  var d = document;

  function openModal(dlg) {
    if (dlg && !dlg.open && dlg.showModal) dlg.showModal();
  }

  d.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target : e.target.parentElement;
    if (!el) return;
    var hit = el.closest("[data-modal-open]");
    if (hit) { openModal(d.getElementById(hit.getAttribute("data-modal-open"))); return; }
    hit = el.closest("[data-modal-close]");
    if (hit) {
      var dlg = hit.closest("dialog");
      if (dlg) { e.preventDefault(); dlg.close(); }
      return;
    }
    if (e.target.matches && e.target.matches("dialog[data-modal]")) e.target.close(); // backdrop
  });

  // A modal whose form was sent by htmx closes as soon as the request goes out; the row it
  // belongs to is swapped when the answer comes.
  d.addEventListener("htmx:beforeRequest", function (e) {
    var dlg = e.target && e.target.closest && e.target.closest("dialog[data-modal]");
    if (dlg && dlg.open && !dlg.hasAttribute("data-autoopen")) dlg.close();
  });

  function init(root) {
    var list = root.querySelectorAll ? root.querySelectorAll("dialog[data-autoopen]") : [];
    for (var i = 0; i < list.length; i++) openModal(list[i]);
    if (root.matches && root.matches("dialog[data-autoopen]")) openModal(root);
  }

  // Client-side list filters: hide items whose data-filter-item text lacks the query.
  d.addEventListener("input", function (e) {
    var box = e.target;
    if (!box.matches || !box.matches("[data-filter-input]")) return;
    var q = box.value.trim().toLowerCase();
    var scope = d.getElementById(box.getAttribute("data-filter-input"));
    if (!scope) return;
    var items = scope.querySelectorAll("[data-filter-item]");
    for (var i = 0; i < items.length; i++) {
      var hay = (items[i].getAttribute("data-filter-item") || "").toLowerCase();
      items[i].classList.toggle("hidden", q !== "" && hay.indexOf(q) < 0);
    }
  });

  d.addEventListener("DOMContentLoaded", function () { init(d); });
  d.addEventListener("htmx:load", function (e) { if (e.target) init(e.target); });
})();
