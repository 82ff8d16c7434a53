// Query console (views/query.templ): SQL highlighting overlay, run/cancel with a live timer,
// schema browser, history/saved actions, result tabs, keyboard shortcuts, last query kept in
// localStorage, and the admin running-queries poll. Does nothing on other pages.
(function () {
  "use strict";

  var KEYWORDS = ("select from where group by order limit offset having with as and or not in is null like ilike " +
    "between case when then else end join left right inner outer full cross on using union all distinct except " +
    "intersect asc desc nulls first last true false cast over partition window filter qualify summarize describe " +
    "values exists any some interval date timestamp lateral recursive pivot unpivot").split(" ");
  var KW = {};
  KEYWORDS.forEach(function (k) { KW[k] = true; });
  var STORE_KEY = "da.query.sql";

  function esc(s) {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // highlight tokenises SQL into spans: comments, strings, numbers, keywords, function names.
  function highlight(src) {
    var out = "", i = 0, n = src.length, m;
    var re = /--[^\n]*|\/\*[\s\S]*?(?:\*\/|$)|'(?:[^']|'')*'?|"(?:[^"]|"")*"?|\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b|[A-Za-z_][A-Za-z0-9_]*/gi;
    re.lastIndex = 0;
    while ((m = re.exec(src)) !== null) {
      out += esc(src.slice(i, m.index));
      var t = m[0], cls = "";
      if (t.charAt(0) === "-" || t.charAt(0) === "/") cls = "tok-com";
      else if (t.charAt(0) === "'") cls = "tok-str";
      else if (t.charAt(0) === '"') cls = "";
      else if (/^\d/.test(t)) cls = "tok-num";
      else if (KW[t.toLowerCase()]) cls = "tok-kw";
      else if (src.charAt(re.lastIndex) === "(") cls = "tok-fn";
      out += cls ? '<span class="' + cls + '">' + esc(t) + "</span>" : esc(t);
      i = re.lastIndex;
    }
    out += esc(src.slice(i));
    return out + "\n"; // keeps the overlay as tall as the textarea's last line
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "q-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
  }

  function csrf() {
    var h = document.body.getAttribute("hx-headers");
    try { return JSON.parse(h)["X-CSRF-Token"] || ""; } catch (e) { return ""; }
  }

  function init() {
    var root = document.querySelector("[data-console]");
    if (!root) return;
    var editor = root.querySelector("#sql-editor");
    var code = root.querySelector("[data-highlight]");
    var pre = code.parentNode;
    var wrap = root.querySelector("[data-editor-wrap]");
    var form = root.querySelector("[data-run-form]");
    var qidInput = form.querySelector("[data-query-id]");
    var runBtn = root.querySelector("[data-run]");
    var running = root.querySelector("[data-running]");
    var secs = root.querySelector("[data-running-seconds]");
    var cancelBtn = root.querySelector("[data-cancel]");
    var result = root.querySelector("#query-result");
    var exportForm = root.querySelector("[data-export-form]");
    var exportSQL = root.querySelector("[data-export-sql]");
    var current = null; // {id, timer, started}
    var rp = root.querySelector("[data-running-panel]"); // admins only
    function refreshRunning() {
      if (!document.hidden) htmx.ajax("GET", "/query/running", { target: "#running-list", swap: "innerHTML" });
    }

    wrap.classList.remove("no-js");

    function sync() {
      code.innerHTML = highlight(editor.value);
      pre.scrollTop = editor.scrollTop;
      pre.style.height = editor.offsetHeight + "px";
      try { localStorage.setItem(STORE_KEY, editor.value); } catch (e) { /* private mode */ }
    }
    editor.addEventListener("input", sync);
    editor.addEventListener("scroll", function () { pre.scrollTop = editor.scrollTop; });
    if (window.ResizeObserver) new ResizeObserver(function () { pre.style.height = editor.offsetHeight + "px"; }).observe(editor);

    // Initial SQL: ?table= / ?saved= first, else the last query of this browser.
    var initial = root.getAttribute("data-initial-sql");
    if (!root.getAttribute("data-initial-source")) {
      try { initial = localStorage.getItem(STORE_KEY) || ""; } catch (e) { initial = ""; }
    }
    editor.value = initial || "";
    sync();

    function setSQL(sql) {
      editor.value = sql;
      sync();
      editor.focus();
    }

    function insertAtCursor(text) {
      var s = editor.selectionStart, e = editor.selectionEnd, v = editor.value;
      var before = v.slice(0, s);
      if (before && !/[\s(,.]$/.test(before)) text = " " + text;
      editor.value = before + text + v.slice(e);
      editor.selectionStart = editor.selectionEnd = s + text.length;
      sync();
      editor.focus();
    }

    function setRunning(on) {
      running.classList.toggle("hidden", !on);
      running.classList.toggle("flex", on);
      runBtn.disabled = on;
      runBtn.classList.toggle("opacity-50", on);
    }

    var EMPTY = "Query error: the query is empty; write one SELECT statement.";
    var ALERT_SVG = '<svg class="mt-0.5 h-4 w-4 shrink-0" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.75" ' +
      'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z"></path>' +
      '<path d="M12 9v4"></path><path d="M12 17h.01"></path></svg>';

    // showError replaces the result area with an inline error, as a failed Run shows it.
    function showError(msg) {
      var box = document.createElement("div");
      box.setAttribute("role", "alert");
      box.setAttribute("data-testid", "query-error");
      box.setAttribute("data-kind", "invalid");
      box.className = "flex items-start gap-3 rounded-xl border border-red-200 bg-red-50 p-4 text-sm text-red-800";
      box.innerHTML = ALERT_SVG;
      var pre = document.createElement("pre");
      pre.className = "min-w-0 flex-1 whitespace-pre-wrap break-words font-mono text-[13px]";
      pre.textContent = msg;
      box.appendChild(pre);
      var wrapper = document.createElement("div");
      wrapper.setAttribute("data-testid", "result");
      wrapper.className = "min-w-0";
      wrapper.appendChild(box);
      result.innerHTML = "";
      result.appendChild(wrapper);
    }

    function run(sql) {
      if (current) return;
      if (typeof sql === "string") setSQL(sql);
      if (!editor.value.trim()) { showError(EMPTY); editor.focus(); return; }
      var id = uuid();
      qidInput.value = id;
      var started = Date.now();
      current = { id: id, started: started, timer: setInterval(function () {
        secs.textContent = ((Date.now() - started) / 1000).toFixed(1);
      }, 100) };
      secs.textContent = "0.0";
      setRunning(true);
      var done = function () {
        clearInterval(current.timer);
        current = null;
        setRunning(false);
        if (rp && rp.open) refreshRunning();
      };
      htmx.ajax("POST", "/query/run", { source: form, target: "#query-result", swap: "innerHTML" }).then(done, done);
    }

    function cancel() {
      if (!current) return;
      var id = current.id;
      cancelBtn.disabled = true;
      fetch("/api/query/" + encodeURIComponent(id) + "/cancel", {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" }, body: "{}"
      }).finally(function () { cancelBtn.disabled = false; });
    }

    runBtn.addEventListener("click", function () { run(); });
    cancelBtn.addEventListener("click", cancel);

    // Export: the statement is checked (bound, not run) first. A valid one is downloaded
    // by the form post and the console stays; an invalid one shows the same inline error a
    // Run shows, instead of leaving the page for the API's JSON answer.
    var exportFormat = "";
    exportForm.addEventListener("click", function (ev) {
      var b = ev.target.closest("button[name=format]");
      if (b) exportFormat = b.value;
    });
    exportForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!editor.value.trim()) { showError(EMPTY); editor.focus(); return; }
      exportSQL.value = editor.value;
      var format = (ev.submitter && ev.submitter.value) || exportFormat || "csv";
      var body = new URLSearchParams();
      body.set("sql", editor.value);
      body.set("check", "1");
      body.set("_csrf", exportForm.querySelector("input[name=_csrf]").value);
      fetch("/query/run", {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf(), "HX-Request": "true" }, body: body
      }).then(function (resp) {
        if (resp.status === 204) {
          var f = exportForm.querySelector("input[name=format][type=hidden]");
          if (!f) {
            f = document.createElement("input");
            f.type = "hidden";
            f.name = "format";
            exportForm.appendChild(f);
          }
          f.value = format;
          exportForm.submit(); // no submit event: goes straight to the download
          f.remove();
          return;
        }
        return resp.text().then(function (html) {
          if (resp.ok) htmx.swap(result, html, { swapStyle: "innerHTML" });
          else showError("Query error: the export could not be checked (" + resp.status + ")");
        });
      }, function () { showError("Query error: the server could not be reached"); });
    });

    // A change of the chart controls is remembered in the SQL itself, as a last line
    // "-- da-chart: {...}" that the next run (and a saved query) draws the chart from.
    var CHART_LINE = /\n?[ \t]*--[ \t]*da-chart:[^\n]*/g;
    document.body.addEventListener("htmx:afterSwap", function (ev) {
      var area = result.querySelector("#chart-area[data-chart-chosen]");
      if (!area) return;
      area.removeAttribute("data-chart-chosen");
      var line = area.getAttribute("data-chart-comment");
      if (!line) return;
      var sql = editor.value.replace(CHART_LINE, "").replace(/\s+$/, "");
      editor.value = sql + "\n" + line;
      sync();
    });

    // Result tabs (the fragment is replaced on every run, so delegate).
    result.addEventListener("click", function (ev) {
      var tab = ev.target.closest("[data-tab]");
      if (!tab) return;
      var name = tab.getAttribute("data-tab");
      result.querySelectorAll("[data-tab]").forEach(function (b) {
        var on = b === tab;
        b.setAttribute("aria-selected", on ? "true" : "false");
        b.classList.toggle("bg-white", on);
        b.classList.toggle("shadow-sm", on);
        b.classList.toggle("text-slate-900", on);
        b.classList.toggle("text-slate-500", !on);
      });
      result.querySelectorAll("[data-panel]").forEach(function (p) {
        p.classList.toggle("hidden", p.getAttribute("data-panel") !== name);
      });
    });

    // Schema browser: insert names, expand columns, filter.
    var schema = root.querySelector("[data-testid=schema-browser]");
    schema.addEventListener("click", function (ev) {
      var ins = ev.target.closest("[data-insert]");
      if (ins) { insertAtCursor(ins.getAttribute("data-insert")); return; }
      var tog = ev.target.closest("[data-schema-toggle]");
      if (tog) {
        var cols = tog.closest("[data-schema-table]").querySelector("[data-schema-columns]");
        var open = cols.classList.toggle("hidden") === false;
        tog.setAttribute("aria-expanded", open ? "true" : "false");
        tog.querySelector("svg").classList.toggle("rotate-90", open);
      }
    });
    var search = root.querySelector("#schema-search");
    if (search) {
      search.addEventListener("input", function () {
        var q = search.value.trim().toLowerCase(), any = false;
        root.querySelectorAll("[data-schema-table]").forEach(function (li) {
          var tableHit = li.getAttribute("data-schema-table").indexOf(q) >= 0;
          var colHit = false;
          li.querySelectorAll("[data-schema-column]").forEach(function (c) {
            var hit = !q || tableHit || c.getAttribute("data-schema-column").indexOf(q) >= 0;
            c.classList.toggle("hidden", !hit);
            if (q && c.getAttribute("data-schema-column").indexOf(q) >= 0) colHit = true;
          });
          var show = !q || tableHit || colHit;
          li.classList.toggle("hidden", !show);
          if (show) any = true;
          var cols = li.querySelector("[data-schema-columns]");
          if (q && colHit && !tableHit) cols.classList.remove("hidden");
        });
        var none = root.querySelector("[data-schema-nomatch]");
        if (none) none.classList.toggle("hidden", any);
      });
    }
    // The schema browser starts collapsed on small screens.
    var det = root.querySelector("[data-schema-details]");
    if (det && window.matchMedia && !window.matchMedia("(min-width: 1024px)").matches) det.open = false;

    // History and saved lists: load, re-run, edit forms.
    root.addEventListener("click", function (ev) {
      var load = ev.target.closest("[data-load-sql]");
      if (load) { setSQL(load.getAttribute("data-load-sql")); return; }
      var again = ev.target.closest("[data-run-sql]");
      if (again) { run(again.getAttribute("data-run-sql")); return; }
      var edit = ev.target.closest("[data-saved-edit]");
      if (edit) {
        var f = edit.closest("[data-saved-id]").querySelector("[data-saved-edit-form]");
        f.classList.toggle("hidden");
        if (!f.classList.contains("hidden")) f.querySelector("input[name=name]").focus();
        return;
      }
      var cancelEdit = ev.target.closest("[data-saved-edit-cancel]");
      if (cancelEdit) { cancelEdit.closest("[data-saved-edit-form]").classList.add("hidden"); return; }
      if (ev.target.closest("[data-save-open]")) openSave();
    });

    function openSave() {
      var f = root.querySelector("[data-save-form]");
      if (!f) return;
      f.classList.remove("hidden");
      var name = f.querySelector("input[name=name]");
      if (name.value.trim()) { htmx.trigger(f, "submit"); return; }
      name.focus();
    }

    // Keyboard: Ctrl/Cmd+Enter runs, Esc cancels, Ctrl/Cmd+S saves.
    document.addEventListener("keydown", function (ev) {
      var mod = ev.ctrlKey || ev.metaKey;
      if (mod && ev.key === "Enter") { ev.preventDefault(); run(); }
      else if (ev.key === "Escape" && current) { ev.preventDefault(); cancel(); }
      else if (mod && (ev.key === "s" || ev.key === "S")) { ev.preventDefault(); openSave(); }
    });
    editor.addEventListener("keydown", function (ev) {
      if (ev.key === "Tab" && !ev.shiftKey && !ev.ctrlKey && !ev.metaKey) {
        ev.preventDefault();
        insertAtCursor("  ");
      }
    });

    // Admin: poll the running-queries list every 2 s while its panel is open.
    if (rp) {
      var poll = null;
      var refresh = refreshRunning;
      rp.addEventListener("toggle", function () {
        if (rp.open) { refresh(); poll = setInterval(refresh, 2000); }
        else if (poll) { clearInterval(poll); poll = null; }
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
