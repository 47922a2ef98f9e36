// The Roomwarden moderator console: sign in, rooms, messages (live), deletion with dry-run
// confirmations, the audit log, and for platform administrators user purges and webhook
// deliveries. Everything goes through the public HTTP API (api.js) and /socket (live.js).

import { call, credentials, newIdempotencyKey, onUnauthorized, path } from "./api.js";
import { confirmAction } from "./confirm.js";
import { connect } from "./live.js";
import { openDeliveries, showDeliveries, showPurge } from "./admin.js";
import { $, count, el, isoFromLocal, numbers, say, showError, when } from "./ui.js";

const PAGE = 50;

/** What the console knows about the caller. */
const me = {
  creds: null,
  id: null,
  isPlatformAdmin: false,
};

const view = {
  rooms: [],
  roomsCursor: null,
  room: null,
  messages: [],
  selected: new Set(),
  oldestLoaded: null,
  hasOlder: false,
  total: 0,
  auditCursor: null,
  live: null,
};

// ---- signing in and out ----

function showSignIn(message) {
  if (view.live) {
    view.live.close();
    view.live = null;
  }
  credentials.clear();
  me.creds = null;
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
  const mode = document.querySelector('input[name="mode"]:checked').value;
  (mode === "api-key" ? $("api-key") : $("client-key")).focus();
}

onUnauthorized((message) => showSignIn(`Signed out: ${message}`));

function syncSignInMode() {
  const mode = document.querySelector('input[name="mode"]:checked').value;
  document.querySelector(".mode-token").hidden = mode !== "token";
  document.querySelector(".mode-api-key").hidden = mode !== "api-key";
}

async function identify(creds) {
  if (creds.mode === "api-key") {
    // Any API-key-only read proves the key.
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
  me.creds = creds;
  me.id = who.id;
  me.isPlatformAdmin = who.isPlatformAdmin;
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
  startLive();
  await loadRooms(true);
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const mode = document.querySelector('input[name="mode"]:checked').value;
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
});

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

// ---- the live connection ----

function startLive() {
  const indicator = $("live");
  indicator.hidden = false;
  indicator.textContent = "Connecting…";
  indicator.classList.remove("on");
  view.live = connect(me.creds, {
    onEvent: onLiveEvent,
    onState: (live, resumed) => {
      indicator.textContent = live ? "Live" : "Reconnecting…";
      indicator.classList.toggle("on", live);
      if (live && resumed && view.room) {
        // Events may have been missed while disconnected.
        openRoom(view.room._id, { keepTab: true });
      }
    },
    onRejected: (reason) => showSignIn(`Signed out: ${reason}`),
  });
}

function onLiveEvent(frame) {
  const data = frame.data || {};
  if (!view.room || data.room !== view.room._id) {
    return;
  }
  if (frame.event === "chat message") {
    if (!view.messages.some((m) => m._id === data._id)) {
      view.messages.unshift(data);
      view.total += 1;
      $("messages").prepend(messageItem(data, true));
      renderCounts();
    }
  } else if (frame.event === "messageDeleted") {
    if (data.messageID === "_all" && data.filter) {
      // A filtered clear: the server knows which ones matched.
      openRoom(view.room._id, { keepTab: true });
    } else if (data.messageID === "_all") {
      removeMessages(view.messages.map((m) => m._id), true);
    } else if (data.messageID === "_bulk") {
      removeMessages(data.messageIDs || []);
    } else {
      removeMessages([data.messageID]);
    }
    if (!$("panel-audit").hidden) {
      loadAudit(true);
    }
  }
}

// ---- panes ----

function showPane(name) {
  $("rooms-pane").hidden = name !== "rooms";
  $("room-pane").hidden = name !== "rooms";
  $("purge-pane").hidden = name !== "purge";
  $("deliveries-pane").hidden = name !== "deliveries";
  for (const [id, pane] of [["nav-rooms", "rooms"], ["nav-purge", "purge"], ["nav-deliveries", "deliveries"]]) {
    if (pane === name) {
      $(id).setAttribute("aria-current", "page");
    } else {
      $(id).removeAttribute("aria-current");
    }
  }
}

$("nav-rooms").addEventListener("click", () => showPane("rooms"));
$("nav-purge").addEventListener("click", () => {
  showPane("purge");
  showPurge();
});
$("nav-deliveries").addEventListener("click", () => {
  showPane("deliveries");
  showDeliveries();
});

// ---- rooms ----

async function loadRooms(fresh) {
  const query = [["limit", "100"]];
  if (!fresh && view.roomsCursor) {
    query.push(["before", view.roomsCursor]);
  }
  try {
    const page = await call("GET", "/rooms", { query });
    view.rooms = fresh ? page.data : view.rooms.concat(page.data);
    view.roomsCursor = page.data.length === 100 ? page.data[page.data.length - 1]._id : null;
    renderRooms();
  } catch (error) {
    showError(error);
  }
}

