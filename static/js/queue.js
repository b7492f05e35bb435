// The line's panel (waiting page, and the event page during a drop). Its first status call is
// the arrival's join; it then polls when the server says (the server adds jitter), shows the
// place, wait and progress, and moves on to the seat map when admitted. A busy front (503) or
// a limit (429) is retried after Retry-After, spread with jitter so that a crowd does not
// come back in step.
(function () {
  var root = document.getElementById("wr");
  if (!root) return;
  var lobby = document.getElementById("wr-lobby");  // present on the event page only
  function $(id) { return document.getElementById(id); }
  function localPath(value) {
    return typeof value === "string" && /^\/(?![\/\\])/.test(value) ? value : null;
  }
  var next = localPath(new URLSearchParams(window.location.search).get("next")) || root.dataset.next;
  var url = root.dataset.statusUrl + "?next=" + encodeURIComponent(next);
  function eta(s) {
    if (s === null || s === undefined) return "unknown";
    if (s < 60) return "under a minute";
    return "about " + Math.round(s / 60) + " min";
  }
  // The opening's countdown ticks here, every second, from the last status ("opens_in_seconds"):
  // the page itself is the same bytes for everyone, so it cannot carry it. The same words as
  // presentation.until_opening.
  function duration(s) {
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return d + " d " + h + " h";
    if (h) return h + " h " + m + " min";
    if (m) return m + " min " + (s % 60) + " s";
    return s + " s";
  }
  function untilOpening(s) { return s > 0 ? "in " + duration(s) : "opening now"; }
  var opensAt = null, ticker = null;  // opensAt: performance.now() at the opening
  function tick() {
    text("wr-opens-in", untilOpening(Math.max(0, Math.ceil((opensAt - performance.now()) / 1000))));
  }
  function countDown(seconds) {
    opensAt = performance.now() + seconds * 1000;
    tick();
    if (!ticker) ticker = setInterval(tick, 1000);
  }
  function stopCountDown() { if (ticker) { clearInterval(ticker); ticker = null; } }
  function text(id, value) { var el = $(id); if (el && value !== undefined && value !== null) el.textContent = value; }
  function show(data) {
    if (lobby) lobby.hidden = false;
    var msg = $("wr-message");
    msg.textContent = data.message;
    msg.dataset.state = data.state;
    var figures = $("wr-figures");
    figures.hidden = data.position === null;
    if (data.position !== null) {
      text("wr-position", data.position);
      text("wr-ahead", data.ahead);
      text("wr-eta", eta(data.eta_seconds));
      var pct = Math.round((data.progress || 0) * 100);
      $("wr-progress").value = pct;
      $("wr-progress").textContent = pct + "%";
    }
    $("wr-prequeue").hidden = !data.prequeue;
    if (data.prequeue) {
      if (data.opening) text("wr-opening", data.opening);
      countDown(data.opens_in_seconds || 0);
    } else stopCountDown();
    text("wr-place-code", data.place_code);
    text("wr-waiting", data.waiting);
    text("wr-rate", data.admitted_per_minute);
    if (data.seed) { text("wr-seed-label", "The seed, revealed at the opening"); text("wr-seed", data.seed); }
    else text("wr-seed", data.seed_hash);
  }
  function jitter(ms) { return ms * (0.75 + Math.random() * 0.5); }
  function schedule(ms) { setTimeout(poll, Math.max(250, ms)); }
  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 429 || r.status === 503) {
          schedule(jitter(1000 * (parseInt(r.headers.get("Retry-After"), 10) || 5)));
          return null;
        }
        return r.json();
      })
      .then(function (data) {
        if (!data) return;
        if (data.state === "open") {
          if (!lobby) window.location.assign(data.next || next);  // no line: straight on
          return;  // on the event page: nothing to wait for, the page stays as it is
        }
        show(data);
        if (data.state === "admitted") {
          window.location.assign(data.next || next);
          return;
        }
        if (data.state === "closed") return;
        schedule(data.poll_after_ms);
      })
      .catch(function () { schedule(jitter(5000)); });
  }
  schedule(parseInt(root.dataset.pollMs, 10) || 0);
})();
