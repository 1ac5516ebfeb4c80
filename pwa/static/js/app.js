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

registerServiceWorker();
forgetPreviousUser();
showConnection();
window.addEventListener("online", showConnection);
window.addEventListener("offline", showConnection);
document.body.addEventListener("htmx:afterSettle", focusNewPage);