function renderRooms() {
  const needle = $("room-search").value.trim().toLowerCase();
  const shown = view.rooms.filter((room) =>
    !needle || room._id.toLowerCase().includes(needle) || (room.name || "").toLowerCase().includes(needle));
  const list = $("room-list");
  list.replaceChildren(...shown.map((room) => {
    const button = el("button", room.name || room._id, { type: "button", "data-room-id": room._id });
    button.append(el("small", room._id));
    if (view.room && view.room._id === room._id) {
      button.setAttribute("aria-current", "true");
    }
    button.addEventListener("click", () => openRoom(room._id));
    const item = el("li");
    item.append(button);
    return item;
  }));
  $("rooms-empty").hidden = shown.length > 0;
  $("rooms-empty").textContent = needle
    ? "No loaded room matches. Press Enter to open a room by its exact ID."
    : "No rooms.";
  $("more-rooms").hidden = !view.roomsCursor;
}

$("room-search").addEventListener("input", renderRooms);
$("room-search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const needle = $("room-search").value.trim();
  if (needle) {
    openRoom(needle);
  }
});
$("more-rooms").addEventListener("click", () => loadRooms(false));

function canModerate(room) {
  return me.isPlatformAdmin || room.owner === me.id || (room.managers || []).includes(me.id);
}

async function openRoom(roomId, { keepTab = false } = {}) {
  let room;
  let page;
  try {
    room = await call("GET", path("rooms", roomId));
    page = await call("GET", path("rooms", roomId, "messages", "v3"), { query: [["limit", String(PAGE)]] });
  } catch (error) {
    showError(error);
    return;
  }
  view.room = room;
  view.messages = page.data;
  view.total = page.totalCount;
  view.selected.clear();
  view.hasOlder = page.data.length === PAGE;
  $("no-room").hidden = true;
  $("room-view").hidden = false;
  $("room-title").textContent = room.name && room.name !== room._id ? `${room.name} (${room._id})` : room._id;
  $("room-meta").textContent = `Owner ${room.owner}` +
    (room.managers?.length ? ` · managers ${room.managers.join(", ")}` : "") +
    ` · ${count(room.members?.length || 0, "member")}` +
    (room.retentionDays ? ` · messages kept ${count(room.retentionDays, "day")}` : "");
  const moderator = canModerate(room);
  for (const node of document.querySelectorAll(".moderator-only")) {
    node.hidden = !moderator;
  }
  $("tab-clear").hidden = !moderator;
  $("tab-audit").hidden = !moderator;
  $("read-only").hidden = moderator;
  $("messages").replaceChildren(...view.messages.map((m) => messageItem(m, false)));
  renderCounts();
  renderRooms();
  if (!keepTab || !moderator) {
    selectTab("messages");
  } else if (!$("panel-audit").hidden) {
    loadAudit(true);
  }
}

// ---- messages ----

function messageText(message) {
  if (message.messageType === "recall") {
    return { text: "(recalled by its sender)", kind: "recall" };
  }
  if (typeof message.message === "string") {
    return { text: message.message, kind: "text" };
  }
  return { text: JSON.stringify(message.message), kind: "json" };
}

function messageItem(message, fresh) {
  const item = el("li", null, { "data-message-id": message._id });
  if (fresh) {
    item.classList.add("new");
  }
  const moderator = canModerate(view.room);
  const box = el("input", null, {
    type: "checkbox",
    "aria-label": `Select the message from ${message.sender} at ${when(message.messageTime)}`,
  });
  box.checked = view.selected.has(message._id);
  box.hidden = !moderator;
  box.addEventListener("change", () => {
    if (box.checked) {
      view.selected.add(message._id);
    } else {
      view.selected.delete(message._id);
    }
    renderCounts();
  });
  const main = el("div");
  const meta = el("div", null, { class: "meta" });
  meta.append(el("strong", message.sender), ` · ${when(message.messageTime)} · ${message._id}`);
  const { text, kind } = messageText(message);
  main.append(meta, el("p", text, { class: `body ${kind}` }));
  item.append(box, main);
  if (moderator) {
    const remove = el("button", "Delete", {
      type: "button",
      class: "delete-one",
      "aria-label": `Delete the message from ${message.sender} at ${when(message.messageTime)}`,
    });
    remove.addEventListener("click", () => deleteOne(message));
    item.append(remove);
  }
  return item;
}

function renderCounts() {
  $("message-count").textContent = `${count(view.total, "message")} in this room`;
  $("messages-empty").hidden = view.messages.length > 0;
  $("older-messages").hidden = !view.hasOlder;
  const selected = view.selected.size;
  $("delete-selected").textContent = `Delete selected (${numbers.format(selected)})`;
  $("delete-selected").disabled = selected === 0;
}

