// The door page's service worker (views.door_worker, scope /door/<slug>/): it keeps the door page
// and what it loads, so a phone that lost the network can still open or reload the page and go on
// scanning (door.js answers offline from the signed codes). Network first, always: online, the
// phone gets the server's page and files as without a worker, and each copy refreshes the cache.
// POSTs and the manifest pass straight through: the page's script handles a failed one.
"use strict";
var CONFIG = {{ config|safe }};

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CONFIG.cache).then(function (cache) {
    return cache.addAll([CONFIG.page].concat(CONFIG.assets));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf(CONFIG.prefix) === 0 && name !== CONFIG.cache;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request, path = new URL(request.url).pathname;
  if (request.method !== "GET") return;
  var kept = request.mode === "navigate" && path === CONFIG.page ? CONFIG.page : CONFIG.assets.indexOf(path) >= 0 ? path : null;
  if (!kept) return;
  event.respondWith(fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(CONFIG.cache).then(function (cache) { return cache.put(kept, copy); });
    }
    return response;
  }, function () {
    return caches.match(kept).then(function (hit) { return hit || Response.error(); });
  }));
});
