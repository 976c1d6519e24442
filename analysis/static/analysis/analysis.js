/* The analysis pages' plots, drawn with Apache ECharts from the figures the page carries
 * (a <script type="application/json"> per chart). Every bar links to the records behind
 * it; the plots follow the light or dark theme of the page and redraw when it changes. */
(function () {
  "use strict";

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function palette() {
    var css = getComputedStyle(document.documentElement);
    var get = function (name, fallback) { return (css.getPropertyValue(name) || fallback).trim(); };
    return {
      text: get("--text", "#1c2330"),
      muted: get("--muted", "#5f6b7c"),
      border: get("--border", "#e2e5ea"),
      accent: get("--accent", "#3a5bd9"),
      second: get("--usage-fg", "#1864ab"),
      third: get("--audit-fg", "#6741d9"),
      error: get("--error-fg", "#c02626"),
      surface: get("--surface", "#ffffff")
    };
  }

  function label(iso, bucket, tz) {
    var date = new Date(iso);
    var options = bucket === "hour"
      ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: tz }
      : { month: "short", day: "numeric", timeZone: tz };
    try { return date.toLocaleString(undefined, options); } catch (e) { return iso.slice(0, 16); }
  }

  function base(colors) {
    return {
      animationDuration: 300,
      textStyle: { color: colors.text },
      grid: { left: 48, right: 48, top: 36, bottom: 36, containLabel: true },
      tooltip: {
        trigger: "axis",
        backgroundColor: colors.surface,
        borderColor: colors.border,
        textStyle: { color: colors.text }
      },
      legend: { top: 0, textStyle: { color: colors.muted } }
    };
  }

  function axis(colors, names) {
    return {
      type: "category",
      data: names,
      axisLine: { lineStyle: { color: colors.border } },
      axisLabel: { color: colors.muted, hideOverlap: true }
    };
  }

  function valueAxis(colors, name) {
    return {
      type: "value",
      name: name,
      minInterval: 1,
      nameTextStyle: { color: colors.muted },
      axisLabel: { color: colors.muted },
      splitLine: { lineStyle: { color: colors.border } }
    };
  }

  function empty(node, words) {
    node.classList.add("chart-empty");
    node.innerHTML = "";
    var p = document.createElement("p");
    p.textContent = words;
    node.appendChild(p);
  }

  var charts = [];

  function mount(node, option, onClick) {
    var chart = window.echarts.init(node, null, { renderer: "svg" });
    chart.setOption(option);
    if (onClick) { chart.on("click", onClick); }
    charts.push({ chart: chart, node: node });
    node.dataset.drawn = "1";
    return chart;
  }

  function total(values) { return values.reduce(function (a, b) { return a + b; }, 0); }

  function drawUsage(colors) {
    var node = document.getElementById("chart-usage");
    var d = data("usage-data");
    if (!node || !d) { return; }
    if (!total(d.events)) { empty(node, "No events in this period."); return; }
    var names = d.labels.map(function (iso) { return label(iso, d.bucket, d.tz); });
    var option = base(colors);
    option.xAxis = axis(colors, names);
    option.yAxis = [valueAxis(colors, "events"), valueAxis(colors, "users")];
    option.yAxis[1].splitLine = { show: false };
    option.series = [
      { name: "Events", type: "bar", data: d.events, itemStyle: { color: colors.accent }, cursor: "pointer" },
      { name: "Active users", type: "line", yAxisIndex: 1, data: d.users, smooth: true,
        symbolSize: 6, itemStyle: { color: colors.third }, lineStyle: { width: 2 } }
    ];
    mount(node, option, function (event) {
      var href = d.links[event.dataIndex];
      if (href) { window.location.href = href; }
    });
  }

  function drawSmall(colors, id, key, name, color) {
    var node = document.getElementById(id);
    var d = data("usage-data");
    if (!node || !d) { return; }
    if (!total(d[key])) { empty(node, "None in this period."); return; }
    var option = base(colors);
    option.legend = { show: false };
    option.grid = { left: 8, right: 8, top: 12, bottom: 8, containLabel: true };
    option.xAxis = axis(colors, d.labels.map(function (iso) { return label(iso, d.bucket, d.tz); }));
    option.yAxis = valueAxis(colors, "");
    option.series = [{ name: name, type: "bar", data: d[key], itemStyle: { color: color } }];
    mount(node, option, function (event) {
      var href = d.links[event.dataIndex];
      if (href) { window.location.href = href; }
    });
  }

  function drawTypes(colors) {
    var node = document.getElementById("chart-types");
    var d = data("usage-data");
    if (!node || !d) { return; }
    if (!d.types.length) { empty(node, "No events in this period."); return; }
    var option = base(colors);
    option.legend = { show: false };
    option.tooltip.trigger = "item";
    option.grid = { left: 8, right: 24, top: 8, bottom: 8, containLabel: true };
    option.yAxis = axis(colors, d.types.slice().reverse());
    option.xAxis = valueAxis(colors, "");
    option.series = [{
      name: "Events", type: "bar", data: d.type_events.slice().reverse(),
      itemStyle: { color: colors.second }, cursor: "pointer"
    }];
    var links = d.type_links.slice().reverse();
    mount(node, option, function (event) {
      if (links[event.dataIndex]) { window.location.href = links[event.dataIndex]; }
    });
  }

  function drawTrend(colors) {
    var node = document.getElementById("chart-trend");
    var d = data("trend-data");
    if (!node || !d) { return; }
    if (!total(d.events)) { empty(node, "No occurrences in this period."); return; }
    var option = base(colors);
    option.legend = { show: false };
    option.xAxis = axis(colors, d.labels.map(function (iso) { return label(iso, d.bucket, d.tz); }));
    option.yAxis = valueAxis(colors, "occurrences");
    option.series = [{ name: "Occurrences", type: "bar", data: d.events, itemStyle: { color: colors.error } }];
    mount(node, option);
  }

  function drawAll() {
    charts.forEach(function (item) { item.chart.dispose(); });
    charts = [];
    var colors = palette();
    drawUsage(colors);
    drawSmall(colors, "chart-new-users", "new_users", "New users", colors.third);
    drawSmall(colors, "chart-sessions", "sessions", "Sessions", colors.second);
    drawTypes(colors);
    drawTrend(colors);
  }

  function start() {
    if (!window.echarts) { return; }
    drawAll();
    window.addEventListener("resize", function () {
      charts.forEach(function (item) { item.chart.resize(); });
    });
    var scheme = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
    if (scheme && scheme.addEventListener) { scheme.addEventListener("change", drawAll); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
