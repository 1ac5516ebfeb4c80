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
