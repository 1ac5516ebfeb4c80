// Fieldbook's page script: registers the service worker, keeps focus sensible after htmx swaps,
// syncs the device's briefcase and shows how it stands. Loaded as a module after the classic
// scripts it uses (idb, device-store.js, sync-engine.js); no inline script anywhere (CSP).

function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error) => {
    console.warn("Fieldbook: service worker registration failed", error);
  });
}

// After htmx swaps the page content, move focus to its heading so screen readers announce the
// new page, as a full page load would.
function focusNewPage(event) {
  if (event.detail.target && event.detail.target.id === "main") {
    const heading = document.querySelector("#main h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
  }
}

// A builder row's remove button (the quote's lines): take the row out and let the live totals
// know, and move focus somewhere sensible for keyboard and screen-reader users.
function removeRow(event) {
  const button = event.target.closest("[data-remove-row]");
  if (!button) return;
  const row = document.querySelector(button.dataset.removeRow);
  if (!row) return;
  const next = row.nextElementSibling || row.previousElementSibling;
  const form = row.closest("form");
  row.remove();
  (next ? next.querySelector("input:not([type=hidden])") : form && form.querySelector("input[type=search]"))?.focus();
  document.body.dispatchEvent(new CustomEvent("quote-lines-changed"));
}

// --- sync: the device's briefcase and outbox (device-store.js, sync-engine.js) ----------------

const Store = self.FieldbookStore;
const Sync = self.FieldbookSync;
const SYNC_EVERY_MS = 60000;
const START_SPREAD_MS = 1500;
const ONLINE_SPREAD_MS = 5000;
const signedIn = document.querySelector('meta[name="fieldbook-user"]');
const appVersion = (document.querySelector('meta[name="fieldbook-version"]') || {}).content || "dev";
let progress = null; // {received, remaining} while a first sync is under way

// The status in the top bar: online or offline, how many changes wait, when the last sync was.
async function showConnection() {
  const status = document.getElementById("connection-status");
  if (!status) return;
  const online = navigator.onLine;
  document.documentElement.classList.toggle("is-offline", !online);
  const parts = [online ? status.dataset.online : status.dataset.offline];
  const current = signedIn && (await Store.currentUser());
  if (current && current.id === signedIn.content) {
    // (After a wipe nobody is current: opening the database would create it again.)
    const db = await Store.open(signedIn.content);
    const { meta, outbox, attention, conflicts } = await Store.counts(db);
    db.close();
    const say = (key, n) => status.dataset[key].replace("{n}", n);
    if (progress) {
      const total = progress.received + progress.remaining;
      parts.push(say("progress", total ? Math.round((100 * progress.received) / total) : 0));
    } else if (outbox) parts.push(say("waiting", outbox));
    else if (meta.last_sync_at) parts.push(say("synced", new Date(meta.last_sync_at).toLocaleTimeString(document.documentElement.lang, { timeStyle: "short" })));
    if (attention + conflicts) parts.push(say("attention", attention + conflicts));
    if (meta.state === "signed_out") parts.push(status.dataset.signIn);
    if (meta.state === "update_required") parts.push(status.dataset.update);
    for (const warning of document.querySelectorAll("[data-unsynced-warning]")) {
      warning.textContent = warning.dataset.unsyncedWarning.replace("{n}", outbox);
      warning.hidden = outbox === 0;
    }
  }
  status.textContent = parts.join(" · ");
}

function showProgress(message) {
  progress = message.remaining ? message : null;
  const bar = document.getElementById("first-sync-bar");
  if (bar) {
    bar.parentElement.hidden = !progress;
    bar.max = message.received + message.remaining;
    bar.value = message.received;
  }
  showConnection();
}

// One flush at a time from this page (the Web Lock keeps it to one across tabs and the worker);
// a request made while one runs starts one more afterwards, so nothing queued is left behind.
let flushing = null;
let flushAgain = false;
function flush() {
  if (!signedIn || !navigator.onLine) return showConnection();
  if (flushing) {
    flushAgain = true;
    return flushing;
  }
  flushing = Sync.flush(signedIn.content, appVersion)
    .catch((error) => console.warn("Fieldbook: sync failed; it will be tried again", error))
    .finally(() => {
      flushing = null;
      showConnection();
      if (flushAgain) {
        flushAgain = false;
        flush();
      }
    });
  return flushing;
}

// Ask the browser to sync for us once the network is back, even if the app is closed by then.
async function flushLater() {
  const registration = navigator.serviceWorker && (await navigator.serviceWorker.ready);
  if (registration && registration.sync) await registration.sync.register("fieldbook-outbox").catch(() => {});
}

async function startSync() {
  if (!signedIn) return;
  await Store.setCurrentUser({ id: signedIn.content, app_version: appVersion });
  new BroadcastChannel(Sync.CHANNEL).addEventListener("message", (event) => {
    if (event.data.type === "progress") showProgress(event.data);
    if (event.data.type === "synced") showProgress({ received: 0, remaining: 0 });
    if (event.data.type === "wiped") location.assign("/"); // to the sign-in page: nothing is left to show
  });
  document.addEventListener("fieldbook:changed", showConnection);
  document.addEventListener("fieldbook:queued", () => {
    flushLater();
    flush();
  });
  // When signal comes back to a whole area, or everyone opens the app at 8 a.m., the phones spread
  // their syncs over a few seconds instead of all arriving in the same one. A change just made
  // goes at once (above).
  window.addEventListener("online", () => later(flush, ONLINE_SPREAD_MS));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") flush();
  });
  const tick = () => {
    if (document.visibilityState === "visible") flush();
    later(tick, SYNC_EVERY_MS * 0.5, SYNC_EVERY_MS * 0.75); // every 45 to 75 s
  };
  later(tick, SYNC_EVERY_MS * 0.5, SYNC_EVERY_MS * 0.75);
  later(flush, START_SPREAD_MS);
}

