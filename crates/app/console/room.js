// The open room (right column): its record and newest messages, who may moderate it, its
// tabs (Messages, Reports, Clear messages, Audit log: messages.js, reports.js, clear.js,
// audit.js), and the socket frames that keep it current, including those that arrive while
// it loads. (Report frames are reports.js's: app.js gives it every frame.)

import { call, path } from "./api.js";
import * as audit from "./audit.js";
import * as clearForm from "./clear.js";
import * as messages from "./messages.js";
import * as reports from "./reports.js";
import * as store from "./store.js";
import { $, count, showError } from "./ui.js";

const TABS = ["messages", "reports", "clear", "audit"];

/**
 * Wires the tabs and starts three tab screens (once, at start). The Reports tab is started
 * by app.js with the platform's Reports screen, whose code it shares (reports.js).
 */
export function start() {
  for (const tab of TABS) {
    $(`tab-${tab}`).addEventListener("click", () => store.update({ tab }));
  }
  // Arrow keys move between tabs (the WAI-ARIA tabs pattern).
  document.querySelector(".tabs").addEventListener("keydown", (event) => {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") {
      return;
    }
    const tabs = [...document.querySelectorAll('.tabs [role="tab"]')].filter((t) => !t.hidden);
    const at = tabs.indexOf(document.activeElement);
    const next = tabs[(at + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    next.focus();
    next.click();
  });
  // Selecting a tab shows it; the reports and the audit log load afresh each time they
  // are selected.
  store.subscribe((state, patch) => {
    if ("tab" in patch) {
      showTab(patch.tab);
      if (patch.tab === "reports") {
        reports.loadRoom();
      } else if (patch.tab === "audit") {
        audit.load(true);
      }
    }
  });
  messages.start({ openRoom });
  clearForm.start({ openRoom });
  audit.start();
}

/**
 * Opens a room: its record and newest messages. Socket frames for it that arrive while it
 * loads are kept and replayed onto what loaded, so nothing is lost or brought back; an
 * answer for a room that is no longer wanted is dropped. `keepTab`: stay on the tab shown
 * (a reload of the same room).
 */
export async function openRoom(roomId, { keepTab = false } = {}) {
  const generation = store.get().generation + 1;
  store.update({ generation, pendingFrames: { room: roomId, frames: [] } });
  let room;
  let page;
  try {
    room = await call("GET", path("rooms", roomId));
    page = await messages.fetchNewest(roomId);
  } catch (error) {
    if (generation === store.get().generation) {
      store.update({ pendingFrames: null });
      showError(error);
    }
    return;
  }
  if (generation !== store.get().generation) {
    return;
  }
  const { frames } = store.get().pendingFrames;
  store.update({ pendingFrames: null, room, ...messages.newestPage(page) });
  $("no-room").hidden = true;
  $("room-view").hidden = false;
  showHeader(room);
  const moderator = store.canModerate(room);
  for (const node of document.querySelectorAll(".moderator-only")) {
    node.hidden = !moderator;
  }
  $("tab-reports").hidden = !moderator;
  $("tab-clear").hidden = !moderator;
  $("tab-audit").hidden = !moderator;
  $("read-only").hidden = moderator;
  messages.render();
  if (!keepTab || !moderator) {
    store.update({ tab: "messages" });
  } else if (store.get().tab === "reports") {
    reports.loadRoom();
  } else if (store.get().tab === "audit") {
    audit.load(true);
  }
  for (const frame of frames) {
    onFrame(frame, { replayed: true });
  }
}

/**
 * Applies a socket frame to the open room (or keeps it while the room loads). A frame
 * `replayed` after a load may be older than what loaded: its deletions count only for the
 * messages still shown (the loaded total may already leave the others out).
 */
export function onFrame(frame, { replayed = false } = {}) {
  const { pendingFrames, room } = store.get();
  const data = frame.data || {};
  if (pendingFrames && data.room === pendingFrames.room) {
    store.update({ pendingFrames: { ...pendingFrames, frames: [...pendingFrames.frames, frame] } });
    return;
  }
  // The room still shown while another loads keeps up too (the load may fail).
  if (!room || data.room !== room._id) {
    return;
  }
  if (frame.event === "chat message") {
    messages.add(data);
    return;
  }
  if (frame.event !== "messageDeleted") {
    return;
  }
  if (data.messageID === "_all" && data.filter) {
    // A filtered clear: only the server knows which messages matched. (Not while another
    // room loads: this one is being left.)
    if (!pendingFrames) {
      openRoom(room._id, { keepTab: true });
    }
    return;
  }
  const onlyShown = replayed;
  if (data.messageID === "_all") {
    messages.remove([], { everything: true });
  } else if (data.messageID === "_bulk" && Array.isArray(data.messageIDs)) {
    messages.remove(data.messageIDs, { onlyShown });
  } else {
    // One message (whatever its ID: a message may be called "_bulk").
    messages.remove([data.messageID], { onlyShown });
  }
  if (store.get().tab === "audit") {
    audit.load(true);
  }
}

/** Empties the room and its tabs (signing out). */
export function reset() {
  messages.reset();
  clearForm.reset();
  audit.reset();
  $("room-view").hidden = true;
  $("no-room").hidden = false;
}

/** Whether this console's socket gets the room's events (members, and the API key). */
function liveHere(room) {
  const { me } = store.get();
  return me.creds?.mode === "api-key" || (room.members || []).includes(me.id);
}

function showHeader(room) {
  $("room-title").textContent = room.name && room.name !== room._id ? `${room.name} (${room._id})` : room._id;
  $("room-meta").textContent = `Owner ${room.owner}` +
    (room.managers?.length ? ` · managers ${room.managers.join(", ")}` : "") +
    ` · ${count(room.members?.length || 0, "member")}` +
    (room.retentionDays ? ` · messages kept ${count(room.retentionDays, "day")}` : "");
  $("not-live").hidden = liveHere(room);
}

function showTab(name) {
  for (const tab of TABS) {
    const on = tab === name;
    $(`tab-${tab}`).setAttribute("aria-selected", String(on));
    $(`tab-${tab}`).tabIndex = on ? 0 : -1;
    $(`panel-${tab}`).hidden = !on;
  }
}
