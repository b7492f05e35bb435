// The seat map, drawn from documents (apps/booking/seatmap.py): the layout (rows and seat numbers,
// cached for good under its version) and the availability (only the seats that are not free),
// which the browser revalidates with its ETag, so an unchanged map costs a 304.
// Small venues show every section; large ones an overview of the sections and one section at a time.
// Each section's seats are an ARIA grid (rows of cells, each cell a button with role=checkbox) with
// one roving tabindex for the whole map: the seats are one Tab stop, the arrow keys move (across rows
// and sections), Space or Enter chooses. A bar stuck to the bottom of the screen always shows the
// seats chosen, their total and the Hold button. The hold itself is the check: a seat taken
// meanwhile is named.
(function () {
  "use strict";
  var configEl = document.getElementById("seatmap-config");
  if (!configEl || !window.fetch || !window.Promise) return;
  var cfg = JSON.parse(configEl.textContent);
  var $ = function (id) { return document.getElementById(id); };
  var root = $("seatmap"), seatsEl = $("sm-seats"), navEl = $("sm-sections"), statusEl = $("sm-status");
  var chosenEl = $("sm-chosen"), errorEl = $("sm-error"), form = $("hold-form"), holdButton = $("sm-hold");
  var hall = $("sm-hall"), scrollHint = $("sm-scroll-hint");
  var FIELDS = { name: "Name", email: "Email", phone: "Phone" };
  var POLL_MS = 15000;
  // Each gated request renews the buyer's place inside the waiting room: a page left open must not
  // keep it for ever, so polling stops after IDLE_MS without a key, click or touch (and resumes on one).
  var IDLE_MS = 120000;
  var lastActive = Date.now();
  var STATES = ["held", "sold", "blocked"];

  var layoutPromise = null;
  var sections = {};   // id -> layout section {id, name, price, seats, rows}
  var labels = {};     // "<row>-<number>" -> label, where the label is something else
  var buttons = {};    // label -> the button on screen
  var painted = {};    // label -> state painted on screen ("held", "sold", "blocked"); absent = free
  var chosen = [];     // labels, in the order chosen
  var prices = {};     // label -> price of a chosen seat (paise)
  var seen = {};       // url -> last text applied
  var current = null;  // the section picked (large venues)
  var drawn = null;    // the section whose seats are on screen
  var onSale = cfg.on_sale;
  root.hidden = false;
  $("sm-skip").hidden = false;
  form.noValidate = true;  // the script checks the details itself, names what is missing and moves focus there

  // Amounts and counts in Indian English (₹1,500, ₹1,00,000; 1,600 left). The first Intl formatter a page
  // makes loads the browser's locale data (~20 ms of main thread, ~80 on a slow phone), so they are made
  // on first use, which startup arranges while the first documents are still on their way.
  var formats = null;
  function format(kind) {
    if (!formats) {
      formats = {
        whole: new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR", minimumFractionDigits: 0, maximumFractionDigits: 0 }),
        exact: new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR" }),
        count: new Intl.NumberFormat("en-IN")
      };
    }
    return formats[kind];
  }
  function rupees(p) { return format(p % 100 ? "exact" : "whole").format(p / 100); }  // paise: ₹1,500 or ₹1,500.50
  function group(n) { return format("count").format(n); }
  function esc(text) {
    return String(text).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; });
  }
  function say(text) { statusEl.textContent = text; }
  // Errors go to the bar, which is always on screen. Options: `focus` moves focus to the message (a
  // refused hold), `links` names fields to go to, `prompt` says what comes next rather than what went wrong.
  function showError(text, options) {
    var o = options || {}, links = o.links;
    errorEl.textContent = "";
    errorEl.hidden = !text;
    errorEl.classList.toggle("prompt", !!o.prompt);
    if (!text) return;
    var p = document.createElement("p");
    p.textContent = text;
    errorEl.appendChild(p);
    if (links && links.length) {
      var ul = document.createElement("ul");
      links.forEach(function (link) {
        var li = document.createElement("li"), a = document.createElement("a");
        a.href = "#sm-" + link.field;
        a.textContent = link.text;
        li.appendChild(a);
        ul.appendChild(li);
      });
      errorEl.appendChild(ul);
    }
    if (o.focus) errorEl.focus();
  }
  function labelOf(row, n) { var key = row + "-" + n; return labels[key] || key; }
  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name.replace(/[.$?*|{}()[\]\\/+^]/g, "\\$&") + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  function toQueue(queueUrl) {
    window.location.assign(queueUrl + "?next=" + encodeURIComponent(window.location.pathname + window.location.search));
  }

  // GET a document; resolves with its text, or (unless `always`) null when it is what was applied last time.
  function getDoc(url, always) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (r.status === 429) {
        return r.json().then(function (b) {
          if (b.queue_url) toQueue(b.queue_url);
          throw new Error(b.detail || "busy");
        });
      }
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.text();
    }).then(function (text) {
      if (seen[url] === text && !always) return null;
      seen[url] = text;
      return text;
    });
  }

  function loadLayout() {
    if (!layoutPromise) {
      layoutPromise = fetch(cfg.layout, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      }).then(function (doc) {
        labels = doc.labels || {};
        doc.sections.forEach(function (s) { sections[s.id] = s; });
        return doc;
      });
      layoutPromise.catch(function () { layoutPromise = null; });
    }
    return layoutPromise;
  }

  // --- drawing ----------------------------------------------------------------------------

  function sectionHTML(s) {
    var price = rupees(s.price);
    var h = ['<section class="sm-section" data-s="', s.id, '"><h2 id="sm-h-', s.id, '" tabindex="-1">', esc(s.name),
      " \u00b7 ", price, ' <span class="small" id="sm-left-', s.id, '"></span></h2>',
      '<div class="sm-grid" role="grid" aria-labelledby="sm-h-', s.id, '" aria-describedby="sm-help">'];
    s.rows.forEach(function (row) {
      var r = esc(row[0]), label = '<span class="row-label" aria-hidden="true">' + r + "</span>";
      h.push('<div class="row" role="row">', label);
      for (var i = 1; i < row.length; i += 2) {
        for (var n = row[i], end = row[i] + row[i + 1]; n < end; n++) {
          h.push('<span role="gridcell"><button type="button" class="sm-seat" role="checkbox" aria-checked="false" tabindex="-1" data-l="',
            esc(labelOf(row[0], n)), '" aria-label="Row ', r, " seat ", n, ", ", price, ', available">', n, "</button></span>");
        }
      }
      h.push(label.replace('"row-label"', '"row-label end"'), "</div>");
    });
    h.push("</div></section>");
    return h.join("");
  }

  function draw(list) {
    seatsEl.innerHTML = list.map(sectionHTML).join("");
    hall.hidden = false;
    buttons = {};
    painted = {};
    var all = seatsEl.querySelectorAll(".sm-seat");
    for (var i = 0; i < all.length; i++) {
      var b = all[i], l = b.getAttribute("data-l");
      buttons[l] = b;
      if (chosen.indexOf(l) >= 0) b.setAttribute("aria-checked", "true");
    }
    fitWidth(null);
  }

  // Rows wider than the screen scroll sideways, and the page says so; a map just drawn opens on its
  // middle, under the stage (the row labels stay at both edges).
  function fitWidth(e) {
    var wide = !hall.hidden && hall.scrollWidth > hall.clientWidth + 1;
    scrollHint.hidden = !wide;
    if (wide && !e) hall.scrollLeft = (hall.scrollWidth - hall.clientWidth) / 2;
  }
  window.addEventListener("resize", fitWidth);

  function paint(b, state) {
    b.className = state ? "sm-seat " + state : "sm-seat";
    var a = b.getAttribute("aria-label");
    b.setAttribute("aria-label", a.slice(0, a.lastIndexOf(", ") + 2) + (state || "available"));
    if (state) b.setAttribute("aria-disabled", "true"); else b.removeAttribute("aria-disabled");
  }

  // One Tab stop for all the seats: the seat last focused, else the first free one.
  function placeTabStops() {
    if (seatsEl.querySelector('.sm-seat[tabindex="0"]')) return;
    var stop = seatsEl.querySelector(".sm-seat:not([aria-disabled])") || seatsEl.querySelector(".sm-seat");
    if (stop) stop.tabIndex = 0;
  }

  function statesOf(doc) {
    var states = {};
    STATES.forEach(function (state) {
      var rows = doc[state] || {};
      Object.keys(rows).forEach(function (row) {
        var runs = rows[row];
        for (var i = 0; i < runs.length; i += 2) {
          for (var n = runs[i], end = runs[i] + runs[i + 1]; n < end; n++) states[labelOf(row, n)] = state;
        }
      });
    });
    return states;
  }

  function applyCounts(doc) {
    onSale = doc.on_sale;
    $("sm-closed").hidden = onSale;
    holdButton.disabled = !onSale;
    Object.keys(doc.sections).forEach(function (id) {
      var left = doc.sections[id], s = sections[id] || find(id);
      var el = $("sm-left-" + id);
      if (el) el.textContent = "(" + group(left) + " left)";
      var pick = $("sm-pl-" + id);
      if (pick) pick.textContent = left ? group(left) + " of " + (s ? group(s.seats) : "?") + " left" : "Sold out";
    });
  }

  function find(id) {
    for (var i = 0; i < cfg.sections.length; i++) if (String(cfg.sections[i].id) === String(id)) return cfg.sections[i];
    return null;
  }

  // Paint the seats of an availability document: only those whose state changed.
  function applyAvailability(doc) {
    applyCounts(doc);
    var states = statesOf(doc), lost = [];
    Object.keys(painted).concat(Object.keys(states)).forEach(function (l) {
      if (painted[l] === states[l] || !buttons[l]) return;
      paint(buttons[l], states[l]);
      if (states[l] && chosen.indexOf(l) >= 0) lost.push(l);
    });
    painted = states;
    lost.forEach(unchoose);
    if (lost.length) showError("Someone else took " + lost.join(", ") + " meanwhile. Choose another seat.");
  }

  // --- large venues: the overview and one section at a time -----------------------------------

  function drawOverview() {
    navEl.innerHTML = '<h2 class="sm-sub">Choose a section</h2><ul>' + cfg.sections.map(function (s) {
      return '<li><button type="button" class="sm-pick" data-s="' + s.id + '"><span class="sm-pick-name">' + esc(s.name) +
        '</span> <span class="sm-pick-price">' + rupees(s.price) + '</span> <span class="sm-pick-left" id="sm-pl-' + s.id +
        '">' + group(s.seats) + " seats</span></button></li>";
    }).join("") + "</ul>";
    navEl.hidden = false;
  }

  function openSection(id, focus) {
    current = id;
    var picks = navEl.querySelectorAll(".sm-pick");
    for (var i = 0; i < picks.length; i++) {
      if (picks[i].getAttribute("data-s") === String(id)) picks[i].setAttribute("aria-current", "true");
      else picks[i].removeAttribute("aria-current");
    }
    say("Loading the seats\u2026");
    return Promise.all([loadLayout(), getDoc(cfg.section + id + ".json", true)]).then(function (res) {
      if (current !== id) return;
      var s = sections[id];
      if (!s) { say("This section has no seats."); return; }
      draw([s]);
      drawn = id;
      applyAvailability(JSON.parse(res[1]));
      placeTabStops();
      say("");
      if (window.history.replaceState) window.history.replaceState(null, "", "#section-" + id);
      if (focus) $("sm-h-" + id).focus();
      root.setAttribute("data-section-ready", String(Math.round(window.performance.now())));
    }).catch(failed);
  }

  navEl.addEventListener("click", function (e) {
    var pick = e.target.closest && e.target.closest(".sm-pick");
    if (pick) openSection(parseInt(pick.getAttribute("data-s"), 10), true);
  });

  // --- choosing ----------------------------------------------------------------------------

  // The bar: "2 seats: · ₹3,000", read out politely as it changes.
  function showChosen() {
    if (!chosen.length) { chosenEl.textContent = "No seats chosen yet."; return; }
    var total = chosen.reduce(function (sum, l) { return sum + prices[l]; }, 0);
    chosenEl.innerHTML = '<span class="sm-count">' + (chosen.length === 1 ? "1 seat:" : chosen.length + " seats:") +
      '</span> <span class="sm-labels">' + esc(chosen.join(", ")) + '</span> \u00b7 <strong class="sm-total">' + rupees(total) + "</strong>";
  }

  function unchoose(l) {
    var i = chosen.indexOf(l);
    if (i >= 0) chosen.splice(i, 1);
    if (buttons[l]) buttons[l].setAttribute("aria-checked", "false");
    showChosen();
  }

  function toggle(b) {
    var l = b.getAttribute("data-l");
    if (b.getAttribute("aria-disabled")) { showError("Seat " + l + " is " + painted[l] + "."); return; }
    if (chosen.indexOf(l) >= 0) { unchoose(l); return; }
    if (chosen.length >= cfg.max) { showError("You can choose at most " + cfg.max + " seats."); return; }
    chosen.push(l);
    prices[l] = sections[b.closest(".sm-section").getAttribute("data-s")].price;
    b.setAttribute("aria-checked", "true");
    showError("");
    showChosen();
  }

  seatsEl.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest(".sm-seat");
    if (b) toggle(b);  // a button: Space and Enter click it too
  });

  // The roving tabindex: the seat last focused is the map's only Tab stop.
  seatsEl.addEventListener("focusin", function (e) {
    var b = e.target;
    if (!b.classList.contains("sm-seat")) return;
    var stop = seatsEl.querySelector('.sm-seat[tabindex="0"]');
    if (stop && stop !== b) stop.tabIndex = -1;
    b.tabIndex = 0;
  });

  function seatsOf(row) { return row ? row.querySelectorAll(".sm-seat") : []; }
  // The seat at `index` in a row (clamped to its ends); `index` < 0 counts from the end.
  function seatAt(row, index) {
    var seats = seatsOf(row);
    if (!seats.length) return null;
    return seats[index < 0 ? Math.max(0, seats.length + index) : Math.min(index, seats.length - 1)];
  }

  // Arrows move one seat (Left and Right go on to the row before or after), Up and Down one row
  // (on into the next section), PageUp and PageDown ten rows, Home and End to the ends of the row,
  // with Ctrl to the first and last seat of the map.
  seatsEl.addEventListener("keydown", function (e) {
    var b = e.target;
    if (!b.classList.contains("sm-seat") || e.altKey || e.metaKey) return;
    var rows = seatsEl.querySelectorAll(".row"), row = b.closest(".row");
    var r = Array.prototype.indexOf.call(rows, row), seats = seatsOf(row), i = Array.prototype.indexOf.call(seats, b);
    var last = rows.length - 1, next;
    switch (e.key) {
      case "ArrowRight": next = seats[i + 1] || seatAt(rows[r + 1], 0); break;
      case "ArrowLeft": next = seats[i - 1] || seatAt(rows[r - 1], -1); break;
      case "ArrowDown": next = seatAt(rows[r + 1], i); break;
      case "ArrowUp": next = seatAt(rows[r - 1], i); break;
      case "PageDown": next = seatAt(rows[Math.min(last, r + 10)], i); break;
      case "PageUp": next = seatAt(rows[Math.max(0, r - 10)], i); break;
      case "Home": next = e.ctrlKey ? seatAt(rows[0], 0) : seats[0]; break;
      case "End": next = e.ctrlKey ? seatAt(rows[last], -1) : seats[seats.length - 1]; break;
      default: return;
    }
    e.preventDefault();
    if (next) next.focus();
  });

  // --- holding -----------------------------------------------------------------------------

  // Mark a detail field wrong (its message tied to it by aria-describedby), or clear it.
  function markField(name, message) {
    var input = form.elements[name], note = $("sm-" + name + "-error");
    note.textContent = message || "";
    note.hidden = !message;
    if (message) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", note.id);
    } else {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }
  }

  // What the browser finds wrong with the details, in our words: {field: message}.
  function detailProblems() {
    var problems = {};
    Object.keys(FIELDS).forEach(function (f) {
      var input = form.elements[f], v = input.validity;
      if (v.valueMissing) problems[f] = { name: "Enter your name.", email: "Enter your email address.", phone: "Enter your phone number." }[f];
      else if (!v.valid) {
        problems[f] = {
          name: "Enter your name (at most 120 characters).",
          email: "Enter an email address like asha@example.com.",
          phone: "Enter a phone number of 7 to 15 digits, e.g. +91 98765 43210."
        }[f];
      }
    });
    return problems;
  }

  // A refused hold: each field named in the bar (a link to it), marked, and focus on the message.
  function refuse(text, problems) {
    var links = [];
    Object.keys(FIELDS).forEach(function (f) {
      markField(f, problems[f]);
      if (problems[f]) links.push({ field: f, text: FIELDS[f] + ": " + problems[f] });
    });
    showError(text, { focus: true, links: links });
  }

  errorEl.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a[href^='#sm-']");
    if (!a) return;
    e.preventDefault();
    form.elements[a.getAttribute("href").slice(4)].focus();
  });

  // A field put right loses its mark as the buyer types.
  form.addEventListener("input", function (e) {
    var f = e.target.name;
    if (FIELDS[f] && e.target.getAttribute("aria-invalid") && e.target.validity.valid) markField(f, "");
  });

  function serverProblems(fields) {
    var problems = {};
    Object.keys(fields).forEach(function (f) {
      problems[f] = fields[f].map(function (e) { return e.message; }).join(" ");
    });
    return problems;
  }

  // While the hold is on its way the button says so and ignores presses, but keeps the focus.
  var holdLabel = holdButton.textContent, holding = false, prompted = false;
  function busy(on) {
    holding = on;
    holdButton.textContent = on ? "Holding your seats\u2026" : holdLabel;
    if (on) holdButton.setAttribute("aria-disabled", "true"); else holdButton.removeAttribute("aria-disabled");
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (holding) return;
    showError("");
    if (!chosen.length) { showError("Choose at least one seat on the map first.", { focus: true }); return; }
    var problems = detailProblems(), missing = Object.keys(problems);
    if (missing.length) {
      var untouched = Object.keys(FIELDS).every(function (f) { return !form.elements[f].value; });
      if (untouched && !prompted) {
        // Seats chosen, details not yet (the first time): take the buyer to them rather than scold.
        prompted = true;
        showError("Almost there: enter your name, email and phone to hold these seats.", { prompt: true });
        form.elements.name.focus();
        return;
      }
      refuse("Check your details: " + (missing.length === 1 ? "one needs" : missing.length + " need") + " correcting.", problems);
      return;
    }
    Object.keys(FIELDS).forEach(function (f) { markField(f, ""); });
    var body = new URLSearchParams();
    chosen.forEach(function (l) { body.append("seat", l); });
    Object.keys(FIELDS).forEach(function (f) { body.append(f, form.elements[f].value); });
    busy(true);
    fetch(cfg.hold, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": cookie(cfg.csrf_cookie), Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString()
    }).then(function (r) {
      return r.text().then(function (text) {
        var b = {};
        try { b = JSON.parse(text); } catch (ignored) { /* not JSON: a proxy's error page */ }
        return { status: r.status, body: b };
      });
    }).then(function (res) {
      var b = res.body;
      if ((res.status === 201 || res.status === 200) && b.checkout_url) {
        holdButton.textContent = "Held. Opening the checkout\u2026";
        window.location.assign(b.checkout_url);
        return;
      }
      busy(false);
      if (res.status === 429 && b.queue_url) { toQueue(b.queue_url); return; }
      if (b.error === "unavailable" && b.unavailable) {
        b.unavailable.forEach(function (l) {
          unchoose(l);
          if (buttons[l]) { paint(buttons[l], "held"); painted[l] = "held"; }
        });
        showError(b.detail + " Choose other seats.", { focus: true });
        refresh();
        return;
      }
      if (b.fields) {
        var fields = serverProblems(b.fields), general = fields.__all__;
        delete fields.__all__;
        refuse(general || "Check your details: the hold was refused.", fields);
        return;
      }
      if (res.status === 403) { showError("Your session expired. Reload the page and try again.", { focus: true }); return; }
      showError(b.detail || "Something went wrong. Please try again.", { focus: true });
    }).catch(function () {
      busy(false);
      showError("Network problem. Please try again.", { focus: true });
    });
  });

  // --- loading and refreshing --------------------------------------------------------------

  function failed(error) {
    say("We could not load the seat map (" + error.message + "). Try again in a moment, or use the simple seat list below.");
  }

  function refresh() {
    if (cfg.mode === "all") {
      return getDoc(cfg.availability).then(function (text) { if (text) applyAvailability(JSON.parse(text)); });
    }
    var jobs = [getDoc(cfg.overview).then(function (text) { if (text) applyCounts(JSON.parse(text)); })];
    var id = current;
    if (id !== null) {
      jobs.push(getDoc(cfg.section + id + ".json").then(function (text) {
        if (text && drawn === id) applyAvailability(JSON.parse(text));
      }));
    }
    return Promise.all(jobs);
  }

  function idle() { return document.hidden || Date.now() - lastActive > IDLE_MS; }

  function poll() {
    window.setTimeout(function () {
      if (idle()) { poll(); return; }
      refresh().then(poll, poll);
    }, POLL_MS + Math.random() * 5000);
  }

  ["keydown", "pointerdown", "input"].forEach(function (type) {
    document.addEventListener(type, function () {
      var wasIdle = idle();
      lastActive = Date.now();
      if (wasIdle) refresh().catch(function () { /* the next poll tries again */ });
    }, true);
  });

  function ready() { root.setAttribute("data-ready", String(Math.round(window.performance.now()))); }

  // The requests go first; the formatters are made (format) while they are on their way.
  if (cfg.mode === "all") {
    say("Loading the seats\u2026");
    var first = Promise.all([loadLayout(), getDoc(cfg.availability)]);
    format("count");
    first.then(function (res) {
      draw(res[0].sections);
      applyAvailability(JSON.parse(res[1]));
      placeTabStops();
      say("");
      ready();
      poll();
    }).catch(failed);
  } else {
    var overview = getDoc(cfg.overview);
    drawOverview();
    overview.then(function (text) {
      applyCounts(JSON.parse(text));
      ready();
      var wanted = /^#section-(\d+)$/.exec(window.location.hash);
      if (wanted) openSection(parseInt(wanted[1], 10), false);
      else loadLayout().catch(function () { /* fetched again when a section is picked */ });
      poll();
    }).catch(failed);
  }
})();
