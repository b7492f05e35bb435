// The form without the seat map's script (templates/booking/seat_map.html): re-checks the seats the
// buyer had chosen when the form comes back with an error, and keeps the bar's summary (seats, total)
// up to date. Without JavaScript the form works all the same; the bar then only holds the button.
(function () {
  "use strict";
  var form = document.getElementById("hold-form"), summary = document.getElementById("sm-chosen");
  if (!form || !summary) return;
  var data = document.getElementById("chosen-seats");
  var chosen = data ? JSON.parse(data.textContent) : [];
  chosen.forEach(function (label) {
    var box = form.querySelector('input[name="seat"][value="' + CSS.escape(label) + '"]');
    if (box && !box.disabled) box.checked = true;
  });
  var whole = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR", minimumFractionDigits: 0, maximumFractionDigits: 0 });
  var exact = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR" });
  function rupees(p) { return (p % 100 ? exact : whole).format(p / 100); }
  var empty = summary.textContent;

  function show() {
    var boxes = form.querySelectorAll('input[name="seat"]:checked'), labels = [], total = 0;
    for (var i = 0; i < boxes.length; i++) {
      labels.push(boxes[i].value);
      total += parseInt(boxes[i].closest("[data-price]").getAttribute("data-price"), 10);
    }
    summary.textContent = labels.length
      ? (labels.length === 1 ? "1 seat: " : labels.length + " seats: ") + labels.join(", ") + " \u00b7 " + rupees(total)
      : empty;
  }
  form.addEventListener("change", function (e) { if (e.target.name === "seat") show(); });
  show();
})();