// Run `work` after `least` ms plus a random part of `spread` ms.
function later(work, spread, least = 0) {
  setTimeout(work, least + Math.random() * spread);
}

// The sign-in page means nobody is signed in: forget pages kept for the previous person, and
// what their briefcase holds, except the changes they still have to send.
async function forgetPreviousUser() {
  if (!document.body.hasAttribute("data-signed-out")) return;
  try {
    localStorage.removeItem("htmx-history-cache");
  } catch (error) {
    // Storage may be unavailable (private mode); nothing to forget then.
  }
  if (navigator.serviceWorker && navigator.serviceWorker.controller) {
    navigator.serviceWorker.controller.postMessage({ type: "signed-out" });
  }
  const previous = await Store.currentUser();
  if (!previous) return;
  const db = await Store.open(previous.id);
  const waiting = await db.count("outbox");
  if (waiting) await Store.forgetAllButOutbox(db);
  db.close();
  if (!waiting) await Store.wipe(previous.id);
  await Store.setCurrentUser(null);
}

// A form sent just as the connection dropped: open the page again, which the service worker
// answers with the briefcase, where the change can be made offline.
function reopenOffline() {
  location.reload();
}

// Forms marked data-geolocate (check-in, "order my route") send the phone's position with them:
// latitude, longitude, accuracy and the time of the fix. Without a position the form shows its
// [data-no-location] part (a reason to give) and is sent only once the rep has filled it in.
const FIX_OPTIONS = { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 };

function setField(form, name, value) {
  const input = form.elements.namedItem(name);
  if (input) input.value = value;
}

function locateThenSubmit(event) {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-geolocate")) return;
  if (form.dataset.located === "yes") {
    delete form.dataset.located; // the next tap takes a fresh fix
    return;
  }
  event.preventDefault();
  event.stopImmediatePropagation();
  const submitter = event.submitter;
  const send = () => {
    form.dataset.located = "yes";
    form.requestSubmit(submitter);
  };
  const status = form.querySelector("[data-locating]");
  if (status) status.hidden = false;
  setField(form, "device_time", new Date().toISOString());
  if (!("geolocation" in navigator)) return withoutLocation(form, send);
  navigator.geolocation.getCurrentPosition(
    (position) => {
      setField(form, "latitude", position.coords.latitude);
      setField(form, "longitude", position.coords.longitude);
      setField(form, "accuracy", position.coords.accuracy);
      setField(form, "device_time", new Date(position.timestamp).toISOString());
      if (status) status.hidden = true;
      send();
    },
    () => {
      if (status) status.hidden = true;
      withoutLocation(form, send);
    },
    FIX_OPTIONS,
  );
}

function withoutLocation(form, send) {
  setField(form, "latitude", "");
  setField(form, "longitude", "");
  setField(form, "accuracy", "");
  const part = form.querySelector("[data-no-location]");
  const reason = form.elements.namedItem("no_location_reason");
  if (!part) return send(); // this form works without a position (the route starts from home)
  if (part.hidden || !reason || !reason.value.trim()) {
    part.hidden = false;
    if (reason) reason.focus();
    return;
  }
  send();
}

// Rows marked data-lat/data-lon get "x km from you" once the phone has a position.
function showDistancesFromHere() {
  const rows = document.querySelectorAll("[data-distance-from-you]");
  if (!rows.length || !("geolocation" in navigator)) return;
  navigator.geolocation.getCurrentPosition((position) => {
    for (const row of rows) {
      const metres = haversine(position.coords, row.dataset);
      const km = metres / 1000;
      row.textContent = row.dataset.distanceFromYou.replace("{km}", km < 10 ? km.toFixed(1) : km.toFixed(0));
      row.hidden = false;
    }
  }, () => {}, FIX_OPTIONS);
}

function haversine(here, there) {
  const rad = Math.PI / 180;
  const dLat = (there.lat - here.latitude) * rad;
  const dLon = (there.lon - here.longitude) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(here.latitude * rad) * Math.cos(there.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.sqrt(a));
}

registerServiceWorker();
forgetPreviousUser();
showConnection();
startSync();
window.addEventListener("online", showConnection);
window.addEventListener("offline", showConnection);
document.body.addEventListener("htmx:sendError", reopenOffline);
document.body.addEventListener("htmx:afterSettle", focusNewPage);
document.addEventListener("click", removeRow);
document.body.addEventListener("htmx:afterSettle", showDistancesFromHere);
// Capture phase, so the position is in the form before htmx reads it.
document.addEventListener("submit", locateThenSubmit, true);
showDistancesFromHere();
