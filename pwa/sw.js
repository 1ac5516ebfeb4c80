// Fieldbook's service worker: keeps the app on the phone, serves it offline, and syncs.
//
// - Static files (versioned URLs) come from the cache first: they never change under one URL.
// - Pages are fetched from the network first. Offline, every page is answered with the
//   briefcase (/sync, kept whenever a page loads), which draws it from the device's data; before
//   the briefcase is kept, a page opened once or /offline.html stands in.
// - htmx swaps only the page content; when such a request fails offline, the SW answers with
//   HX-Redirect so the browser navigates to the full page, which then comes from the briefcase.
// - Background Sync ("fieldbook-outbox") sends the outbox once the network is back, even with
//   the app closed; the Web Lock in sync-engine.js keeps it from racing an open tab.
//
// The server fills in BUILD (the release's version, asset list and the sync scripts).
const BUILD = /*BUILD*/ { version: "dev", precache: ["/offline.html"], scripts: [] } /*END-BUILD*/;
const STATIC_CACHE = `fieldbook-static-${BUILD.version}`;
const PAGES_CACHE = "fieldbook-pages";
const OFFLINE_URL = "/offline.html";
const BRIEFCASE_URL = new URL("/sync", self.location.origin).href;

importScripts(...BUILD.scripts); // idb, device-store.js, sync-engine.js

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(STATIC_CACHE).then((cache) => cache.addAll(BUILD.precache)).then(() => self.skipWaiting()),
  );
});

// The page that registered this worker loaded before it existed, so it was never fetched
// through it: keep a copy of each such page now, or it would not open offline.
async function keepOpenPages() {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  await Promise.all([...windows.map((client) => refreshFullPage(client.url)), refreshFullPage(BRIEFCASE_URL)]);
}

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(
          keys.filter((key) => key.startsWith("fieldbook-static-") && key !== STATIC_CACHE).map((key) => caches.delete(key)),
        ),
      )
      .then(() => self.clients.claim())
      .then(keepOpenPages),
  );
});

self.addEventListener("message", (event) => {
  // Sent by the sign-in page: what the last person saw must not be shown to the next.
  if (event.data && event.data.type === "signed-out") {
    event.waitUntil(caches.delete(PAGES_CACHE));
  }
});

function isCacheablePage(response) {
  const type = response.headers.get("Content-Type") || "";
  return response.ok && !response.redirected && type.startsWith("text/html");
}

async function staticFirst(request) {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    const cache = await caches.open(STATIC_CACHE);
    await cache.put(request, response.clone());
  }
  return response;
}

async function pageNetworkFirst(event) {
  const { request } = event;
  const cache = await caches.open(PAGES_CACHE);
  try {
    const response = await fetch(request);
    if (isCacheablePage(response)) {
      await cache.put(request.url, response.clone());
      // Keep the briefcase current (this release, this person's language) for the next outage.
      if (request.url !== BRIEFCASE_URL) event.waitUntil(refreshFullPage(BRIEFCASE_URL));
    }
    return response;
  } catch (error) {
    return (
      (await cache.match(BRIEFCASE_URL)) || (await cache.match(request.url)) || (await caches.match(OFFLINE_URL))
    );
  }
}

// Keep the full version of a page that htmx fetched as a fragment, so a reload offline works.
async function refreshFullPage(url) {
  try {
    // Marked, so the server leaves one-time messages for the page the rep is looking at.
    const response = await fetch(url, { credentials: "same-origin", headers: { "X-Fieldbook-Background": "1" } });
    if (isCacheablePage(response)) await (await caches.open(PAGES_CACHE)).put(url, response);
  } catch (error) {
    // Offline again: the next visit refreshes it.
  }
}

async function htmxNetworkFirst(event) {
  const { request } = event;
  try {
    const response = await fetch(request);
    if (response.ok && request.headers.get("HX-Target") === "main") {
      event.waitUntil(refreshFullPage(request.url));
    }
    return response;
  } catch (error) {
    // No network: ask htmx to navigate for real, so the cached page (or the offline page) shows.
    return new Response("", { status: 200, headers: { "HX-Redirect": request.url } });
  }
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/static/") || url.pathname.startsWith("/icons/")) {
    event.respondWith(staticFirst(request));
  } else if (request.mode === "navigate") {
    event.respondWith(pageNetworkFirst(event));
  } else if (request.headers.get("HX-Request") === "true") {
    event.respondWith(htmxNetworkFirst(event));
  }
});

self.addEventListener("sync", (event) => {
  if (event.tag === "fieldbook-outbox") event.waitUntil(flushForCurrentUser());
});

async function flushForCurrentUser() {
  const user = await self.FieldbookStore.currentUser();
  if (user) await self.FieldbookSync.flush(user.id, BUILD.version);
}

// --- reminders as notifications (Web Push) ---------------------------------------------------
// The payload (server/reminders/dispatcher.py) carries the reminder's title, the record's name
// and time, where the record is, and the action labels in the person's language.

self.addEventListener("push", (event) => {
  event.waitUntil(showReminder(event.data ? event.data.json() : {}));
});

function showReminder(data) {
  const labels = data.actions || {};
  return self.registration.showNotification(data.title || "Fieldbook", {
    body: data.body || "",
    tag: data.tag,
    icon: "/icons/icon-192.png",
    badge: "/icons/icon-192.png",
    data: { url: data.url || "/reminders", reminder_id: data.reminder_id },
    actions: [
      { action: "done", title: labels.done || "Done" },
      { action: "snooze", title: labels.snooze || "Snooze 1 h" },
    ],
  });
}

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(onNotificationClick(event.notification, event.action));
});

// "Done" and "Snooze 1 h" work without opening the app: the change is queued in the person's
// outbox like any offline change and sent now if the network allows (else on the next sync).
// A tap on the notification itself opens the record, in an open Fieldbook window if there is one.
async function onNotificationClick(notification, action) {
  notification.close();
  const { url, reminder_id: reminderId } = notification.data || {};
  if (action === "done" || action === "snooze") {
    const args = action === "done" ? { reminder_id: reminderId } : { reminder_id: reminderId, snooze: "1h" };
    return queueReminderChange(action === "done" ? "reminders.complete" : "reminders.snooze", args, notification.title);
  }
  return openRecord(new URL(url || "/reminders", self.location.origin).href);
}

async function queueReminderChange(name, args, label) {
  const user = await self.FieldbookStore.currentUser();
  if (!user) return;
  const db = await self.FieldbookStore.open(user.id);
  try {
    await self.FieldbookStore.queue(db, name, args, { label, target: { kind: "reminders", id: args.reminder_id } });
  } finally {
    db.close();
  }
  try {
    await self.registration.sync.register("fieldbook-outbox");
  } catch {
    // No Background Sync here: the next sync of an open page sends it.
  }
  try {
    await flushForCurrentUser();
  } catch {
    // Offline: it waits in the outbox.
  }
}

async function openRecord(target) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const same = windows.find((client) => client.url === target);
  if (same) return same.focus().catch(() => same);
  if (windows.length) {
    const client = windows[0];
    const moved = client.navigate ? await client.navigate(target).catch(() => null) : null;
    return (moved || client).focus().catch(() => moved || client);
  }
  return self.clients.openWindow(target);
}
