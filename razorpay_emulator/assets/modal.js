/* The emulator's checkout modal (inside the iframe): asks the emulator to pay, tells the host page. */
(function () {
  "use strict";
  var data = document.body.dataset;
  var parentOrigin = data.origin && data.origin !== "null" ? data.origin : "*";
  var status = document.getElementById("rzp-emu-status");
  var buttons = ["rzp-emu-pay-success", "rzp-emu-pay-failure", "rzp-emu-pay-late"].map(function (id) {
    return document.getElementById(id);
  });

  function post(type, response) { window.parent.postMessage({ type: type, response: response }, parentOrigin); }
  function show(message, kind) { status.textContent = message; status.className = "status " + kind; }
  function busy(on) { buttons.forEach(function (b) { b.disabled = on; }); }

  function pay(outcome) {
    busy(true);
    show("Processing payment…", "info");
    var notes = {};
    try { notes = JSON.parse(data.notes || "{}"); } catch (e) { notes = {}; }
    fetch("/_emulator/orders/" + encodeURIComponent(data.orderId) + "/pay", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        outcome: outcome, key_id: data.key, email: data.email || null, contact: data.contact || null,
        method: data.method || null, notes: notes
      })
    }).then(function (r) {
      return r.json().then(function (body) { return { status: r.status, body: body }; });
    }).then(function (res) {
      var body = res.body;
      if (body.razorpay_signature) {
        show("Payment successful", "ok");
        post("rzpemu:success", body);
      } else if (body.status === "pending") {
        show("Waiting for your bank to confirm the payment… You may close this window.", "info");
        post("rzpemu:pending", body);
      } else if (res.status === 200 && body.error) {
        show(body.error.description + " You can try again.", "error");
        post("rzpemu:failed", body);
        busy(false);
      } else {
        show((body.error && body.error.description) || "Something went wrong", "error");
        busy(false);
      }
    }).catch(function () {
      show("Could not reach the payment server. Try again.", "error");
      busy(false);
    });
  }

  document.getElementById("rzp-emu-pay-success").addEventListener("click", function () { pay("success"); });
  document.getElementById("rzp-emu-pay-failure").addEventListener("click", function () { pay("failure"); });
  document.getElementById("rzp-emu-pay-late").addEventListener("click", function () { pay("late"); });
  document.getElementById("rzp-emu-close").addEventListener("click", function () { post("rzpemu:dismiss"); });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && data.escape === "true") post("rzpemu:dismiss");
  });
})();
