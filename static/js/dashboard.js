// The drop dashboard (templates/admin/ops/dashboard.html): every few seconds it fetches the
// figures (apps/ops/selectors.py, as JSON), writes them into the page and adds a point to each
// chart (uPlot, vendored under static/vendor/uplot/). The page is never reloaded; a failed fetch
// is shown and the next one tried. History lives in the page only: the last HISTORY points.
(function () {
  "use strict";
  var root = document.getElementById("ops-dashboard");
  if (!root || !window.uPlot) return;
  var url = root.dataset.figuresUrl;
  var every = Math.max(1, Number(root.dataset.pollSeconds) || 3) * 1000;
  var eventId = root.dataset.event ? Number(root.dataset.event) : null;
  var HISTORY = 600;
  // Money as apps.core.money shows it: Indian grouping, whole rupees without ".00".
  var rupees = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR" });
  var wholeRupees = new Intl.NumberFormat("en-IN", {
    style: "currency", currency: "INR", minimumFractionDigits: 0, maximumFractionDigits: 0,
  });
  var count = new Intl.NumberFormat("en-IN");

  // Each chart: its series (label, colour, how to read a value off one refresh).
  var CHARTS = {
    people: [
      ["Waiting", "#b45309", function (e) { return e.waiting; }],
      ["Inside", "#047857", function (e) { return e.inside; }],
    ],
    admission: [
      ["Admitted / min", "#1d4ed8", function (e) { return e.per_minute.admitted; }],
      ["Rate allowed / min", "#6b7280", function (e) { return e.rate_per_minute; }],
    ],
    sales: [
      ["Holds / min", "#7c3aed", function (e) { return e.per_minute.holds; }],
      ["Sales / min", "#047857", function (e) { return e.per_minute.sales; }],
    ],
    seats: [
      ["Free", "#047857", function (e) { return e.seats_free; }],
      ["Held", "#b45309", function (e) { return e.seats_held; }],
      ["Sold", "#1d4ed8", function (e) { return e.seats_sold; }],
    ],
    latency: [
      ["Hold p95", "#be123c", function (e, f) { return ms(f.latency_p95_s.hold); }],
      ["Status poll p95", "#0e7490", function (e, f) { return ms(f.latency_p95_s.status_poll); }],
    ],
    backlogs: [
      ["Webhooks", "#be123c", function (e, f) { return f.webhook_backlog; }],
      ["Celery tasks", "#7c3aed", function (e, f) { return sum(f.celery_queues); }],
      ["DB connections in use", "#0e7490", function (e, f) { return f.db_connections_active; }],
    ],
  };
  var charts = {}, data = {};

  function ms(seconds) { return seconds == null ? null : Math.round(seconds * 10000) / 10; }
  function sum(map) { return Object.keys(map).reduce(function (t, k) { return t + map[k]; }, 0); }
  function pick(object, path) {
    return path.split(".").reduce(function (o, k) { return o == null ? null : o[k]; }, object);
  }
  function shown(text, format) {
    if (text == null) return "–";
    if (format === "rupees") return (text % 100 ? rupees : wholeRupees).format(text / 100);
    if (format === "seconds") return Math.round(text) + " s";
    if (format === "ms") return ms(text) + " ms";
    return count.format(text);
  }

  function makeCharts() {
    root.querySelectorAll("[data-chart]").forEach(function (box) {
      var name = box.dataset.chart, series = CHARTS[name];
      data[name] = [[]].concat(series.map(function () { return []; }));
      charts[name] = new window.uPlot({
        width: Math.max(280, box.clientWidth || 360),
        height: 180,
        series: [{}].concat(series.map(function (s) { return { label: s[0], stroke: s[1], width: 2, spanGaps: true }; })),
        axes: [{}, { size: 60 }],
        scales: { y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } },
      }, data[name], box);
    });
  }

  function table(id, rows) {
    var body = document.querySelector("#" + id + " tbody");
    body.replaceChildren();
    var names = Object.keys(rows).sort();
    if (!names.length) {
      var empty = body.insertRow().insertCell();
      empty.colSpan = 2;
      empty.textContent = "Nobody yet.";
    }
    names.forEach(function (name) {
      var row = body.insertRow(), head = document.createElement("th");
      head.scope = "row";
      head.textContent = name;
      row.appendChild(head);
      row.insertCell().textContent = count.format(rows[name]);
    });
  }

  function show(figures) {
    var event = eventId == null ? figures.totals : figures.events.filter(function (e) { return e.id === eventId; })[0];
    if (!event) return;
    root.querySelectorAll("[data-figure]").forEach(function (el) {
      el.textContent = shown(pick(event, el.dataset.figure), el.dataset.format);
    });
    root.querySelectorAll("[data-global]").forEach(function (el) {
      el.textContent = shown(pick(figures, el.dataset.global), el.dataset.format);
    });
    table("ops-gates", event.checkins_by_gate);
    table("ops-queues", figures.celery_queues);
    var at = new Date(figures.at_ms), stamp = document.getElementById("ops-updated");
    stamp.dateTime = at.toISOString();
    stamp.textContent = at.toLocaleTimeString("en-IN", { hour12: false, timeZoneName: "short" });
    Object.keys(charts).forEach(function (name) {
      var columns = data[name];
      if (columns[0].length && columns[0][columns[0].length - 1] >= figures.at_ms / 1000) return;  // the same refresh
      columns[0].push(figures.at_ms / 1000);
      CHARTS[name].forEach(function (s, i) { columns[i + 1].push(s[2](event, figures)); });
      if (columns[0].length > HISTORY) columns.forEach(function (c) { c.shift(); });
      charts[name].setData(columns);
    });
    root.dataset.refreshes = String(Number(root.dataset.refreshes || 0) + 1);
    root.classList.remove("ops-stale");
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) {
        if (!answer.ok) throw new Error("HTTP " + answer.status);
        return answer.json();
      })
      .then(show)
      .catch(function () { root.classList.add("ops-stale"); })
      .finally(function () { window.setTimeout(poll, every); });
  }

  makeCharts();
  window.addEventListener("resize", function () {
    root.querySelectorAll("[data-chart]").forEach(function (box) {
      charts[box.dataset.chart].setSize({ width: Math.max(280, box.clientWidth), height: 180 });
    });
  });
  poll();
})();
