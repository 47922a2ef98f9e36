// The console itself: start() wires signing in and out, the navigation between screens and
// the live connection, and starts every screen. The screens are rooms.js (the rooms list),
// room.js (the open room and its tabs: messages.js, reports.js, clear.js, audit.js),
// admin.js (API key only) and reports.js's platform Reports screen (API key only, sharing
// the room tab's rendering and actions); what they show is in store.js. Nothing happens
// until main.js calls start().

import { call, credentials, onUnauthorized } from "./api.js";
import * as admin from "./admin.js";
import { connect } from "./live.js";
import * as reports from "./reports.js";
import * as room from "./room.js";
import * as rooms from "./rooms.js";
import * as store from "./store.js";
import { $, say, showError } from "./ui.js";

/** The socket connection while signed in (live.js). */
let live = null;

/** Wires the page and signs in again with this tab's credentials, if it has any. */
export function start() {
  onUnauthorized((message) => showSignIn(`Signed out: ${message}`));
  $("sign-in-form").addEventListener("submit", submitSignIn);
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener("change", syncSignInMode);
  }
  $("sign-out").addEventListener("click", () => {
    showSignIn();
    $("notice").hidden = true;
    say("Signed out.");
  });
  $("notice-close").addEventListener("click", () => {
    $("notice").hidden = true;
  });
  $("nav-rooms").addEventListener("click", () => showPane("rooms"));
  $("nav-purge").addEventListener("click", () => {
    showPane("purge");
    admin.showPurge();
  });
  $("nav-deliveries").addEventListener("click", () => {
    showPane("deliveries");
    admin.showDeliveries();
  });
  $("nav-reports").addEventListener("click", () => {
    showPane("reports");
    reports.showPlatform();
  });
  rooms.start();
  room.start();
  admin.start();
  reports.start({ openRoom: room.openRoom, showRooms: () => showPane("rooms") });

  syncSignInMode();
  const stored = credentials.load();
  if (stored) {
    // A reload: sign in again with this tab's credentials. Only a 401 forgets them; an
    // outage leaves them for the next reload.
    signIn(stored).catch((error) => {
      if (error.status === 401) {
        showSignIn(`Signed out: ${error.message}`);
      } else {
        $("sign-in").hidden = false;
        showError(new Error(`${error.message} Reload the page to try again.`));
      }
    });
  } else {
    showSignIn();
  }
}

// ---- signing in and out ----

function selectedMode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function syncSignInMode() {
  const mode = selectedMode();
  document.querySelector(".mode-token").hidden = mode !== "token";
  document.querySelector(".mode-api-key").hidden = mode !== "api-key";
}

/**
 * Back to the sign-in form, forgetting the credentials and everything shown (the next
 * caller of this tab sees nothing of the last one's).
 */
function showSignIn(message) {
  if (live) {
    live.close();
    live = null;
  }
  credentials.clear();
  store.reset();
  rooms.reset();
  room.reset();
  admin.reset();
  reports.reset();
  $("workspace").hidden = true;
  $("nav").hidden = true;
  $("sign-out").hidden = true;
  $("live").hidden = true;
  $("who").textContent = "";
  $("sign-in").hidden = false;
  $("status").textContent = "";
  if (message) {
    showError(new Error(message));
  }
  (selectedMode() === "api-key" ? $("api-key") : $("client-key")).focus();
}

async function submitSignIn(event) {
  event.preventDefault();
  const mode = selectedMode();
  const creds = mode === "api-key"
    ? { mode, apiKey: $("api-key").value.trim() }
    : { mode, clientKey: $("client-key").value.trim(), token: $("token").value.trim() };
  $("sign-in-button").disabled = true;
  try {
    await signIn(creds);
  } catch (error) {
    showError(error);
  } finally {
    $("sign-in-button").disabled = false;
  }
}

/** Checks the credentials with one read; who they are. */
async function identify(creds) {
  if (creds.mode === "api-key") {
    // With IM-API-KEY present the key alone decides: a wrong one is 401.
    await call("GET", "/rooms", { query: [["limit", "1"]], creds });
    return { id: "_platform", isPlatformAdmin: true, label: "Platform (API key)" };
  }
  const client = await call("GET", "/me", { creds });
  return {
    id: client._id,
    isPlatformAdmin: Boolean(client.isPlatformAdmin),
    label: client.nickname ? `${client.nickname} (${client._id})` : client._id,
  };
}

async function signIn(creds) {
  const who = await identify(creds);
  credentials.save(creds);
  store.update({ me: { creds, id: who.id, isPlatformAdmin: who.isPlatformAdmin } });
  $("notice").hidden = true;
  $("sign-in").hidden = true;
  $("sign-in-form").reset();
  syncSignInMode();
  $("who").textContent = `Signed in as ${who.label}`;
  $("sign-out").hidden = false;
  $("nav").hidden = false;
  for (const node of document.querySelectorAll(".admin-only")) {
    node.hidden = creds.mode !== "api-key";
  }
  $("workspace").hidden = false;
  showPane("rooms");
  startLive(creds);
  await rooms.loadRooms(true);
}

// ---- the live connection ----

function startLive(creds) {
  const indicator = $("live");
  indicator.hidden = false;
  indicator.textContent = "Connecting…";
  indicator.classList.remove("on");
  live = connect(creds, {
    onEvent: (frame) => {
      room.onFrame(frame);
      reports.onFrame(frame);
    },
    onState: (connected, resumed) => {
      indicator.textContent = connected ? "Live" : "Reconnecting…";
      indicator.classList.toggle("on", connected);
      const open = store.get().room;
      // Frames may have been missed while disconnected.
      if (connected && resumed && open) {
        room.openRoom(open._id, { keepTab: true });
      }
      if (connected && resumed) {
        reports.reloadPlatform();
      }
    },
    onRejected: (reason) => showSignIn(`Signed out: ${reason}`),
  });
}

// ---- screens ----

function showPane(name) {
  $("rooms-pane").hidden = name !== "rooms";
  $("room-pane").hidden = name !== "rooms";
  $("purge-pane").hidden = name !== "purge";
  $("deliveries-pane").hidden = name !== "deliveries";
  $("reports-pane").hidden = name !== "reports";
  const navigation = [["nav-rooms", "rooms"], ["nav-purge", "purge"], ["nav-deliveries", "deliveries"], ["nav-reports", "reports"]];
  for (const [id, pane] of navigation) {
    if (pane === name) {
      $(id).setAttribute("aria-current", "page");
    } else {
      $(id).removeAttribute("aria-current");
    }
  }
}
