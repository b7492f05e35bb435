// The seat map, drawn from documents (apps/booking/seatmap.py): the layout (rows and seat numbers,
// cached for good under its version) and the availability (only the seats that are not free),
// which the browser revalidates with its ETag, so an unchanged map costs a 304.
// Small venues show every section; large ones an overview of the sections and one section at a time.
// Seats are buttons with role=checkbox and a roving tabindex: one Tab stop per section, arrow keys
// move, Space or Enter chooses. The hold itself is the check: a seat taken meanwhile is named.
(function () {
  "use strict";
  var configEl = document.getElementById("seatmap-config");
  if (!configEl || !window.fetch || !window.Promise) return;
  var cfg = JSON.parse(configEl.textContent);
  var $ = function (id) { return document.getElementById(id); };
  var root = $("seatmap"), seatsEl = $("sm-seats"), navEl = $("sm-sections"), statusEl = $("sm-status");
  var chosenEl = $("sm-chosen"), errorEl = $("sm-error"), form = $("hold-form"), holdButton = $("sm-hold");
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

  function rupees(p) {
    var r = Math.floor(p / 100), c = p % 100;
    return "\u20b9" + group(r) + (c ? "." + (c < 10 ? "0" : "") + c : "");
  }
  function esc(text) {
    return String(text).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; });
  }
  function group(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function say(text) { statusEl.textContent = text; }
  function showError(text) { errorEl.textContent = text; errorEl.hidden = !text; }
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
      '<div class="sm-grid" role="group" aria-labelledby="sm-h-', s.id, '" aria-describedby="sm-help">'];
    s.rows.forEach(function (row) {
      var r = esc(row[0]);
      h.push('<div class="row" role="group" aria-label="Row ', r, '"><span class="row-label" aria-hidden="true">', r, "</span>");
      for (var i = 1; i < row.length; i += 2) {
        for (var n = row[i], end = row[i] + row[i + 1]; n < end; n++) {
          h.push('<button type="button" class="sm-seat" role="checkbox" aria-checked="false" tabindex="-1" data-l="',
            esc(labelOf(row[0], n)), '" aria-label="Row ', r, " seat ", n, ", ", price, ', available">', n, "</button>");
        }
      }
      h.push("</div>");
    });
    h.push("</div></section>");
    return h.join("");
  }

  function draw(list) {
    seatsEl.innerHTML = list.map(sectionHTML).join("");
    $("sm-stage").hidden = false;
    buttons = {};
    painted = {};
    var all = seatsEl.querySelectorAll(".sm-seat");
    for (var i = 0; i < all.length; i++) {
      var b = all[i], l = b.getAttribute("data-l");
      buttons[l] = b;
      if (chosen.indexOf(l) >= 0) b.setAttribute("aria-checked", "true");
    }
  }

  function paint(b, state) {
    b.className = state ? "sm-seat " + state : "sm-seat";
    var a = b.getAttribute("aria-label");
    b.setAttribute("aria-label", a.slice(0, a.lastIndexOf(", ") + 2) + (state || "available"));
    if (state) b.setAttribute("aria-disabled", "true"); else b.removeAttribute("aria-disabled");
  }

  // One Tab stop per section: the seat last focused there, else its first free seat.
  function placeTabStops() {
    var grids = seatsEl.querySelectorAll(".sm-grid");
    for (var i = 0; i < grids.length; i++) {
      if (grids[i].querySelector('.sm-seat[tabindex="0"]')) continue;
      var stop = grids[i].querySelector(".sm-seat:not([aria-disabled])") || grids[i].querySelector(".sm-seat");
      if (stop) stop.tabIndex = 0;
    }
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

  function showChosen() {
    if (!chosen.length) { chosenEl.textContent = "No seats chosen yet."; return; }
    var total = chosen.reduce(function (sum, l) { return sum + prices[l]; }, 0);
    chosenEl.textContent = (chosen.length === 1 ? "1 seat: " : chosen.length + " seats: ") + chosen.join(", ") + " \u00b7 " + rupees(total);
  }

  function unchoose(l) {
    var i = chosen.indexOf(l);
    if (i >= 0) chosen.splice(i, 1);
    if (buttons[l]) buttons[l].setAttribute("aria-checked", "false");
    showChosen();
  }

  function toggle(b) {
    var l = b.getAttribute("data-l");
    if (b.getAttribute("aria-disabled")) { say("Seat " + l + " is " + painted[l] + "."); return; }
    if (chosen.indexOf(l) >= 0) { unchoose(l); return; }
    if (chosen.length >= cfg.max) { say("You can choose at most " + cfg.max + " seats."); return; }
    chosen.push(l);
    prices[l] = sections[b.closest(".sm-section").getAttribute("data-s")].price;
    b.setAttribute("aria-checked", "true");
    say("");
    showChosen();
  }

  seatsEl.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest(".sm-seat");
    if (b) toggle(b);  // a button: Space and Enter click it too
  });

  seatsEl.addEventListener("focusin", function (e) {
    var b = e.target;
    if (!b.classList.contains("sm-seat")) return;
    var stop = b.closest(".sm-grid").querySelector('.sm-seat[tabindex="0"]');
    if (stop && stop !== b) stop.tabIndex = -1;
    b.tabIndex = 0;
  });

  function seatAt(row, index) {
    if (!row || !row.classList.contains("row")) return null;
    var seats = row.children;  // the row label, then the seats
    return seats[Math.max(1, Math.min(index, seats.length - 1))] || null;
  }

  seatsEl.addEventListener("keydown", function (e) {
    var b = e.target;
    if (!b.classList.contains("sm-seat")) return;
    var row = b.parentNode, index = Array.prototype.indexOf.call(row.children, b), grid = row.parentNode, next;
    switch (e.key) {
      case "ArrowRight": next = b.nextElementSibling; break;
      case "ArrowLeft": next = index > 1 ? b.previousElementSibling : null; break;
      case "ArrowDown": next = seatAt(row.nextElementSibling, index); break;
      case "ArrowUp": next = seatAt(row.previousElementSibling, index); break;
      case "PageDown": next = seatAt(grid.children[Math.min(grid.children.length - 1, Array.prototype.indexOf.call(grid.children, row) + 10)], index); break;
      case "PageUp": next = seatAt(grid.children[Math.max(0, Array.prototype.indexOf.call(grid.children, row) - 10)], index); break;
      case "Home": next = e.ctrlKey ? seatAt(grid.firstElementChild, 1) : seatAt(row, 1); break;
      case "End": next = e.ctrlKey ? seatAt(grid.lastElementChild, 1e9) : seatAt(row, 1e9); break;
      default: return;
    }
    e.preventDefault();
    if (next) next.focus();
  });

  // --- holding -----------------------------------------------------------------------------

  function fieldErrors(fields) {
    var names = { name: "Name", email: "Email", phone: "Phone", __all__: "" };
    return Object.keys(fields).map(function (f) {
      return fields[f].map(function (e) { return (names[f] ? names[f] + ": " : "") + e.message; }).join(" ");
    }).join(" ");
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    showError("");
    if (!chosen.length) { showError("Choose at least one seat."); return; }
    if (form.reportValidity && !form.reportValidity()) return;
    var body = new URLSearchParams();
    chosen.forEach(function (l) { body.append("seat", l); });
    ["name", "email", "phone"].forEach(function (f) { body.append(f, form.elements[f].value); });
    holdButton.disabled = true;
    say("Holding your seats\u2026");
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
        say("Your seats are held. Opening the checkout\u2026");
        window.location.assign(b.checkout_url);
        return;
      }
      holdButton.disabled = !onSale;
      say("");
      if (res.status === 429 && b.queue_url) { toQueue(b.queue_url); return; }
      if (b.error === "unavailable" && b.unavailable) {
        b.unavailable.forEach(function (l) {
          unchoose(l);
          if (buttons[l]) { paint(buttons[l], "held"); painted[l] = "held"; }
        });
        showError(b.detail + " Choose other seats.");
        refresh();
        return;
      }
      if (b.fields) { showError(fieldErrors(b.fields)); return; }
      if (res.status === 403) { showError("Your session expired. Reload the page and try again."); return; }
      showError(b.detail || "Something went wrong. Please try again.");
    }).catch(function () {
      holdButton.disabled = !onSale;
      say("");
      showError("Network problem. Please try again.");
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

  if (cfg.mode === "all") {
    say("Loading the seats\u2026");
    Promise.all([loadLayout(), getDoc(cfg.availability)]).then(function (res) {
      draw(res[0].sections);
      applyAvailability(JSON.parse(res[1]));
      placeTabStops();
      say("");
      ready();
      poll();
    }).catch(failed);
  } else {
    drawOverview();
    getDoc(cfg.overview).then(function (text) {
      applyCounts(JSON.parse(text));
      ready();
      var wanted = /^#section-(\d+)$/.exec(window.location.hash);
      if (wanted) openSection(parseInt(wanted[1], 10), false);
      else loadLayout().catch(function () { /* fetched again when a section is picked */ });
      poll();
    }).catch(failed);
  }
})();
