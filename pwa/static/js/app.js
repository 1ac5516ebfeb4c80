// Fieldbook's page script: registers the service worker, keeps focus sensible after htmx swaps,
// and shows whether the phone is online. Loaded as a module; no inline script anywhere (CSP).

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

function showConnection() {
  const status = document.getElementById("connection-status");
  if (!status) return;
  const online = navigator.onLine;
  status.textContent = online ? status.dataset.online : status.dataset.offline;
  document.documentElement.classList.toggle("is-offline", !online);
}

// The sign-in page means nobody is signed in: forget pages kept for the previous person.
function forgetPreviousUser() {
  if (!document.body.hasAttribute("data-signed-out")) return;
  try {
    localStorage.removeItem("htmx-history-cache");
  } catch (error) {
    // Storage may be unavailable (private mode); nothing to forget then.
  }
  if (navigator.serviceWorker && navigator.serviceWorker.controller) {
    navigator.serviceWorker.controller.postMessage({ type: "signed-out" });
  }
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
window.addEventListener("online", showConnection);
window.addEventListener("offline", showConnection);
document.body.addEventListener("htmx:afterSettle", focusNewPage);
document.body.addEventListener("htmx:afterSettle", showDistancesFromHere);
// Capture phase, so the position is in the form before htmx reads it.
document.addEventListener("submit", locateThenSubmit, true);
showDistancesFromHere();