function removeMessages(ids, everything = false) {
  const gone = new Set(ids);
  const before = view.messages.length;
  view.messages = everything ? [] : view.messages.filter((m) => !gone.has(m._id));
  const removed = before - view.messages.length;
  view.total = everything ? 0 : Math.max(0, view.total - removed);
  for (const id of ids) {
    view.selected.delete(id);
  }
  for (const item of [...$("messages").children]) {
    if (everything || gone.has(item.dataset.messageId)) {
      item.remove();
    }
  }
  if (everything) {
    view.selected.clear();
    view.hasOlder = false;
  }
  renderCounts();
}

async function loadOlder() {
  if (!view.room || !view.hasOlder || view.loadingOlder) {
    return;
  }
  const last = view.messages[view.messages.length - 1];
  if (!last) {
    return;
  }
  view.loadingOlder = true;
  try {
    const page = await call("GET", path("rooms", view.room._id, "messages", "v3"), {
      query: [["limit", String(PAGE)], ["beforeMessage", last._id]],
    });
    const known = new Set(view.messages.map((m) => m._id));
    const fresh = page.data.filter((m) => !known.has(m._id));
    view.messages = view.messages.concat(fresh);
    view.total = page.totalCount;
    view.hasOlder = page.data.length === PAGE;
    $("messages").append(...fresh.map((m) => messageItem(m, false)));
    renderCounts();
  } catch (error) {
    if (error.code === "MESSAGE_NOT_FOUND") {
      // The cursor message was deleted meanwhile: start again from the newest.
      openRoom(view.room._id, { keepTab: true });
    } else {
      showError(error);
    }
  } finally {
    view.loadingOlder = false;
  }
}

$("older-messages").addEventListener("click", loadOlder);
// Scrolling to the end of the list loads older messages.
new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting)) {
    loadOlder();
  }
}).observe($("older-messages"));

function senderSummary(ids) {
  const senders = new Set(view.messages.filter((m) => ids.includes(m._id)).map((m) => m.sender));
  return senders.size ? ` from ${count(senders.size, "sender")}` : "";
}

async function deleteOne(message) {
  const room = view.room._id;
  const target = path("rooms", room, "messages", message._id);
  let preview;
  try {
    preview = await call("DELETE", target, { query: [["dryRun", "true"]] });
  } catch (error) {
    if (error.code === "MESSAGE_NOT_FOUND") {
      removeMessages([message._id]);
    }
    showError(error);
    return;
  }
  const key = newIdempotencyKey();
  const { text } = messageText(message);
  const result = await confirmAction({
    title: `Permanently delete ${count(preview.deletedCount, "message")} from ${message.sender}?`,
    detail: [el("blockquote", text), el("p", "It disappears for everyone at once and cannot be restored.")],
    okLabel: "Delete message",
    withReason: true,
    action: (reason) => call("DELETE", target, { reason, idempotencyKey: key }),
  });
  if (result) {
    removeMessages([message._id]);
    say(`Deleted ${count(result.deletedCount, "message")}.`);
  }
}

$("delete-selected").addEventListener("click", async () => {
  const room = view.room._id;
  const ids = [...view.selected];
  const target = path("rooms", room, "messages", "delete");
  let preview;
  try {
    preview = await call("POST", target, { query: [["dryRun", "true"]], body: { messageIDs: ids } });
  } catch (error) {
    if (error.code === "MESSAGE_NOT_FOUND") {
      removeMessages(ids);
    }
    showError(error);
    return;
  }
  const found = preview.messageIDs;
  const detail = [el("p", "They disappear for everyone at once and cannot be restored.")];
  if (preview.notFound.length) {
    detail.push(el("p", `${count(preview.notFound.length, "selected message")} no longer exist${preview.notFound.length === 1 ? "s" : ""}.`));
  }
  const key = newIdempotencyKey();
  const result = await confirmAction({
    title: `Permanently delete ${count(preview.deletedCount, "message")}${senderSummary(found)}?`,
    detail,
    okLabel: `Delete ${count(preview.deletedCount, "message")}`,
    withReason: true,
    action: (reason) => call("POST", target, { body: { messageIDs: found }, reason, idempotencyKey: key }),
  });
  if (result) {
    removeMessages(result.messageIDs.concat(preview.notFound));
    say(`Deleted ${count(result.deletedCount, "message")}.`);
  }
});

// ---- tabs ----

function selectTab(name) {
  for (const tab of ["messages", "clear", "audit"]) {
    const on = tab === name;
    $(`tab-${tab}`).setAttribute("aria-selected", String(on));
    $(`tab-${tab}`).tabIndex = on ? 0 : -1;
    $(`panel-${tab}`).hidden = !on;
  }
  if (name === "audit") {
    loadAudit(true);
  }
}

