// da web UI behaviour, no framework: toasts, copy buttons, the mobile navigation drawer and
// keyboard shortcuts ("/" search, "g d" / "g c" / "g q" navigation, "?" help).
(function () {
  "use strict";
  var d = document;
  var TOAST_MS = 8000;

  function isTyping(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function withOrigin(s) {
    return String(s).split("{origin}").join(window.location.origin);
  }

  // Toasts: dismiss on click, hide by themselves after a while unless hovered.
  function dismissToast(t) {
    if (!t || t.dataset.leaving) return;
    t.dataset.leaving = "1";
    t.style.opacity = "0";
    t.style.transform = "translateY(0.5rem)";
    setTimeout(function () { t.remove(); }, 300);
  }

  function armToast(t) {
    if (t.dataset.armed) return;
    t.dataset.armed = "1";
    var timer = setTimeout(function () { dismissToast(t); }, TOAST_MS);
    t.addEventListener("mouseenter", function () { clearTimeout(timer); });
    t.addEventListener("mouseleave", function () {
      timer = setTimeout(function () { dismissToast(t); }, TOAST_MS / 2);
    });
  }

  function showErrorToast(message) {
    var box = d.getElementById("toasts");
    if (!box) return;
    var t = d.createElement("div");
    t.setAttribute("role", "alert");
    t.setAttribute("data-toast", "");
    t.setAttribute("data-testid", "toast-error");
    t.className = "pointer-events-auto flex w-full items-start gap-3 rounded-xl border border-red-200 bg-white p-4 text-sm font-medium text-red-800 shadow-lg transition duration-300 sm:w-96";
    var p = d.createElement("p");
    p.className = "min-w-0 flex-1";
    p.textContent = message;
    var b = d.createElement("button");
    b.type = "button";
    b.setAttribute("data-toast-dismiss", "");
    b.setAttribute("aria-label", "Dismiss notification");
    b.className = "rounded-md px-1 text-red-400 hover:text-red-600";
    b.textContent = "\u00d7";
    t.appendChild(p);
    t.appendChild(b);
    box.appendChild(t);
    armToast(t);
  }

  // Copy to clipboard, with a fallback for plain-http origins where navigator.clipboard is absent.
  function fallbackCopy(text) {
    var ta = d.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    d.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = d.execCommand("copy"); } catch (e) { ok = false; }
    ta.remove();
    return ok;
  }

  function copied(btn) {
    var idle = btn.querySelector("[data-copy-idle]");
    var done = btn.querySelector("[data-copy-done]");
    btn.setAttribute("data-copied", "");
    if (idle && done) { idle.classList.add("hidden"); done.classList.remove("hidden"); }
    setTimeout(function () {
      btn.removeAttribute("data-copied");
      if (idle && done) { idle.classList.remove("hidden"); done.classList.add("hidden"); }
    }, 1500);
  }

  function copy(btn) {
    var text = withOrigin(btn.getAttribute("data-copy") || "");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(btn); }, function () {
        if (fallbackCopy(text)) copied(btn);
      });
    } else if (fallbackCopy(text)) {
      copied(btn);
    }
  }

  // Mobile navigation drawer (the same <aside> is the fixed sidebar from lg up).
  function setNav(open) {
    var nav = d.getElementById("sidebar");
    var backdrop = d.querySelector("[data-nav-backdrop]");
    var toggle = d.querySelector("[data-nav-toggle]");
    if (!nav) return;
    nav.classList.toggle("hidden", !open);
    nav.classList.toggle("flex", open);
    if (backdrop) backdrop.classList.toggle("hidden", !open);
    if (toggle) toggle.setAttribute("aria-expanded", open ? "true" : "false");
    d.body.style.overflow = open ? "hidden" : "";
    if (open) {
      var first = nav.querySelector("nav a");
      if (first) first.focus();
    } else if (toggle && nav.contains(d.activeElement)) {
      toggle.focus();
    }
  }

  function navOpen() {
    var toggle = d.querySelector("[data-nav-toggle]");
    return !!toggle && toggle.getAttribute("aria-expanded") === "true";
  }

  function openShortcuts() {
    var dlg = d.getElementById("shortcuts");
    if (dlg && !dlg.open && dlg.showModal) dlg.showModal();
  }

  d.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target : e.target.parentElement;
    if (!el) return;
    var hit;
    if ((hit = el.closest("[data-toast-dismiss]"))) { dismissToast(hit.closest("[data-toast]")); return; }
    if ((hit = el.closest("[data-copy]"))) { copy(hit); return; }
    if (el.closest("[data-nav-toggle]")) { setNav(!navOpen()); return; }
    if (el.closest("[data-nav-close]") || el.closest("[data-nav-backdrop]")) { setNav(false); return; }
    if (el.closest("[data-shortcuts-open]")) { openShortcuts(); return; }
    var dlg = d.getElementById("shortcuts");
    if (dlg && e.target === dlg) dlg.close(); // click on the backdrop
  });

  // Keyboard shortcuts. "g" starts a two-key sequence that must finish within 1.2 s.
  var gAt = 0;
  var goKeys = { d: "dashboard", c: "catalog", q: "query" };
  d.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape" && navOpen()) { setNav(false); return; }
    if (isTyping(e.target)) return;
    var dlg = d.getElementById("shortcuts");
    if (dlg && dlg.open) return;
    if (e.key === "/") {
      var box = d.querySelector("input[data-search], textarea[data-search], [data-search] input");
      if (box) { e.preventDefault(); box.focus(); if (box.select) box.select(); }
      gAt = 0;
      return;
    }
    if (e.key === "?") { e.preventDefault(); openShortcuts(); gAt = 0; return; }
    if (gAt && Date.now() - gAt < 1200) {
      gAt = 0;
      var key = goKeys[e.key];
      var link = key && d.querySelector('a[data-testid="nav-' + key + '"]');
      if (link) { e.preventDefault(); window.location.assign(link.href); }
      return;
    }
    gAt = e.key === "g" ? Date.now() : 0;
  });

  // Per-content setup, for the first page and for every htmx swap.
  function init(root) {
    var i, list;
    list = root.querySelectorAll("[data-origin-template]");
    for (i = 0; i < list.length; i++) list[i].textContent = withOrigin(list[i].getAttribute("data-origin-template"));
    list = root.querySelectorAll("[data-toast]");
    for (i = 0; i < list.length; i++) armToast(list[i]);
    if (root.matches && root.matches("[data-toast]")) armToast(root);
  }

  init(d);
  d.addEventListener("htmx:load", function (e) { if (e.target && e.target.querySelectorAll) init(e.target); });
  d.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail && e.detail.xhr;
    var status = xhr ? xhr.status : 0;
    if (status === 401) { window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname)); return; }
    showErrorToast(status === 403 ? "You don't have permission to do that." : "Something went wrong (" + status + "). Please try again.");
  });
  d.addEventListener("htmx:sendError", function () { showErrorToast("Cannot reach the server. Check your connection and try again."); });
})();
