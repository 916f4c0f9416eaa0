/* Console behaviour: draw ECharts from data-option, table view toggles, the audience builder.
   No inline scripts: every page loads only this file and the two vendored libraries. */
(function () {
  "use strict";
  var charts = [];

  /* Number formats for chart labels and axes, the same as jingyun.web.i18n (an option is JSON, so the
     server names a format, "jy:int", and the function is attached here): separators, ¥, %, 万/亿 or K/M. */
  var zh = (document.documentElement.lang || "zh-CN").indexOf("zh") === 0;
  function sep(v, digits) {
    return Number(v).toLocaleString(zh ? "zh-CN" : "en-US", { minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0 });
  }
  function compact(v) {
    var a = Math.abs(v);
    if (zh) {
      if (a >= 1e8) { return (v / 1e8).toFixed(2) + "亿"; }
      if (a >= 1e4) { return (v / 1e4).toFixed(2) + "万"; }
    } else {
      if (a >= 1e9) { return (v / 1e9).toFixed(2) + "B"; }
      if (a >= 1e6) { return (v / 1e6).toFixed(2) + "M"; }
      if (a >= 1e4) { return (v / 1e3).toFixed(2) + "K"; }
    }
    return sep(v, Number.isInteger(v) ? 0 : 2);
  }
  function raw(p) {
    if (p === null || typeof p !== "object") { return p; }
    var v = p.value;
    return Array.isArray(v) ? v[v.length - 1] : v;
  }
  var FORMATS = {
    "jy:int": function (p) { var v = raw(p); return v === null || v === undefined || v === "" ? "" : sep(v, 0); },
    "jy:money": function (p) { var v = raw(p); return v === null || v === undefined ? "" : "¥" + compact(v); },
    "jy:compact": function (p) { var v = raw(p); return v === null || v === undefined ? "" : compact(v); },
    "jy:compact_nonzero": function (p) { var v = raw(p); return !v ? "" : compact(v); },
    "jy:pct1": function (p) { var v = raw(p); return v === null || v === undefined ? "" : Number(v).toFixed(1) + "%"; }
  };
  function formats(o) {  // replace every "jy:…" formatter in the option with its function
    if (Array.isArray(o)) { o.forEach(formats); return o; }
    if (o && typeof o === "object") {
      Object.keys(o).forEach(function (k) {
        if (k === "formatter" && typeof o[k] === "string" && FORMATS[o[k]]) { o[k] = FORMATS[o[k]]; }
        else { formats(o[k]); }
      });
    }
    return o;
  }
  function quietMarkLines(opt) {  // a reference line (0 %, 100 %) carries no value label over the axis tick
    (Array.isArray(opt.series) ? opt.series : []).forEach(function (sr) {
      if (sr.markLine && !sr.markLine.label) { sr.markLine.label = { show: false }; }
    });
    return opt;
  }

  /* Readiness: <body data-ready="1"> once no panel is still loading (no .loading spinner, no HTMX request in
     flight) and every chart has painted its first frame; data-ready-ms holds the milliseconds since navigation start (browser tests, screenshots and
     bench/bench_console_browser.py wait on it). */
  var painting = 0;
  function markReady() {
    if (painting > 0 || document.body.dataset.ready === "1" || document.querySelector(".loading, .htmx-request")) { return; }
    document.body.dataset.readyMs = String(Math.round(performance.now()));
    document.body.dataset.ready = "1";
  }

  function draw(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll(".chart[data-option]").forEach(function (el) {
      if (el.dataset.ready) { return; }
      el.dataset.ready = "1";
      var chart = echarts.init(el, null, { renderer: "canvas" });
      painting += 1;
      var painted = function () { chart.off("rendered", painted); painting -= 1; markReady(); };
      chart.on("rendered", painted);
      chart.setOption(quietMarkLines(formats(JSON.parse(el.dataset.option))));
      charts.push(chart);
    });
    markReady();
  }

  function resizeAll() {
    charts = charts.filter(function (c) { return !c.isDisposed() && document.body.contains(c.getDom()); });
    charts.forEach(function (c) { c.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); builder(); });
  document.addEventListener("htmx:afterSettle", function (e) { draw(e.target); });
  window.addEventListener("resize", resizeAll);

  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-toggle-table]");
    if (!btn) { return; }
    var body = btn.closest(".panel-body");
    body.classList.toggle("show-table");
    btn.setAttribute("aria-pressed", body.classList.contains("show-table") ? "true" : "false");
    resizeAll();
  });

  /* Audience builder: a rule tree (groups AND/OR with NOT, conditions, sub-groups) kept in sync with the
     JSON rule of jingyun.segments.audience; the estimate follows every change (debounced by htmx), and the
     library's error, which names a node path like rule.and[2].attr, is shown next to that node. */
  function builder() {
    var form = document.getElementById("audience");
    if (!form) { return; }
    var tree = document.getElementById("tree");
    var rule = document.getElementById("rule");
    var attrTypes = JSON.parse(tree.dataset.attrTypes || "{}");
    var tagTypes = JSON.parse(tree.dataset.tagTypes || "{}");
    var LIST_OPS = { "in": 1, "not_in": 1, "between": 1 };
    var NO_VALUE = { "is_set": 1, "is_not_set": 1 };
    var attrValues = JSON.parse(tree.dataset.attrValues || "{}");  // {attr: [[value, users], ...]}, most common first
    var firstAttr = attrValues.member_level ? "member_level" : (Object.keys(attrValues)[0] || "member_level");
    var DEFAULTS = {  // a new condition matches people: the most common value present, not a guess
      attr: { attr: firstAttr, op: "eq", value: (attrValues[firstAttr] && attrValues[firstAttr][0]) ? attrValues[firstAttr][0][0] : "" },
      tag: { tag: "", op: "eq", value: "" },
      event: { event: "view_product", within_days: 30, count: { op: "gte", value: 1 } },
      orders: { orders: "count", within_days: 90, op: "gte", value: 1 },
      segment: { segment: "" }
    };

    function clone(id) { return document.getElementById(id).content.cloneNode(true); }
    function own(li, sel) {  // the element of this node, not of a nested one
      return Array.prototype.filter.call(li.querySelectorAll(sel), function (x) { return x.closest(".node") === li; })[0];
    }

    function scalar(s, type) {
      s = String(s).trim();
      if (type === "number" || type === "auto") {
        var n = Number(s);
        if (s !== "" && !isNaN(n)) { return n; }
        return s;  // not a number: sent as typed, so the library names the field and the mismatch
      }
      if (type === "bool") { return s === "true" ? true : (s === "false" ? false : s); }
      return s;
    }
    function typed(raw, type, op) {
      if (LIST_OPS[op]) { return String(raw).split(",").map(function (v) { return scalar(v, type); }); }
      return scalar(raw, type);
    }
    function show(v) { return Array.isArray(v) ? v.join(",") : (v === undefined || v === null ? "" : String(v)); }
    function setVal(el, v) {
      if (!el) { return; }
      if (el.tagName === "SELECT" && v !== "" && !Array.prototype.some.call(el.options, function (o) { return o.value === v; })) {
        var o = document.createElement("option"); o.value = v; o.textContent = v; el.appendChild(o);
      }
      el.value = v;
    }

    /* JSON → tree */
    function group(op, neg, children) {
      var li = clone("tpl-group").firstElementChild;
      li.querySelector(".gop").value = op;
      li.querySelector(".neg").checked = !!neg;
      var ol = li.querySelector(".children");
      children.forEach(function (c) { ol.appendChild(node(c)); });
      return li;
    }
    function node(j) {
      if (j && (Array.isArray(j.and) || Array.isArray(j.or))) { return group(j.and ? "and" : "or", false, j.and || j.or); }
      if (j && j.not) {
        var inner = j.not;
        if (Array.isArray(inner.and) || Array.isArray(inner.or)) { return group(inner.and ? "and" : "or", true, inner.and || inner.or); }
        return group("and", true, [inner]);
      }
      return cond(j || DEFAULTS.attr);
    }
    function kindOf(j) {
      var kinds = ["attr", "tag", "event", "orders", "segment"];
      for (var i = 0; i < kinds.length; i++) { if (Object.prototype.hasOwnProperty.call(j, kinds[i])) { return kinds[i]; } }
      return "attr";
    }
    function filter(f) {
      var li = clone("tpl-filter").firstElementChild;
      li.querySelector(".prop").value = f.prop || "";
      li.querySelector(".op").value = f.op || "eq";
      li.querySelector(".value").value = show(f.value);
      return li;
    }
    function fill(li, kind, j) {
      var ed = own(li, ".editor");
      ed.textContent = "";
      ed.appendChild(clone("tpl-" + kind));
      setVal(ed.querySelector(".name"), String(j[kind] === undefined ? "" : j[kind]));
      var op = ed.querySelector(".op"), val = ed.querySelector(".value"), within = ed.querySelector(".within");
      if (within) { within.value = j.within_days === undefined ? "" : j.within_days; }
      if (kind === "event") {
        var c = j.count || { op: "gte", value: 1 };
        op.value = c.op || "gte"; val.value = show(c.value);
        (j.where || []).forEach(function (f) { ed.querySelector(".where").appendChild(filter(f)); });
      } else if (op) {
        op.value = j.op || (kind === "orders" ? "gte" : "eq"); val.value = show(j.value);
      }
      if (kind === "attr") { pickList(ed); }
    }
    function pickList(ed) {  // the value box offers the attribute's values present (datalist with counts)
      var name = ed.querySelector(".name"), val = ed.querySelector(".value");
      if (!name || !val) { return; }
      if (attrValues[name.value]) { val.setAttribute("list", "values-" + name.value); } else { val.removeAttribute("list"); }
    }
    function cond(j) {
      var li = clone("tpl-cond").firstElementChild;
      var kind = kindOf(j);
      li.querySelector(".kind").value = kind;
      fill(li, kind, j);
      return li;
    }

    /* tree → JSON (and each node's path, to place the library's errors) */
    function serialize(li, path) {
      li.dataset.path = path;
      if (li.classList.contains("group")) {
        var op = own(li, ".gop").value, neg = own(li, ".neg").checked;
        var base = neg ? path + ".not" : path;
        var kids = Array.prototype.map.call(own(li, ".children").children, function (c, i) {
          return serialize(c, base + "." + op + "[" + i + "]");
        });
        var g = {}; g[op] = kids;
        return neg ? { not: g } : g;
      }
      var kind = own(li, ".kind").value;
      var ed = own(li, ".editor");
      var name = ed.querySelector(".name"), opEl = ed.querySelector(".op"), val = ed.querySelector(".value");
      var within = ed.querySelector(".within");
      var out = {};
      out[kind] = name ? name.value.trim() : "";
      if (kind === "segment") { return out; }
      if (within && within.value !== "") { out.within_days = Number(within.value); }
      if (kind === "event") {
        var where = Array.prototype.map.call(ed.querySelectorAll(".where > .filter"), function (f) {
          var fop = f.querySelector(".op").value;
          return { prop: f.querySelector(".prop").value.trim(), op: fop, value: typed(f.querySelector(".value").value, "auto", fop) };
        });
        if (where.length) { out.where = where; }
        out.count = { op: opEl.value, value: typed(val.value, "number", opEl.value) };
        return out;
      }
      var type = kind === "orders" ? "number" : (kind === "attr" ? attrTypes[out.attr] : tagTypes[out.tag]) || "string";
      if (type === "timestamp" || type === "date") { type = "string"; }
      out.op = opEl.value;
      if (!NO_VALUE[out.op]) { out.value = typed(val.value, type, out.op); }
      return out;
    }

    function root() { return tree.firstElementChild; }
    function sync() {
      rule.value = JSON.stringify(serialize(root(), "rule"));
      htmx.trigger(form, "rebuild");
    }
    function load(json) {
      var r = node(json);
      if (!r.classList.contains("group")) { r = group("and", false, [json]); }
      tree.textContent = "";
      tree.appendChild(r);
      serialize(r, "rule");
    }

    tree.addEventListener("change", function (e) {
      var t = e.target;
      if (t.classList.contains("kind")) { var li = t.closest(".node"); fill(li, t.value, DEFAULTS[t.value]); }
      else if (t.classList.contains("name") && own(t.closest(".node"), ".kind") && own(t.closest(".node"), ".kind").value === "attr") {
        var vals = attrValues[t.value], box = t.parentNode.querySelector(".value");
        if (box) { box.value = vals && vals[0] ? vals[0][0] : ""; }  // the new attribute's most common value
        pickList(t.parentNode);
      }
      sync();
    });
    tree.addEventListener("input", function (e) { if (e.target.tagName === "INPUT" && e.target.type !== "checkbox") { sync(); } });
    tree.addEventListener("click", function (e) {
      var b = e.target.closest("button");
      if (!b) { return; }
      var li = b.closest(".node");
      if (b.classList.contains("add-cond")) { own(li, ".children").appendChild(cond(DEFAULTS.attr)); }
      else if (b.classList.contains("add-group")) { own(li, ".children").appendChild(group("or", false, [DEFAULTS.attr])); }
      else if (b.classList.contains("remove")) { if (li !== root()) { li.remove(); } }
      else if (b.classList.contains("add-filter")) { li.querySelector(".where").appendChild(filter({ prop: "", op: "eq", value: "" })); }
      else if (b.classList.contains("remove-filter")) { b.closest(".filter").remove(); }
      else { return; }
      sync();
    });
    rule.addEventListener("input", function () {  // typed JSON redraws the tree (the estimate follows on keyup)
      var parsed;
      try { parsed = JSON.parse(rule.value); } catch (err) { return; }
      if (parsed && typeof parsed === "object") { load(parsed); }
    });
    function clearMarks() {
      tree.querySelectorAll(".node").forEach(function (n) {
        n.classList.remove("invalid"); own(n, ".node-error").textContent = "";
      });
    }
    function markNode(path, message) {  // the deepest node whose path starts the error's
      var best = null;
      tree.querySelectorAll(".node").forEach(function (n) {
        var p = n.dataset.path || "";
        var next = path.charAt(p.length);
        if (path.indexOf(p) === 0 && (next === "" || next === "." || next === "[") && (!best || p.length > best.dataset.path.length)) { best = n; }
      });
      if (best) { best.classList.add("invalid"); own(best, ".node-error").textContent = message || ""; }
    }
    document.addEventListener("htmx:afterSwap", function (e) {
      if (!e.detail || !e.detail.target || e.detail.target.id !== "estimate") { return; }
      clearMarks();
      var err = e.detail.target.querySelector("[data-error-path]");
      if (err && err.dataset.errorPath) { markNode(err.dataset.errorPath, err.dataset.errorMessage); }
    });

    /* Save as segment (保存为人群): the server answers a refusal with its status (409 a taken name, 403 another
       department or a rule on one person, 422 a bad name) and a fragment naming the field; show it beside the
       button and mark the field (a rule path marks its node). A saved segment joins the segment pickers. */
    var saveName = document.getElementById("save-name"), saveDep = document.getElementById("save-department");
    form.addEventListener("submit", function (e) { e.preventDefault(); });  // the builder never navigates away
    if (saveName) {
      saveName.addEventListener("keydown", function (e) {
        if (e.key === "Enter") { e.preventDefault(); document.getElementById("save-button").click(); }
      });
    }
    document.addEventListener("htmx:beforeSwap", function (e) {
      if (e.detail && e.detail.target && e.detail.target.id === "save-result" && e.detail.xhr.status < 500) {
        e.detail.shouldSwap = true; e.detail.isError = false;
      }
    });
    document.addEventListener("htmx:afterSwap", function (e) {
      if (!e.detail || !e.detail.target || e.detail.target.id !== "save-result") { return; }
      [saveName, saveDep].forEach(function (el) { if (el) { el.removeAttribute("aria-invalid"); } });
      var err = e.detail.target.querySelector("[data-error-field]");
      if (err) {
        var field = err.dataset.errorField || "";
        if (field === "name" && saveName) { saveName.setAttribute("aria-invalid", "true"); saveName.focus(); }
        else if (field === "department" && saveDep) { saveDep.setAttribute("aria-invalid", "true"); }
        else if (field.indexOf("rule") === 0) { clearMarks(); markNode(field, err.dataset.errorMessage); }
        return;
      }
      var ok = e.detail.target.querySelector("[data-saved]");
      var picker = document.getElementById("tpl-segment").content.querySelector("select.name");
      if (ok && picker && !Array.prototype.some.call(picker.options, function (o) { return o.value === ok.dataset.saved; })) {
        var o = document.createElement("option"); o.value = ok.dataset.saved; o.textContent = ok.dataset.saved; picker.appendChild(o);
      }
    });
    try { load(JSON.parse(rule.value)); } catch (err) { load({ and: [DEFAULTS.attr] }); }
  }
})();

