/* Console behaviour: draw ECharts from data-option, table view toggles, the audience builder.
   No inline scripts: every page loads only this file and the two vendored libraries. */
(function () {
  "use strict";
  var charts = [];

  function draw(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll(".chart[data-option]").forEach(function (el) {
      if (el.dataset.ready) { return; }
      el.dataset.ready = "1";
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(JSON.parse(el.dataset.option));
      charts.push(chart);
    });
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

  /* Audience builder: visual rows → the JSON rule the server compiles; the estimate follows every change. */
  function builder() {
    var form = document.getElementById("audience");
    if (!form) { return; }
    var list = document.getElementById("conditions");
    var tpl = document.getElementById("condition-template");
    var rule = document.getElementById("rule");
    var comb = document.getElementById("combinator");

    function number(v) { var n = Number(v); return (v !== "" && !isNaN(n)) ? n : v; }

    function condition(li) {
      var kind = li.querySelector(".kind").value;
      var field = li.querySelector(".field").value.trim();
      var op = li.querySelector(".op").value;
      var value = li.querySelector(".value").value;
      var within = Number(li.querySelector(".within").value) || 30;
      li.querySelector(".days").hidden = !(kind === "event" || kind === "orders");
      if (kind === "event") { return { event: field, within_days: within, count: { op: op, value: number(value) } }; }
      if (kind === "orders") { return { orders: field, within_days: within, op: op, value: number(value) }; }
      var c = {}; c[kind] = field; c.op = op;
      c.value = (value === "true" || value === "false") ? value === "true" : number(value);
      return c;
    }

    function rebuild() {
      var items = Array.prototype.map.call(list.children, condition);
      var r = {}; r[comb.value] = items;
      rule.value = JSON.stringify(r);
      htmx.trigger(form, "rebuild");
    }

    function add(kind, field, op, value) {
      var li = tpl.content.firstElementChild.cloneNode(true);
      li.querySelector(".kind").value = kind;
      li.querySelector(".field").value = field;
      li.querySelector(".op").value = op;
      li.querySelector(".value").value = value;
      list.appendChild(li);
      return li;
    }

    form.addEventListener("change", function (e) { if (e.target.id !== "rule") { rebuild(); } });
    form.addEventListener("keyup", function (e) {
      if (e.target.classList.contains("field") || e.target.classList.contains("value")) { rebuild(); }
    });
    list.addEventListener("click", function (e) {
      if (e.target.classList.contains("remove")) { e.target.closest("li").remove(); rebuild(); }
    });
    document.getElementById("add-condition").addEventListener("click", function () {
      add("orders", "count", "gte", "1"); rebuild();
    });
    add("attr", "member_level", "eq", "gold");
    list.querySelectorAll("li").forEach(condition);
  }
})();
