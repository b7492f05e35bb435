// The waiting page: polls the status endpoint when the server says to (it adds jitter),
// updates position, wait and progress, and moves on to the seat map when admitted.
(function () {
  var root = document.getElementById("wr");
  if (!root) return;
  var url = root.dataset.statusUrl;
  function $(id) { return document.getElementById(id); }
  function eta(s) {
    if (s === null || s === undefined) return "unknown";
    if (s < 60) return "under a minute";
    return "about " + Math.round(s / 60) + " min";
  }
  function show(data) {
    var msg = $("wr-message");
    msg.textContent = data.message;
    msg.dataset.state = data.state;
    var figures = $("wr-figures");
    figures.hidden = data.position === null;
    if (data.position !== null) {
      $("wr-position").textContent = data.position;
      $("wr-ahead").textContent = data.ahead;
      $("wr-eta").textContent = eta(data.eta_seconds);
      var pct = Math.round((data.progress || 0) * 100);
      $("wr-progress").value = pct;
      $("wr-progress").textContent = pct + "%";
    }
    $("wr-prequeue").hidden = !data.prequeue;
    if (data.prequeue && $("wr-opens")) $("wr-opens").textContent = data.opens_in_seconds;
  }
  function schedule(ms) { setTimeout(poll, Math.max(500, ms || 5000)); }
  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 429 || r.status === 503) {
          schedule(1000 * (parseInt(r.headers.get("Retry-After"), 10) || 5));
          return null;
        }
        return r.json();
      })
      .then(function (data) {
        if (!data) return;
        show(data);
        if (data.state === "admitted" || data.state === "open") {
          window.location.assign(data.next || root.dataset.next);
          return;
        }
        if (data.state === "closed") return;
        schedule(data.poll_after_ms);
      })
      .catch(function () { schedule(5000); });
  }
  schedule(parseInt(root.dataset.pollMs, 10));
})();
