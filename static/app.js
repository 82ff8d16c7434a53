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

  // A form re-rendered with errors arrives at its action URL (POST /admin/tables/register);
  // the page names its own address so that a reload or a shared link shows the page.
  var pageURL = d.querySelector("[data-page-url]");
  if (pageURL && window.history && history.replaceState) {
    var want = pageURL.getAttribute("data-page-url");
    if (want && window.location.pathname + window.location.search !== want) history.replaceState(null, "", want + window.location.hash);
  }

  init(d);
  d.addEventListener("htmx:load", function (e) { if (e.target && e.target.querySelectorAll) init(e.target); });
  d.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail && e.detail.xhr;
    var status = xhr ? xhr.status : 0;
    if (status === 401) { window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname)); return; }
    if (status === 507) { showErrorToast("The server's disk is full, so nothing was saved. Ask an administrator to free disk space, then try again."); return; }
    showErrorToast(status === 403 ? "You don't have permission to do that." : "Something went wrong (" + status + "). Please try again.");
  });
  d.addEventListener("htmx:sendError", function () { showErrorToast("Cannot reach the server. Check your connection and try again."); });
})();

// Upload page: drag-and-drop, file-type detection, a client-side preview of the first rows,
// a table name suggested from the file name, and the progress bar of the htmx upload.
(function () {
  "use strict";
  var d = document;
  var chosen = null; // the File the user picked; re-attached when the form is re-rendered
  var KINDS = { csv: "CSV", tsv: "TSV", json: "JSON", jsonl: "JSON lines", ndjson: "JSON lines", parquet: "Parquet" };

  function extOf(name) {
    var m = /\.([A-Za-z0-9]+)$/.exec(name || "");
    return m ? m[1].toLowerCase() : "";
  }
  function sizeLabel(n) {
    if (n >= 1073741824) return (n / 1073741824).toFixed(1) + " GB";
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MB";
    if (n >= 1024) return (n / 1024).toFixed(1) + " KB";
    return n + " bytes";
  }
  function suggestName(file) {
    var base = file.replace(/\.[^.]*$/, "").toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^_+|_+$/g, "");
    if (!base) base = "table";
    if (/^[0-9]/.test(base)) base = "t_" + base;
    return base.slice(0, 64);
  }
  // splitLine splits one delimited line, honouring double quotes.
  function splitLine(line, sep) {
    var out = [], cur = "", q = false;
    for (var i = 0; i < line.length; i++) {
      var ch = line[i];
      if (q) {
        if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; }
        else if (ch === '"') q = false;
        else cur += ch;
      } else if (ch === '"') q = true;
      else if (ch === sep) { out.push(cur); cur = ""; }
      else cur += ch;
    }
    out.push(cur);
    return out;
  }
  // guessType names the type a column's sample values suggest, as the server's reader
  // would detect it: the first that fits every non-empty value.
  function guessType(values) {
    var vs = values.filter(function (v) { return v !== null && v !== undefined && String(v).trim() !== ""; });
    if (!vs.length) return "empty";
    function all(re) { return vs.every(function (v) { return typeof v !== "object" && re.test(String(v).trim()); }); }
    if (vs.every(function (v) { return typeof v === "boolean"; }) || all(/^(true|false)$/i)) return "boolean";
    if (all(/^[-+]?\d+$/)) return "integer";
    if (all(/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/)) return "decimal";
    if (all(/^\d{4}-\d{2}-\d{2}$/)) return "date";
    if (all(/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/)) return "timestamp";
    if (vs.some(function (v) { return typeof v === "object"; })) return "nested";
    return "text";
  }
  function previewTable(head, rows) {
    var t = d.createElement("table");
    t.className = "min-w-full text-xs";
    var tr = d.createElement("tr");
    tr.className = "bg-slate-50 text-left font-semibold text-slate-600";
    head.forEach(function (h) { var th = d.createElement("th"); th.className = "whitespace-nowrap px-3 pt-1.5"; th.textContent = h; tr.appendChild(th); });
    t.appendChild(tr);
    var types = d.createElement("tr");
    types.className = "bg-slate-50 text-left";
    types.setAttribute("data-testid", "upload-preview-types");
    head.forEach(function (_, i) {
      var th = d.createElement("th");
      th.className = "whitespace-nowrap px-3 pb-1.5 font-mono text-[10px] font-medium uppercase text-indigo-600";
      th.setAttribute("data-testid", "upload-preview-type");
      th.textContent = guessType(rows.map(function (r) { return r[i]; }));
      types.appendChild(th);
    });
    t.appendChild(types);
    rows.forEach(function (r) {
      var row = d.createElement("tr");
      row.className = "border-t border-slate-100 text-slate-700";
      head.forEach(function (_, i) { var td = d.createElement("td"); td.className = "whitespace-nowrap px-3 py-1.5"; td.textContent = r[i] == null ? "" : String(r[i]); row.appendChild(td); });
      t.appendChild(row);
    });
    return t;
  }
  function showPreview(form, file, kind) {
    var box = form.querySelector("[data-upload-preview]");
    var warn = form.querySelector("[data-upload-warning]");
    box.innerHTML = ""; box.classList.add("hidden");
    warn.textContent = ""; warn.classList.add("hidden");
    block(form, false);
    // A file the server would refuse is refused here already: the warning says why and
    // Upload stays disabled until another file is chosen.
    function warnWith(msg) { warn.textContent = msg; warn.classList.remove("hidden"); block(form, true); }
    if (!kind) { warnWith("Unsupported file type: use .csv, .tsv, .json, .jsonl, .ndjson or .parquet."); return; }
    var max = parseInt(form.getAttribute("data-max-bytes"), 10);
    if (max && file.size > max) { warnWith("This file is larger than the " + sizeLabel(max) + " limit."); return; }
    if (file.size === 0) { warnWith("This file is empty."); return; }
    if (kind === "Parquet") return;
    file.slice(0, 65536).text().then(function (text) {
      if (text.indexOf("\u0000") >= 0) { warnWith("This does not look like a text file."); return; }
      var lines = text.split(/\r?\n/).filter(function (l) { return l.trim() !== ""; });
      if (file.size > 65536 && lines.length > 1) lines.pop(); // the last line may be cut off
      var head, rows;
      if (kind === "JSON lines") {
        var objs = [];
        for (var i = 0; i < lines.length && objs.length < 5; i++) { try { objs.push(JSON.parse(lines[i])); } catch (e) { warnWith("Line " + (i + 1) + " is not valid JSON."); return; } }
        head = [];
        objs.forEach(function (o) { Object.keys(o || {}).forEach(function (k) { if (head.indexOf(k) < 0) head.push(k); }); });
        rows = objs.map(function (o) { return head.map(function (k) { var v = o[k]; return v !== null && typeof v === "object" ? JSON.stringify(v) : v; }); });
      } else {
        var sep = kind === "TSV" ? "\t" : (lines[0] && lines[0].split(";").length > lines[0].split(",").length ? ";" : ",");
        head = splitLine(lines[0] || "", sep);
        rows = lines.slice(1, 6).map(function (l) { return splitLine(l, sep); });
        if (!lines.length) { warnWith("This file holds only blank lines."); return; }
        if (lines.length === 1) { warnWith("This file has a header line but no rows."); return; }
      }
      if (kind === "JSON lines" && !rows.length) { warnWith("This file holds no JSON objects."); return; }
      if (!head.length) return;
      box.appendChild(previewTable(head, rows));
      box.classList.remove("hidden");
    });
  }
  function block(form, on) {
    var b = form.querySelector("[data-upload-submit]");
    if (!b) return;
    b.disabled = on;
    b.classList.toggle("opacity-50", on);
    b.classList.toggle("cursor-not-allowed", on);
  }
  function choose(form, file) {
    chosen = file;
    var ext = extOf(file.name), kind = KINDS[ext] || "";
    form.querySelector("[data-upload-chosen]").classList.remove("hidden");
    form.querySelector("[data-upload-filename]").textContent = file.name;
    form.querySelector("[data-upload-kind]").textContent = kind || "Unsupported type";
    form.querySelector("[data-upload-size]").textContent = sizeLabel(file.size);
    var name = form.querySelector("[data-upload-name]");
    if (name && (!name.value || name.dataset.suggested === name.value)) { name.value = suggestName(file.name); name.dataset.suggested = name.value; }
    showPreview(form, file, kind);
  }
  function setFile(input, file) {
    try { var dt = new DataTransfer(); dt.items.add(file); input.files = dt.files; } catch (e) { /* old browsers: keep the picked file */ }
  }
  function wire(form) {
    if (form.dataset.wired) return;
    form.dataset.wired = "1";
    var input = form.querySelector("[data-upload-input]");
    var zone = form.querySelector("[data-dropzone]");
    input.addEventListener("change", function () { if (input.files && input.files[0]) choose(form, input.files[0]); });
    ["dragenter", "dragover"].forEach(function (ev) {
      zone.addEventListener(ev, function (e) { e.preventDefault(); zone.setAttribute("data-dragging", ""); });
    });
    ["dragleave", "drop"].forEach(function (ev) {
      zone.addEventListener(ev, function (e) { e.preventDefault(); zone.removeAttribute("data-dragging"); });
    });
    zone.addEventListener("drop", function (e) {
      var f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
      if (!f) return;
      setFile(input, f);
      choose(form, f);
    });
    form.querySelector("[data-upload-clear]").addEventListener("click", function () {
      chosen = null; input.value = "";
      form.querySelector("[data-upload-chosen]").classList.add("hidden");
      block(form, false);
    });
    if (chosen) { setFile(input, chosen); choose(form, chosen); } // re-rendered after an error
  }
  function progress(form, pct, stage) {
    var box = form.querySelector("[data-upload-progress]");
    if (!box) return;
    box.classList.remove("hidden");
    form.querySelector("[data-upload-bar]").style.width = pct + "%";
    form.querySelector("[data-upload-percent]").textContent = Math.round(pct) + "%";
    box.querySelector("[role=progressbar]").setAttribute("aria-valuenow", String(Math.round(pct)));
    if (stage) form.querySelector("[data-upload-stage]").textContent = stage;
  }
  function scan(root) {
    var forms = (root.matches && root.matches("[data-upload-form]")) ? [root] : root.querySelectorAll("[data-upload-form]");
    for (var i = 0; i < forms.length; i++) wire(forms[i]);
  }
  scan(d);
  d.addEventListener("htmx:load", function (e) { if (e.target && e.target.querySelectorAll) scan(e.target); });
  d.addEventListener("htmx:beforeRequest", function (e) {
    var f = e.target.closest && e.target.closest("[data-upload-form]");
    if (f) progress(f, 0, "Uploading…");
  });
  d.addEventListener("htmx:xhr:progress", function (e) {
    var f = e.target.closest && e.target.closest("[data-upload-form]");
    if (!f || !e.detail.lengthComputable) return;
    var pct = e.detail.total ? (100 * e.detail.loaded) / e.detail.total : 0;
    progress(f, pct, pct >= 100 ? "Processing: converting, publishing and profiling…" : "Uploading…");
  });
  d.addEventListener("htmx:afterRequest", function (e) {
    var f = e.target.closest && e.target.closest("[data-upload-form]");
    if (f && e.detail.successful) chosen = null;
  });
})();

