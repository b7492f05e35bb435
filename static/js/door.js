// The door. A code, scanned with the camera or typed (a handheld scanner types it too), gets a
// large green or red answer at once.
// - Online, the server answers (JSON from the door view: services.check_in, exactly once).
// - Offline, the phone answers itself: it checks the code's HMAC with the event's door key
//   (tickets.door_key, fetched with the attendee manifest while online; WebCrypto, the same
//   computation as tickets._signature), names the seat and buyer from the manifest, says red for a
//   seat it let in already, and queues the check-in in localStorage (a reload keeps it).
// - Back online (the "online" event, and a retry every 15 s), the queue goes to the sync endpoint
//   (services.sync_check_ins) and the page says which scans were duplicates: let in elsewhere first.
// The camera: BarcodeDetector where the browser has it for QR codes, else jsQR (static/vendor/jsqr).
// Without JavaScript the form posts and the server's page answers.
(function () {
  "use strict";
  var door = document.getElementById("door"), form = document.getElementById("door-form");
  if (!door || !form) return;
  var answer = document.getElementById("door-answer"), status = document.getElementById("door-sync");
  var ready = document.getElementById("door-offline-ready");
  if (!answer.hidden) answer.focus();
  if (!window.fetch || !window.JSON) return; // the form posts as it is

  // TIMEOUT_MS: the server's answer or the phone's own, within a second (a slow server's scan is
  // answered here and queued, the sync makes it count once); after a failed request the phone
  // answers itself for OFFLINE_MS, so the next scans wait for nothing.
  var VERSION = "T1", SIGNATURE_CHARS = 20, BATCH = 200, TIMEOUT_MS = 900, OFFLINE_MS = 30000, RETRY_MS = 15000;
  var SYNC_TIMEOUT_MS = 30000; // a whole batch: a sync cut short is sent again, and finds its own check-ins
  var eventId = door.dataset.event, zone = door.dataset.zone, zoneName = door.dataset.zoneName;
  var STORE = "surge.door." + eventId + ".";
  var manifest = load("manifest", null); // {key, seats: {booked seat id: [label, buyer, clock, gate, cancelled]}}
  var queue = load("queue", []); // [{code, gate, scanned_at (ms)}]: offline check-ins not yet synced
  var seen = load("seen", {}); // booked seat id -> {clock, gate, here}: known in, by this phone or the server
  var report = ""; // what the last sync found
  // The gate typed last, kept on the phone: offline scans post nothing that would set its cookie.
  if (load("gate", "")) form.elements.gate.value = load("gate", "");
  form.elements.gate.addEventListener("input", function () { save("gate", gate()); });
  var syncing = false, hmacKey = null, offlineUntil = 0;

  function load(name, fallback) {
    try {
      var text = window.localStorage.getItem(STORE + name);
      return text ? JSON.parse(text) : fallback;
    } catch (e) { return fallback; }
  }
  function save(name, value) {
    try { window.localStorage.setItem(STORE + name, JSON.stringify(value)); } catch (e) { /* full: the queue stays in memory */ }
  }
  function gate() { return (form.elements.gate.value || "").trim().slice(0, 40) || "Gate 1"; }
  function csrf() { return form.elements.csrfmiddlewaretoken.value; }
  function clock(ms) {
    var time = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: zone }).format(ms);
    return zoneName ? time + " " + zoneName : time;
  }

  // --- The answer, in large type ------------------------------------------------------------
  function show(green, big, detail, offline) {
    answer.className = "door-answer " + (green ? "door-green" : "door-red");
    answer.textContent = "";
    [[big, "door-big"], [detail, ""], [offline ? "Offline: will sync when the network is back." : "", "door-offline"]].forEach(function (line) {
      if (!line[0]) return;
      var p = document.createElement("p");
      if (line[1]) p.className = line[1];
      p.textContent = line[0];
      answer.appendChild(p);
    });
    answer.hidden = false;
    answer.focus();
  }
  function showServer(r) {
    if (r.outcome === "admitted") show(true, "Seat " + r.seat + ", " + r.buyer, "Let them in.");
    else if (r.outcome === "already_in") show(false, "Already checked in at " + r.clock + (r.gate ? " at " + r.gate : ""), "Seat " + r.seat + " · " + r.buyer);
    else if (r.outcome === "other_event") show(false, "Not a ticket for this event", "It is a genuine ticket (" + r.seat + ") for another event.");
    else if (r.outcome === "cancelled") show(false, "Cancelled", "Seat " + r.seat + " · " + r.buyer);
    else show(false, "Not a ticket", "The code is not one of ours: damaged, typed wrong or forged.");
  }
  function showStatus() {
    var waiting = queue.length ? queue.length + (queue.length === 1 ? " scan" : " scans") + " waiting to sync." : "";
    status.textContent = [report, waiting].filter(Boolean).join(" ");
    status.hidden = !status.textContent;
  }

  // --- Reading a code: tickets.read's twin ---------------------------------------------------
  function parse(text) {
    var parts = text.trim().split(".");
    if (parts.length !== 6 || parts[0] !== VERSION || !/^\d+$/.test(parts[1]) || !/^\d+$/.test(parts[2])) return null;
    return { event: parts[1], seat: parts[2], label: parts[3], payload: parts.slice(0, 5).join("."), signature: parts[5] };
  }
  function base32(bytes) {
    var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", out = "", bits = 0, value = 0;
    for (var i = 0; i < bytes.length; i++) {
      value = ((value << 8) | bytes[i]) & 0xffff;
      bits += 8;
      while (bits >= 5) { out += alphabet[(value >>> (bits - 5)) & 31]; bits -= 5; }
    }
    if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
    return out;
  }
  function signatureOk(code) {
    if (!manifest || !window.crypto || !window.crypto.subtle) return Promise.resolve(null); // cannot tell
    if (!hmacKey) {
      var raw = Uint8Array.from(window.atob(manifest.key), function (c) { return c.charCodeAt(0); });
      hmacKey = window.crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    }
    return hmacKey.then(function (key) {
      return window.crypto.subtle.sign("HMAC", key, new TextEncoder().encode(code.payload));
    }).then(function (digest) {
      return base32(new Uint8Array(digest)).slice(0, SIGNATURE_CHARS) === code.signature;
    });
  }

  // --- Offline: the phone answers and queues ---------------------------------------------------
  var offlineTurn = Promise.resolve(); // one offline answer at a time: two quick scans of one seat give one green
  function offline(text) {
    offlineTurn = offlineTurn.then(function () { return answerOffline(text); }).catch(function () {
      show(false, "Cannot check offline", "This phone could not check the code: scan it again.", true);
    });
  }
  function answerOffline(text) {
    var code = parse(text);
    if (!code) { show(false, "Not a ticket", "The code is not one of ours: damaged, typed wrong or forged.", true); return; }
    if (code.event !== eventId) { show(false, "Not a ticket for this event", "It reads as a ticket (" + code.label + ") for another event.", true); return; }
    return signatureOk(code).then(function (ok) {
      if (ok === null) { show(false, "Cannot check offline", "Open this page once while online so the phone can check codes itself.", true); return; }
      if (!ok) { show(false, "Not a ticket", "The code is not one of ours: damaged, typed wrong or forged.", true); return; }
      var known = manifest.seats[code.seat] || [code.label, "", "", "", false];
      if (known[4]) { show(false, "Cancelled", "Seat " + known[0] + ": this ticket was cancelled. Send them to the box office.", true); return; }
      var before = seen[code.seat] || (known[2] ? { clock: known[2], gate: known[3], here: false } : null);
      if (before) {
        if (before.here && before.gate === gate()) show(false, "Already scanned at this gate at " + before.clock, "Seat " + known[0] + (known[1] ? " · " + known[1] : ""), true);
        else show(false, "Already checked in at " + before.clock + (before.gate ? " at " + before.gate : ""), "Seat " + known[0] + (known[1] ? " · " + known[1] : ""), true);
        return;
      }
      var now = Date.now();
      queue.push({ code: text.trim(), gate: gate(), scanned_at: now });
      save("queue", queue);
      seen[code.seat] = { clock: clock(now), gate: gate(), here: true };
      save("seen", seen);
      show(true, "Seat " + known[0] + (known[1] ? ", " + known[1] : ""), "Let them in.", true);
      showStatus();
    });
  }

  // --- Online: the server answers ----------------------------------------------------------------
  function post(url, body, contentType, timeout) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller && window.setTimeout(function () { controller.abort(); }, timeout);
    var headers = { Accept: "application/json", "X-CSRFToken": csrf() };
    if (contentType) headers["Content-Type"] = contentType;
    return window.fetch(url, {
      method: "POST", body: body, headers: headers, credentials: "same-origin", redirect: "manual",
      signal: controller ? controller.signal : undefined
    }).finally(function () { if (timer) window.clearTimeout(timer); });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = form.elements.code.value, data = new FormData(form);
    form.elements.code.value = "";
    if (!text.trim()) return;
    if (!navigator.onLine || Date.now() < offlineUntil) { offline(text); return; }
    post(form.action, data, null, TIMEOUT_MS).then(function (response) {
      if (response.status === 403 || response.type === "opaqueredirect") { show(false, "Signed out", "Sign in again as door staff, then scan again."); return; }
      if (!response.ok) throw new Error("door " + response.status);
      return response.json().then(function (r) {
        var code = parse(text);
        if (code && (r.outcome === "admitted" || r.outcome === "already_in")) {
          seen[code.seat] = { clock: r.clock, gate: r.gate, here: r.outcome === "admitted" };
          save("seen", seen);
        }
        showServer(r);
      });
    }).catch(function () { offlineUntil = Date.now() + OFFLINE_MS; offline(text); }); // the network went as we scanned
  });

  // --- Sync: the queue goes to the server once the network is back ----------------------------
  function sync() {
    if (syncing || !queue.length || !navigator.onLine) { showStatus(); return; }
    syncing = true;
    var batch = queue.slice(0, BATCH);
    post(door.dataset.syncUrl, JSON.stringify({ scans: batch }), "application/json", SYNC_TIMEOUT_MS).then(function (response) {
      if (response.status === 403 || response.type === "opaqueredirect") throw new Error("Sign in again as door staff to sync.");
      if (!response.ok) throw new Error("The sync was refused (" + response.status + "); it is tried again.");
      return response.json();
    }).then(function (data) {
      offlineUntil = 0; // the server answers again
      queue.splice(0, batch.length);
      save("queue", queue);
      var duplicates = [], invalid = [];
      data.results.forEach(function (r) {
        var code = parse(r.code);
        if (r.sync === "duplicate") duplicates.push("Seat " + r.seat + " (already checked in at " + r.clock + (r.gate ? " at " + r.gate : "") + ")");
        else if (r.sync === "not_valid") invalid.push(r.seat ? "Seat " + r.seat : r.code.slice(0, 24));
        if (code && r.checked_in_at) seen[code.seat] = { clock: r.clock, gate: r.gate, here: r.sync === "admitted" };
      });
      save("seen", seen);
      var parts = ["Synced " + data.results.length + (data.results.length === 1 ? " scan." : " scans.")];
      if (duplicates.length) parts.push(duplicates.length + (duplicates.length === 1 ? " scan was a duplicate: " : " scans were duplicates: ") + duplicates.join(", ") + ".");
      if (invalid.length) parts.push(invalid.length + (invalid.length === 1 ? " scan was not valid: " : " scans were not valid: ") + invalid.join(", ") + ".");
      report = parts.join(" ");
      syncing = false;
      if (queue.length) sync(); else showStatus();
    }).catch(function (error) {
      syncing = false;
      report = error && error.message && error.message.indexOf("Sign in") === 0 ? error.message : report;
      showStatus();
    });
  }

  // --- The manifest and the door key, while online ------------------------------------------------
  function refreshManifest() {
    if (!navigator.onLine) return;
    window.fetch(door.dataset.manifestUrl, { headers: { Accept: "application/json" }, credentials: "same-origin", redirect: "manual" })
      .then(function (response) { if (!response.ok) throw new Error("manifest " + response.status); return response.json(); })
      .then(function (data) {
        if (String(data.event) !== eventId) return;
        offlineUntil = 0; // the server answers again
        if (!manifest || manifest.key !== data.key) hmacKey = null;
        manifest = { key: data.key, seats: data.seats };
        save("manifest", manifest);
        var count = Object.keys(data.seats).length;
        ready.textContent = "Ready to scan offline: " + count + (count === 1 ? " seat" : " seats") + " known, updated " + clock(Date.now()) + ".";
        ready.hidden = false;
        door.dataset.offlineReady = "1";
      }).catch(function () { /* offline again, or signed out: the stored manifest stays */ });
  }

  window.addEventListener("online", function () { offlineUntil = 0; sync(); refreshManifest(); });
  window.addEventListener("offline", showStatus);
  window.setInterval(sync, RETRY_MS);
  window.setInterval(refreshManifest, 60000);
  refreshManifest();
  sync();
  // The service worker keeps this page and its files, so it opens again without the network.
  if (navigator.serviceWorker && window.isSecureContext) {
    navigator.serviceWorker.register(door.dataset.workerUrl).catch(function () { /* online only, then */ });
  }

  // --- The camera ------------------------------------------------------------------------------
  var scan = document.getElementById("door-scan"), video = document.getElementById("door-video");
  if (!scan || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  function nativeDetector() {
    if (!("BarcodeDetector" in window)) return Promise.resolve(null);
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") < 0) return null;
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      return function () { return detector.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : null; }); };
    }, function () { return null; });
  }
  function jsQRDetector() {
    return new Promise(function (resolve, reject) {
      if (window.jsQR) { resolve(); return; }
      var script = document.createElement("script");
      script.src = door.dataset.jsqrUrl;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    }).then(function () {
      var canvas = document.createElement("canvas"), context = canvas.getContext("2d", { willReadFrequently: true });
      return function () {
        var width = video.videoWidth, height = video.videoHeight;
        if (!width || !height) return Promise.resolve(null);
        canvas.width = width;
        canvas.height = height;
        context.drawImage(video, 0, 0, width, height);
        var found = window.jsQR(context.getImageData(0, 0, width, height).data, width, height, { inversionAttempts: "dontInvert" });
        return Promise.resolve(found ? found.data : null);
      };
    });
  }
  scan.hidden = false;
  scan.addEventListener("click", function () {
    Promise.all([
      nativeDetector().then(function (native) { return native || jsQRDetector(); }),
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } })
    ]).then(function (got) {
      var detect = got[0], stream = got[1];
      video.srcObject = stream;
      video.hidden = false;
      return video.play().then(function () {
        function look() {
          detect().then(function (text) {
            if (!text) { window.setTimeout(look, 120); return; }
            stream.getTracks().forEach(function (track) { track.stop(); });
            video.hidden = true;
            form.elements.code.value = text;
            form.requestSubmit();
          }, function () { window.setTimeout(look, 120); });
        }
        look();
      });
    }).catch(function () { scan.hidden = true; form.elements.code.focus(); });
  });
})();
