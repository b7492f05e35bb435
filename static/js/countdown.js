// Counts the hold down to its expiry; when it reaches zero the page reloads to show that the hold lapsed.
(function () {
  var el = document.getElementById("countdown");
  if (!el) return;
  var deadline = Date.now() + parseInt(el.dataset.seconds, 10) * 1000;
  function fmt(s) { var m = Math.floor(s / 60), r = s % 60; return m + ":" + (r < 10 ? "0" : "") + r; }
  function tick() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    el.textContent = fmt(left);
    if (left <= 60) el.parentElement.classList.add("urgent");
    if (left === 0) { setTimeout(function () { window.location.reload(); }, 1500); return; }
    setTimeout(tick, 1000);
  }
  // Other scripts (payment) may move the deadline when the hold is extended.
  window.surgeSetDeadline = function (isoOrSeconds) {
    deadline = typeof isoOrSeconds === "number" ? Date.now() + isoOrSeconds * 1000 : Date.parse(isoOrSeconds);
  };
  tick();
})();