// Batch selection (memory admin): a [data-check-all="<scope>"] box checks every
// [data-check-item="<scope>"] box, and [data-check-count="<scope>"] shows how many are checked.
(function () {
  "use strict";
  var d = document;
  function q(attr, scope) {
    var v = window.CSS && CSS.escape ? CSS.escape(scope) : scope;
    return d.querySelectorAll("[" + attr + '="' + v + '"]');
  }
  function sync(scope) {
    var items = q("data-check-item", scope), n = 0, i;
    for (i = 0; i < items.length; i++) if (items[i].checked) n++;
    var counts = q("data-check-count", scope);
    for (i = 0; i < counts.length; i++) counts[i].textContent = String(n);
    var alls = q("data-check-all", scope);
    for (i = 0; i < alls.length; i++) {
      alls[i].checked = n > 0 && n === items.length;
      alls[i].indeterminate = n > 0 && n < items.length;
    }
  }
  d.addEventListener("change", function (e) {
    var t = e.target;
    if (!t || !t.getAttribute) return;
    var scope = t.getAttribute("data-check-all");
    if (scope) {
      var items = q("data-check-item", scope);
      for (var i = 0; i < items.length; i++) items[i].checked = t.checked;
      sync(scope);
      return;
    }
    scope = t.getAttribute("data-check-item");
    if (scope) sync(scope);
  });
  function scan() {
    var seen = {}, list = d.querySelectorAll("[data-check-all]");
    for (var i = 0; i < list.length; i++) {
      var s = list[i].getAttribute("data-check-all");
      if (!seen[s]) { seen[s] = true; sync(s); }
    }
  }
  d.addEventListener("DOMContentLoaded", scan);
  d.addEventListener("htmx:afterSettle", scan);
})();
