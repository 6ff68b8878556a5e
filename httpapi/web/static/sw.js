// handoff's service worker: it shows the pushes the server sends (a
// question, a permission request), opens the session when one is
// clicked, and closes a notification whose question was answered
// elsewhere. Served at /sw.js so its scope is the whole page.
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var p = {};
  try { p = event.data ? event.data.json() : {}; } catch (e) { p = {}; }
  var reg = self.registration;
  if (p.type === "answered") {
    // Every push must show something (Safari drops subscriptions that do
    // not): replace the question's notification quietly, then close it.
    event.waitUntil(reg.showNotification("Answered", { tag: p.tag, silent: true, data: { url: p.url || "/" } })
      .then(function () { return reg.getNotifications({ tag: p.tag }); })
      .then(function (ns) { ns.forEach(function (n) { n.close(); }); }));
    return;
  }
  event.waitUntil(reg.showNotification(p.title || "handoff", {
    body: p.body || "",
    tag: p.tag,
    renotify: true,
    requireInteraction: true,
    icon: "/static/icon-192.png",
    badge: "/static/favicon-32.png",
    data: { url: p.url || "/" }
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin).href;
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (wins) {
    for (var i = 0; i < wins.length; i++) {
      if (wins[i].url === url && "focus" in wins[i]) return wins[i].focus();
    }
    return self.clients.openWindow(url);
  }));
});
