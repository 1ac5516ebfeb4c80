// Notifications on this device (the Notifications page under More): subscribe through the
// browser's push manager with the server's VAPID key and hand the subscription to the server;
// turning them off, or signing out, unsubscribes. Delegated, so it works after htmx swaps.

function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function csrfToken() {
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || "";
  } catch {
    return "";
  }
}

// The server's key is base64url (an uncompressed P-256 point); subscribe() wants the bytes.
function keyBytes(base64url) {
  const base64 = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

async function currentSubscription() {
  const registration = await navigator.serviceWorker.ready;
  return registration.pushManager.getSubscription();
}

async function send(path, body) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", accept: "application/json", "x-csrftoken": csrfToken() },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return response.json();
}

async function turnOn() {
  if ((await Notification.requestPermission()) !== "granted") return "denied";
  const key = await fetch("/notifications/key", { headers: { accept: "application/json" } });
  if (!key.ok) throw new Error(`the key: ${key.status}`);
  const registration = await navigator.serviceWorker.ready;
  const subscription = await registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: keyBytes((await key.json()).public_key),
  });
  await send("/notifications/subscriptions", subscription.toJSON());
  return "on";
}

async function turnOff() {
  const subscription = await currentSubscription();
  if (subscription) {
    await send("/notifications/subscriptions/delete", { endpoint: subscription.endpoint });
    await subscription.unsubscribe();
  }
  return "off";
}

function show(state) {
  const status = document.querySelector("[data-push-status]");
  const button = document.querySelector("[data-push-toggle]");
  if (!status || !button) return;
  status.textContent = status.dataset[state] || status.dataset.failed;
  button.hidden = state === "unsupported";
  button.dataset.state = state;
  button.textContent = state === "on" ? button.dataset.turnOff : button.dataset.turnOn;
}

async function refresh() {
  if (!document.querySelector("[data-push-status]")) return;
  if (!supported()) return show("unsupported");
  if (Notification.permission === "denied") return show("denied");
  show((await currentSubscription()) ? "on" : "off");
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-push-toggle]");
  if (!button) return;
  button.disabled = true;
  try {
    show(button.dataset.state === "on" ? await turnOff() : await turnOn());
  } catch (error) {
    show("failed");
  } finally {
    button.disabled = false;
  }
});

// Signing out: this browser's subscription goes too (the server forgets it as well).
document.addEventListener(
  "submit",
  (event) => {
    if (!supported() || !event.target.matches('form[action="/auth/logout"]')) return;
    currentSubscription()
      .then((subscription) => subscription && subscription.unsubscribe())
      .catch(() => {});
  },
  true,
);

document.addEventListener("htmx:afterSettle", refresh);
refresh();
