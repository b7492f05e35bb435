// Opens the Razorpay Checkout modal. The handler's ids go to our verify endpoint (CSRF-protected);
// a failure or a closed modal lets the buyer try again while the hold lasts.
(function () {
  var button = document.getElementById("pay-button");
  if (!button) return;
  var options = JSON.parse(document.getElementById("checkout-options").textContent);
  var config = document.getElementById("pay-config");
  var csrf = config.querySelector("input[name=csrfmiddlewaretoken]").value;
  var statusEl = document.getElementById("pay-status");

  function say(text) { statusEl.textContent = text; }
  function post(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(data || {}).toString()
    }).then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); });
  }

  options.handler = function (response) {
    say("Payment received, confirming your tickets…");
    button.disabled = true;
    post(config.dataset.verifyUrl, response).then(function (result) {
      if (result.body.redirect) { window.location.assign(result.body.redirect); return; }
      say(result.body.detail || "We could not confirm the payment. If money left your account it will be refunded.");
      button.disabled = false;
    }).catch(function () { window.location.reload(); });
  };
  options.modal = { ondismiss: function () { say("Payment cancelled. Your seats are still held; you can pay again."); button.disabled = false; } };

  button.addEventListener("click", function () {
    button.disabled = true;
    say("Opening the payment window…");
    post(config.dataset.startUrl).then(function (result) {
      if (!result.ok) { say(result.body.detail || "This hold can no longer be paid."); return; }
      if (window.surgeSetDeadline) window.surgeSetDeadline(result.body.seconds_left);
      var rzp = new window.Razorpay(options);
      rzp.on("payment.failed", function (response) {
        say("Payment failed: " + (response.error && response.error.description || "declined") + ". You can try again.");
        button.disabled = false;
      });
      rzp.open();
      say("");
    }).catch(function () { say("Network problem, please try again."); button.disabled = false; });
  });
})();