/* ---- drill-down and pickers (issue 21: funnel steps by drag or by keyboard buttons, each with its
   own property filter; the hidden `steps` input is what the form sends) ---- */
(function () {
  "use strict";
  function stepPicker(box) {
    var list = box.querySelector("#step-list");
    var hidden = document.getElementById("funnel-steps");
    var search = box.querySelector("#step-search");
    var filter = box.querySelector("#step-filter");
    var dragged = null;
    function sync() {
      hidden.value = Array.prototype.map.call(list.querySelectorAll("li.step"), function (li) {
        return li.getAttribute("data-step");
      }).join(",");
    }
    function wire(li) {
      li.addEventListener("dragstart", function (e) {
        dragged = li; li.classList.add("dragging");
        if (e.dataTransfer) { e.dataTransfer.effectAllowed = "move"; e.dataTransfer.setData("text/plain", li.getAttribute("data-step")); }
      });
      li.addEventListener("dragend", function () { li.classList.remove("dragging"); dragged = null; sync(); });
      li.addEventListener("dragover", function (e) { e.preventDefault(); });
      li.addEventListener("drop", function (e) {
        e.preventDefault();
        if (!dragged || dragged === li) return;
        var items = Array.prototype.slice.call(list.children);
        if (items.indexOf(dragged) < items.indexOf(li)) li.after(dragged); else li.before(dragged);
        sync();
      });
      li.querySelector(".step-up").addEventListener("click", function () {
        if (li.previousElementSibling) { li.previousElementSibling.before(li); sync(); li.querySelector(".step-up").focus(); }
      });
      li.querySelector(".step-down").addEventListener("click", function () {
        if (li.nextElementSibling) { li.nextElementSibling.after(li); sync(); li.querySelector(".step-down").focus(); }
      });
      li.querySelector(".step-remove").addEventListener("click", function () { li.remove(); sync(); });
    }
    // the property picker offers the chosen event's properties from the tracking plan (prop=…)
    var plan = {};
    try { plan = JSON.parse(box.getAttribute("data-plan") || "{}"); } catch (err) { plan = {}; }
    var props = document.getElementById("step-props");
    search.addEventListener("input", function () {
      if (!props) return;
      props.textContent = "";
      (plan[(search.value || "").trim()] || []).forEach(function (p) {
        var o = document.createElement("option"); o.value = p + "="; props.appendChild(o);
      });
    });
    Array.prototype.forEach.call(list.querySelectorAll("li.step"), wire);
    box.querySelector("#step-add").addEventListener("click", function () {
      var name = (search.value || "").trim();
      if (!name) { search.focus(); return; }
      var cond = (filter.value || "").trim();
      var step = cond ? name + "[" + cond + "]" : name;
      var tpl = list.querySelector("li.step");
      var li = tpl ? tpl.cloneNode(true) : null;
      if (!li) return;
      li.setAttribute("data-step", step);
      li.querySelector(".step-name").textContent = name;
      var code = li.querySelector(".step-filter");
      if (code) code.remove();
      if (cond) { code = document.createElement("code"); code.className = "step-filter"; code.textContent = "[" + cond + "]"; li.querySelector(".step-name").after(code); }
      list.appendChild(li); wire(li); sync();
      search.value = ""; filter.value = "";
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("step-picker");
    if (box) stepPicker(box);
  });

  // The date picker (parts/daterange.html): a preset travels as range=<key>, so its days are not submitted;
  // typing a day switches the range to custom.
  function datePicker(set) {
    var sel = set.querySelector("select[data-range]");
    var days = set.querySelectorAll("input[type=date]");
    if (!sel) return;
    days.forEach(function (d) {
      d.addEventListener("input", function () { sel.value = "custom"; });
    });
    var form = set.closest("form");
    if (form) form.addEventListener("submit", function () {
      var custom = sel.value === "custom";
      days.forEach(function (d) { d.disabled = !custom; });
    });
    window.addEventListener("pageshow", function () {  // back to a page kept in the cache: the days are editable
      days.forEach(function (d) { d.disabled = false; });
    });
  }

  // Board grid: drag a card onto another to move it there (the same POST as the move buttons).
  function boardGrid(grid) {
    var dragged = null;
    grid.querySelectorAll("li[draggable=true]").forEach(function (li) {
      li.addEventListener("dragstart", function (e) {
        dragged = li; li.classList.add("dragging");
        e.dataTransfer.effectAllowed = "move"; e.dataTransfer.setData("text/plain", li.dataset.item);
      });
      li.addEventListener("dragend", function () { li.classList.remove("dragging"); });
      li.addEventListener("dragover", function (e) { if (dragged && dragged !== li) e.preventDefault(); });
      li.addEventListener("drop", function (e) {
        e.preventDefault();
        if (!dragged || dragged === li) return;
        var body = new URLSearchParams({to: li.dataset.position});
        fetch("/console/dashboards/items/" + dragged.dataset.item + "/move", {
          method: "POST", body: body, credentials: "same-origin", redirect: "follow"
        }).then(function () { window.location.reload(); });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-daterange]").forEach(datePicker);
    document.querySelectorAll(".board[data-editable=true] .board-grid").forEach(boardGrid);
  });
})();
