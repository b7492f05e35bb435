// The checkout page: where focus starts, and the hold's countdown.
//
// Focus: after a hold the page opens on its heading (an error, or the release question, when there
// is one), so a screen reader starts where the buyer is.
//
// The countdown is a visual timer (role=timer, not live). What a screen reader hears comes from a
// separate polite live region, at most once a minute: on each whole minute ("4 minutes left"), the
// last of them being "1 minute left". When it reaches zero the page reloads to show that the hold lapsed.
(function () {
  var first = document.querySelector("[data-focus-on-load]");
  if (first) first.focus();

  var el = document.getElementById("countdown");
  if (!el) return;
  var live = document.getElementById("countdown-announce");
  var deadline = Date.now() + parseInt(el.dataset.seconds, 10) * 1000;
  function left() { return Math.max(0, Math.round((deadline - Date.now()) / 1000)); }
  function minutesMark(seconds) { return Math.ceil(seconds / 60); }  // changes exactly on whole minutes
  var lastMark = minutesMark(left());
  function fmt(s) { var m = Math.floor(s / 60), r = s % 60; return m + ":" + (r < 10 ? "0" : "") + r; }
  function announce(seconds) {
    var mark = minutesMark(seconds);
    if (mark >= lastMark) { lastMark = mark; return; }
    lastMark = mark;
    if (live && mark > 0) live.textContent = mark + (mark === 1 ? " minute" : " minutes") + " left to pay before your seats are released.";
  }
  function tick() {
    var s = left();
    el.textContent = fmt(s);
    announce(s);
    if (s <= 60) el.parentElement.classList.add("urgent");
    if (s === 0) { setTimeout(function () { window.location.reload(); }, 1500); return; }
    setTimeout(tick, 1000);
  }
  // Other scripts (payment) may move the deadline when the hold is extended; that is not announced
  // on its own, the next whole minute is.
  window.surgeSetDeadline = function (isoOrSeconds) {
    deadline = typeof isoOrSeconds === "number" ? Date.now() + isoOrSeconds * 1000 : Date.parse(isoOrSeconds);
    lastMark = minutesMark(left());
  };
  tick();
})();