for (const tab of ["messages", "clear", "audit"]) {
  $(`tab-${tab}`).addEventListener("click", () => selectTab(tab));
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

// ---- clear with filters ----

function clearFilters() {
  const query = [];
  const after = isoFromLocal($("clear-after").value);
  const before = isoFromLocal($("clear-before").value);
  if (after) {
    query.push(["after", after]);
  }
  if (before) {
    query.push(["before", before]);
  }
  const senders = [...new Set($("clear-senders").value.split(",").map((s) => s.trim()).filter(Boolean))];
  for (const sender of senders) {
    query.push(["sender", sender]);
  }
  return { query, senders, after, before };
}

function clearTitle(n, { senders, after, before }) {
  let title = `Permanently delete ${count(n, "message")}`;
  if (senders.length) {
    title += ` from ${count(senders.length, "sender")}`;
  }
  if (after && before) {
    title += ` sent between ${when(after)} and ${when(before)}`;
  } else if (after) {
    title += ` sent after ${when(after)}`;
  } else if (before) {
    title += ` sent before ${when(before)}`;
  }
  if (!senders.length && !after && !before) {
    title = `Permanently delete all ${count(n, "message")} of this room`;
  }
  return `${title}?`;
}

$("clear-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const room = view.room._id;
  const filters = clearFilters();
  const target = path("rooms", room, "messages", "_all");
  let preview;
  try {
    preview = await call("DELETE", target, { query: filters.query.concat([["dryRun", "true"]]) });
  } catch (error) {
    showError(error);
    return;
  }
  const key = newIdempotencyKey();
  const n = preview.deletedCount;
  const detail = n === 0
    ? [el("p", "Nothing to delete: no message matches.")]
    : [el("p", "They disappear for everyone at once and cannot be restored. Messages sent after you confirm are kept.")];
  if (filters.senders.length) {
    detail.push(el("p", `Senders: ${filters.senders.join(", ")}`));
  }
  const result = await confirmAction({
    title: n === 0 ? "No message matches" : clearTitle(n, filters),
    detail,
    okLabel: `Delete ${count(n, "message")}`,
    canConfirm: n > 0,
    action: () => call("DELETE", target, {
      query: filters.query,
      reason: $("clear-reason").value.trim(),
      idempotencyKey: key,
    }),
  });
  if (result) {
    say(`Deleted ${count(result.deletedCount, "message")}.`);
    $("clear-form").reset();
    await openRoom(room, { keepTab: true });
  }
});

// ---- audit log ----

function describe(record) {
  if (record.messageID === "_all") {
    return record.filter ? "Filtered clear" : "Clear of the room";
  }
  if (record.messageID === "_bulk") {
    return `Selected messages: ${(record.messageIDs || []).join(", ")}`;
  }
  return `Message ${record.messageID}`;
}

function describeFilter(filter) {
  if (!filter) {
    return "";
  }
  const parts = [];
  if (filter.after) {
    parts.push(`after ${filter.after}`);
  }
  if (filter.before) {
    parts.push(`before ${filter.before}`);
  }
  if (filter.sender) {
    parts.push(`senders ${filter.sender.join(", ")}`);
  }
  return parts.join("; ");
}

async function loadAudit(fresh) {
  if (!view.room) {
    return;
  }
  const room = view.room._id;
  const query = [["limit", "50"]];
  if (!fresh && view.auditCursor) {
    query.push(["before", view.auditCursor]);
  }
  try {
    const page = await call("GET", path("rooms", room, "deletions"), { query });
    if (!view.room || view.room._id !== room) {
      return;
    }
    const rows = page.data.map((record) => {
      const row = el("tr", null, { "data-record-id": record._id });
      row.append(
        el("td", when(record.deletedAt)),
        el("td", record.deletedBy),
        el("td", describe(record)),
        el("td", numbers.format(record.deletedCount), { class: "num" }),
        el("td", record.reason || ""),
        el("td", describeFilter(record.filter)),
      );
      return row;
    });
    if (fresh) {
      $("audit-rows").replaceChildren(...rows);
    } else {
      $("audit-rows").append(...rows);
    }
    view.auditCursor = page.data.length === 50 ? page.data[page.data.length - 1]._id : null;
    $("older-audit").hidden = !view.auditCursor;
    $("audit-empty").hidden = $("audit-rows").children.length > 0;
  } catch (error) {
    showError(error);
  }
}

$("older-audit").addEventListener("click", () => loadAudit(false));

// ---- start ----

syncSignInMode();
openDeliveries();
const stored = credentials.load();
if (stored) {
  signIn(stored).catch((error) => showSignIn(`Signed out: ${error.message}`));
} else {
  showSignIn();
}
