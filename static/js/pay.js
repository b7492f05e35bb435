// The checkout's payment. Opens Razorpay Checkout; the handler's ids go to our verify endpoint
// (CSRF-protected). Whenever the payment window closes after an attempt, or verifying fails, the
// page asks the server where the order really stands (the status endpoint) instead of guessing
// from what the window said: a late payment may still go through, so while the bank has not
// answered the page says so, offers no second payment, keeps asking, and opens the ticket itself.
(function () {
  var config = document.getElementById("pay-config");
  if (!config) return;
  var button = document.getElementById("pay-button");
  var statusEl = document.getElementById("pay-status");
  var optionsEl = document.getElementById("checkout-options");
  var csrfInput = config.querySelector("input[name=csrfmiddlewaretoken]");
  var WAITING = "Waiting for your bank to confirm the payment…";
  var POLL_FIRST = 3000, POLL_MAX = 15000;
  // A bank can take much longer than the page can wait: after a while the page says the buyer
  // may leave, since the outcome (tickets, or a full refund) comes by email either way.
  var LONG_WAIT_MS = 5 * 60 * 1000, pendingSince = null;
  var LONG_WAIT = " Your bank is taking a while. You can close this page: we email your tickets when it says yes, or refund you in full if the seats are gone by then.";
  var pollDelay = POLL_FIRST, pollTimer = null;

  // Progress goes to the polite status region; an error also takes the focus, so it is read at once.
  function say(text, isError) {
    statusEl.textContent = text;
    if (isError) statusEl.focus();
  }
  function allowPay(on) { if (button) button.disabled = !on; }
  function retryAfter(response) {
    var seconds = parseInt(response.headers.get("Retry-After"), 10);
    return seconds > 0 ? seconds * 1000 : null;
  }
  function answer(response) {
    return response.json().then(
      function (body) { return { ok: response.ok, status: response.status, wait: retryAfter(response), body: body }; },
      function () { return { ok: false, status: response.status, wait: retryAfter(response), body: {} }; }
    );
  }
  function post(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfInput.value, "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(data || {}).toString()
    }).then(answer);
  }

  // --- Where the order stands ----------------------------------------------------------------
  // `payableText`: what to say when the server says the buyer may pay (again).
  var payableText = "";

  function poll(delay) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(checkStatus, delay);
    pollDelay = Math.min(POLL_MAX, Math.round(pollDelay * 1.5));
  }

  function checkStatus() {
    clearTimeout(pollTimer);
    fetch(config.dataset.statusUrl, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(answer)
      .then(function (result) {
        if (result.status === 404) { window.location.reload(); return; }  // the hold is gone: the page says why
        if (!result.ok) {
          // The gateway is not answering (503) or we are asked to slow down: nothing is known, so
          // nothing is offered; ask again when told to.
          if (!statusEl.textContent) say("Checking your payment with the bank…");
          allowPay(false);
          poll(result.wait || pollDelay);
          return;
        }
        show(result.body);
      })
      .catch(function () { allowPay(false); poll(pollDelay); });
  }

  function show(state) {
    if (state.state === "confirmed" && state.redirect) {
      say("Payment confirmed. Opening your tickets…");
      window.location.assign(state.redirect);
      return;
    }
    if (state.state === "pending" || state.state === "confirming") {
      if (state.state === "pending" && pendingSince === null) pendingSince = Date.now();
      var waited = pendingSince !== null && Date.now() - pendingSince > LONG_WAIT_MS;
      say(state.state === "pending" ? WAITING + " Please do not pay again: this page moves on by itself." + (waited ? LONG_WAIT : "") : state.message);
      allowPay(false);
      poll(pollDelay);
      return;
    }
    if (state.can_pay) {
      say(payableText || state.message);
      allowPay(true);
      return;
    }
    say(state.message, true);  // released, expired or refunded: nothing more to pay
    allowPay(false);
    window.setTimeout(function () { window.location.reload(); }, 4000);
  }

  function afterAttempt(text) {
    payableText = text;
    allowPay(false);
    pollDelay = POLL_FIRST;
    checkStatus();
  }

  // Loaded while the bank has not answered (or the booking is being made): keep asking.
  if (config.dataset.state === "pending" || config.dataset.state === "confirming") poll(pollDelay);
  if (!button || !optionsEl) return;

  // --- Paying --------------------------------------------------------------------------------
  var options = JSON.parse(optionsEl.textContent);
  options.handler = function (response) {
    say("Payment received, confirming your tickets…");
    allowPay(false);
    post(config.dataset.verifyUrl, response).then(function (result) {
      if (result.body.status === "confirmed" && result.body.redirect) { window.location.assign(result.body.redirect); return; }
      if (!result.ok) say(result.body.detail || "We could not confirm the payment yet.", true);
      afterAttempt("We could not confirm that payment. If money left your account it will be refunded. Your seats are still held; you can pay again.");
    }).catch(function () { afterAttempt(""); });
  };
  options.modal = {
    ondismiss: function () { afterAttempt("Payment cancelled. Your seats are still held; you can pay again."); }
  };

  button.addEventListener("click", function () {
    allowPay(false);
    say("Opening the payment window…");
    post(config.dataset.startUrl).then(function (result) {
      if (result.status === 409) {  // a payment may still go through: no second one
        say(result.body.detail || WAITING, true);
        afterAttempt("");
        return;
      }
      if (!result.ok) {
        say(result.body.detail || "This hold can no longer be paid.", true);
        if (result.status === 503) setTimeout(function () { allowPay(true); }, result.wait || 10000);
        return;
      }
      if (window.surgeSetDeadline) window.surgeSetDeadline(result.body.seconds_left);
      var rzp = new window.Razorpay(options);
      rzp.on("payment.failed", function (response) {
        var reason = (response.error && response.error.description) || "declined";
        say("Payment failed: " + reason + ". You can try again.");  // no focus: the payment window has it
        // The window stays open for another try; the server still decides whether Pay is offered.
        payableText = "Payment failed: " + reason + ". You can try again.";
      });
      rzp.open();
      say("");
    }).catch(function () { say("Network problem, please try again.", true); allowPay(true); });
  });
})();
