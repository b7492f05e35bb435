/* Razorpay Checkout, emulated: the same interface as https://checkout.razorpay.com/v1/checkout.js.
 *
 *   var rzp = new Razorpay({key, order_id, name, description, amount, currency, prefill, notes, theme,
 *                           handler, modal: {ondismiss, escape}, callback_url, redirect});
 *   rzp.on("payment.failed", function (response) { response.error.code ... });
 *   rzp.open();
 *
 * open() lays an overlay over the page holding an iframe served by the emulator (as Razorpay's does),
 * where the buyer chooses to pay or to fail; the iframe talks back through postMessage. The payment
 * signature is computed by the emulator, never here.
 */
(function () {
  "use strict";
  var KEY_ID = __RZPEMU_KEY_ID__;
  var script = document.currentScript;
  var BASE = script && script.src ? new URL(script.src).origin : "";

  function Razorpay(options) {
    if (!(this instanceof Razorpay)) return new Razorpay(options);
    if (!options || !options.key) throw new Error("Razorpay: the 'key' option is mandatory");
    if (!options.order_id) throw new Error("Razorpay: the 'order_id' option is mandatory");
    if (options.key !== KEY_ID) {
      console.error("Razorpay emulator: key " + options.key + " is not the key this emulator is configured with");
    }
    this.options = options;
    this._listeners = {};
    this._overlay = null;
    this._onMessage = null;
  }

  Razorpay.prototype.on = function (event, fn) {
    (this._listeners[event] = this._listeners[event] || []).push(fn);
    return this;
  };

  Razorpay.prototype._emit = function (event, payload) {
    (this._listeners[event] || []).forEach(function (fn) {
      try { fn(payload); } catch (e) { setTimeout(function () { throw e; }); }
    });
  };

  Razorpay.prototype.open = function () {
    if (this._overlay) return this;
    var o = this.options, self = this;
    var params = {
      key: o.key, order_id: o.order_id, name: o.name || "", description: o.description || "",
      amount: o.amount, currency: o.currency || "INR", prefill: o.prefill || {}, notes: o.notes || {},
      theme: o.theme || {}, escape: !(o.modal && o.modal.escape === false)
    };
    var overlay = document.createElement("div");
    overlay.id = "rzp-emu-container";
    overlay.className = "razorpay-container";
    var s = overlay.style;  /* CSSOM, not a style attribute: allowed by a strict CSP */
    s.position = "fixed"; s.top = "0"; s.left = "0"; s.right = "0"; s.bottom = "0"; s.zIndex = "2147483647";
    s.display = "flex"; s.alignItems = "center"; s.justifyContent = "center";
    s.background = (o.theme && o.theme.backdrop_color) || "rgba(0, 0, 0, 0.6)";
    var frame = document.createElement("iframe");
    frame.id = "rzp-emu-frame";
    frame.name = "rzp-emu-frame";
    frame.title = "Razorpay Checkout (emulator)";
    frame.src = BASE + "/_emulator/checkout/modal?origin=" + encodeURIComponent(location.origin) +
      "&options=" + encodeURIComponent(JSON.stringify(params));
    var f = frame.style;
    f.width = "380px"; f.maxWidth = "100%"; f.height = "560px"; f.maxHeight = "100%"; f.border = "0";
    f.borderRadius = "8px"; f.background = "#fff"; f.boxShadow = "0 10px 40px rgba(0, 0, 0, 0.4)";
    overlay.appendChild(frame);
    document.body.appendChild(overlay);
    this._overlay = overlay;

    this._onMessage = function (event) {
      if (event.origin !== BASE || event.source !== frame.contentWindow) return;
      var message = event.data || {};
      if (message.type === "rzpemu:success") {
        self._close();
        self._succeed(message.response);
      } else if (message.type === "rzpemu:failed") {
        self._emit("payment.failed", message.response);
      } else if (message.type === "rzpemu:dismiss") {
        self._close();
        if (o.modal && typeof o.modal.ondismiss === "function") o.modal.ondismiss();
      }
    };
    window.addEventListener("message", this._onMessage);
    return this;
  };

  Razorpay.prototype._succeed = function (response) {
    var o = this.options;
    if (o.callback_url && o.redirect !== false) {
      var form = document.createElement("form");
      form.method = "POST";
      form.action = o.callback_url;
      ["razorpay_payment_id", "razorpay_order_id", "razorpay_signature"].forEach(function (name) {
        var input = document.createElement("input");
        input.type = "hidden"; input.name = name; input.value = response[name];
        form.appendChild(input);
      });
      document.body.appendChild(form);
      form.submit();
    } else if (typeof o.handler === "function") {
      o.handler(response);
    }
  };

  Razorpay.prototype._close = function () {
    if (this._onMessage) window.removeEventListener("message", this._onMessage);
    if (this._overlay && this._overlay.parentNode) this._overlay.parentNode.removeChild(this._overlay);
    this._overlay = null;
    this._onMessage = null;
  };

  Razorpay.prototype.close = function () { this._close(); };

  window.Razorpay = Razorpay;
})();
