// The rooms screen: the room list, a room's messages (newest first, live, older pages by
// cursor), deleting one or several messages, clearing with filters, and the audit log.

import { call, newIdempotencyKey, path } from "./api.js";
import { confirmAction, focusOwner, moveFocus } from "./confirm.js";
import { me, view } from "./state.js";
import {
  $, clientIds, count, el, exclusive, isoFromLocal, numbers, say, showError, when,
} from "./ui.js";

const PAGE = 50;
const ROOM_PAGE = 100;
const AUDIT_PAGE = 50;
/** The bulk delete takes at most this many IDs (moderation.md §2). */
const MAX_SELECTED = 100;

// ---- rooms ----

/** Loads the first page of rooms (`fresh`) or the next one. */
export async function loadRooms(fresh) {
  if (view.loadingRooms) {
    return;
  }
  const query = [["limit", String(ROOM_PAGE)]];
  if (!fresh && view.roomsCursor) {
    query.push(["before", view.roomsCursor]);
  }
  view.loadingRooms = true;
  const generation = view.generation;
  try {
    const page = await call("GET", "/rooms", { query });
    if (generation !== view.generation && !fresh) {
      return;
    }
    view.rooms = fresh ? page.data : view.rooms.concat(page.data);
    view.roomsCursor = page.data.length === ROOM_PAGE ? page.data[page.data.length - 1]._id : null;
    renderRooms();
  } catch (error) {
    showError(error);
  } finally {
    view.loadingRooms = false;
  }
}

function renderRooms() {
  const needle = $("room-search").value.trim().toLowerCase();
  const shown = view.rooms.filter((room) =>
    !needle || room._id.toLowerCase().includes(needle) || (room.name || "").toLowerCase().includes(needle));
  $("room-list").replaceChildren(...shown.map((room) => {
    const button = el("button", room.name || room._id, { type: "button", "data-room-id": room._id });
    button.append(el("small", room._id));
    button.addEventListener("click", () => openRoom(room._id));
    const item = el("li");
    item.append(button);
    return item;
  }));
  markCurrentRoom();
  $("rooms-empty").hidden = shown.length > 0;
  $("rooms-empty").textContent = needle
    ? "No loaded room matches. Press Enter to open a room by its exact ID."
    : "No rooms.";
  $("more-rooms").hidden = !view.roomsCursor;
}

/** Marks the open room in the list, in place (the focused button stays). */
function markCurrentRoom() {
  for (const button of $("room-list").querySelectorAll("button")) {
    if (view.room && button.dataset.roomId === view.room._id) {
      button.setAttribute("aria-current", "true");
    } else {
      button.removeAttribute("aria-current");
    }
  }
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

/** Whether this console's socket gets the room's events (members, and the API key). */
function liveHere(room) {
  return me.creds?.mode === "api-key" || (room.members || []).includes(me.id);
}

/**
 * Opens a room: its record and newest messages. Socket frames for it that arrive while it
 * loads are kept and replayed onto what loaded, so nothing is lost or brought back; an
 * answer for a room that is no longer wanted is dropped.
 */
export async function openRoom(roomId, { keepTab = false } = {}) {
  view.generation += 1;
  const generation = view.generation;
  view.pendingFrames = { room: roomId, frames: [] };
  let room;
  let page;
  try {
    room = await call("GET", path("rooms", roomId));
    page = await call("GET", path("rooms", roomId, "messages", "v3"), { query: [["limit", String(PAGE)]] });
  } catch (error) {
    if (generation === view.generation) {
      view.pendingFrames = null;
      showError(error);
    }
    return;
  }
  if (generation !== view.generation) {
    return;
  }
  const frames = view.pendingFrames.frames;
  view.pendingFrames = null;
  view.room = room;
  view.messages = page.data;
  view.total = page.totalCount;
  view.gone = new Set();
  view.selected.clear();
  view.hasOlder = page.data.length === PAGE;
  $("no-room").hidden = true;
  $("room-view").hidden = false;
  $("room-title").textContent = room.name && room.name !== room._id ? `${room.name} (${room._id})` : room._id;
  $("room-meta").textContent = `Owner ${room.owner}` +
    (room.managers?.length ? ` · managers ${room.managers.join(", ")}` : "") +
    ` · ${count(room.members?.length || 0, "member")}` +
    (room.retentionDays ? ` · messages kept ${count(room.retentionDays, "day")}` : "");
  $("not-live").hidden = liveHere(room);
  const moderator = canModerate(room);
  for (const node of document.querySelectorAll(".moderator-only")) {
    node.hidden = !moderator;
  }
  $("tab-clear").hidden = !moderator;
  $("tab-audit").hidden = !moderator;
  $("read-only").hidden = moderator;
  $("messages").replaceChildren(...view.messages.map((m) => messageItem(m, false)));
  renderCounts();
  markCurrentRoom();
  if (!keepTab || !moderator) {
    selectTab("messages");
  } else if (!$("panel-audit").hidden) {
    loadAudit(true);
  }
  for (const frame of frames) {
    onRoomEvent(frame, { replayed: true });
  }
}

/**
 * Applies a socket frame to the open room (or keeps it while the room loads). A frame
 * `replayed` after a load may be older than what loaded: its deletions count only for the
 * messages still shown (the loaded total may already leave the others out).
 */
export function onRoomEvent(frame, { replayed = false } = {}) {
  const data = frame.data || {};
  if (view.pendingFrames && data.room === view.pendingFrames.room) {
    view.pendingFrames.frames.push(frame);
    return;
  }
  // The room still shown while another loads keeps up too (the load may fail).
  if (!view.room || data.room !== view.room._id) {
    return;
  }
  if (frame.event === "chat message") {
    if (!view.messages.some((m) => m._id === data._id) && !view.gone.has(data._id)) {
      view.messages.unshift(data);
      view.total += 1;
      $("messages").prepend(messageItem(data, true));
      renderCounts();
    }
    return;
  }
  if (frame.event !== "messageDeleted") {
    return;
  }
  if (data.messageID === "_all" && data.filter) {
    // A filtered clear: only the server knows which messages matched. (Not while another
    // room loads: this one is being left.)
    if (!view.pendingFrames) {
      openRoom(view.room._id, { keepTab: true });
    }
    return;
  }
  const onlyShown = replayed;
  if (data.messageID === "_all") {
    removeMessages([], { everything: true });
  } else if (data.messageID === "_bulk" && Array.isArray(data.messageIDs)) {
    removeMessages(data.messageIDs, { onlyShown });
  } else {
    // One message (whatever its ID: a message may be called "_bulk").
    removeMessages([data.messageID], { onlyShown });
  }
  if (!$("panel-audit").hidden) {
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
  const label = `the message from ${message.sender} at ${when(message.messageTime)}`;
  const box = el("input", null, { type: "checkbox", "aria-label": `Select ${label}` });
  box.checked = view.selected.has(message._id);
  box.hidden = !moderator;
  box.addEventListener("change", () => {
    if (box.checked && view.selected.size >= MAX_SELECTED) {
      box.checked = false;
      showError(new Error(`At most ${MAX_SELECTED} messages can be deleted together.`));
      return;
    }
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
  if (moderator) {
    // The way to a spammer's whole output: the clear form, filled in with this sender.
    const all = el("button", `All from ${message.sender}…`, {
      type: "button",
      class: "link from-sender",
      "aria-label": `Clear every message from ${message.sender}: preview first`,
    });
    all.addEventListener("click", () => clearFromSender(message.sender));
    meta.append(" · ", all);
  }
  const { text, kind } = messageText(message);
  main.append(meta, el("p", text, { class: `body ${kind}` }));
  item.append(box, main);
  if (moderator) {
    const remove = el("button", "Delete", { type: "button", class: "delete-one", "aria-label": `Delete ${label}` });
    remove.addEventListener("click", () => exclusive(() => deleteOne(message)));
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

/**
 * Takes deleted messages off the list and the total (each ID once, loaded or not; with
 * `onlyShown`, only those on the list count), and keeps keyboard focus in the list when the
 * focused message goes.
 */
function removeMessages(ids, { everything = false, onlyShown = false } = {}) {
  const shown = new Set(view.messages.map((m) => m._id));
  const fresh = ids.filter((id) => !view.gone.has(id) && (!onlyShown || shown.has(id)));
  for (const id of fresh) {
    view.gone.add(id);
  }
  const gone = new Set(ids);
  view.messages = everything ? [] : view.messages.filter((m) => !gone.has(m._id));
  view.total = everything ? 0 : Math.max(0, view.total - fresh.length);
  for (const id of ids) {
    view.selected.delete(id);
  }
  if (everything) {
    view.selected.clear();
    view.hasOlder = false;
  }
  const items = [...$("messages").children];
  const owner = focusOwner();
  const focused = items.findIndex((item) => item.contains(owner));
  for (const item of items) {
    if (everything || gone.has(item.dataset.messageId)) {
      item.remove();
    }
  }
  renderCounts();
  if (focused >= 0 && !items[focused].isConnected) {
    const next = items.slice(focused + 1).find((i) => i.isConnected) ||
      items.slice(0, focused).reverse().find((i) => i.isConnected);
    moveFocus(next ? next.querySelector("button") || next : $("messages"));
  }
}

async function loadOlder() {
  if (!view.room || !view.hasOlder || view.loadingOlder || view.pendingFrames) {
    return;
  }
  const last = view.messages[view.messages.length - 1];
  if (!last) {
    return;
  }
  const generation = view.generation;
  view.loadingOlder = true;
  try {
    const page = await call("GET", path("rooms", view.room._id, "messages", "v3"), {
      query: [["limit", String(PAGE)], ["beforeMessage", last._id]],
    });
    if (generation !== view.generation) {
      return;
    }
    const known = new Set(view.messages.map((m) => m._id));
    const older = page.data.filter((m) => !known.has(m._id) && !view.gone.has(m._id));
    view.messages = view.messages.concat(older);
    view.hasOlder = page.data.length === PAGE;
    $("messages").append(...older.map((m) => messageItem(m, false)));
    renderCounts();
  } catch (error) {
    if (generation !== view.generation) {
      return;
    }
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

/**
 * A browser cannot send a path segment `.` or `..` (it resolves it), so such a message is
 * deleted through the bulk endpoint, whose IDs travel in the body.
 */
function reachableByPath(id) {
  return id !== "." && id !== "..";
}

async function deleteOne(message) {
  const room = view.room._id;
  const byPath = reachableByPath(message._id);
  const target = byPath ? path("rooms", room, "messages", message._id) : path("rooms", room, "messages", "delete");
  const send = (options) => byPath
    ? call("DELETE", target, options)
    : call("POST", target, { ...options, body: { messageIDs: [message._id] } });
  let preview;
  try {
    preview = await send({ query: [["dryRun", "true"]] });
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
    action: (reason) => send({ reason, idempotencyKey: key }),
  });
  if (result) {
    removeMessages([message._id]);
    say(`Deleted ${count(result.deletedCount, "message")}.`);
  }
}

async function deleteSelected() {
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
    const n = preview.notFound.length;
    detail.push(el("p", `${count(n, "selected message")} no longer exist${n === 1 ? "s" : ""}.`));
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
}

$("delete-selected").addEventListener("click", () => exclusive(deleteSelected));

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

/** One millisecond after an ISO time: a `before` that keeps everything up to that moment. */
export function justAfter(iso) {
  return new Date(Date.parse(iso) + 1).toISOString();
}

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
  const senders = clientIds($("clear-senders").value);
  for (const sender of senders) {
    query.push(["sender", sender]);
  }
  return { query, senders, after, before };
}

function clearTitle(n, { senders, after, before }) {
  if (!senders.length && !after && !before) {
    return `Permanently delete all ${count(n, "message")} of this room?`;
  }
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
  return `${title}?`;
}

/**
 * The result line ("Deleted 3 messages{suffix}."), saying so when fewer went than the
 * preview counted (others deleted some in between).
 */
export function deletedLine(result, previewed, suffix = "") {
  const line = `Deleted ${count(result.deletedCount, "message")}${suffix}`;
  return result.deletedCount === previewed
    ? `${line}.`
    : `${line} (the preview counted ${numbers.format(previewed)}; the others were deleted meanwhile).`;
}

async function previewClear() {
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
  // What is confirmed is what the preview counted: messages sent after it are kept.
  const query = filters.before ? filters.query : filters.query.concat([["before", justAfter(preview.deletedAt)]]);
  const key = newIdempotencyKey();
  const n = preview.deletedCount;
  const detail = n === 0
    ? [el("p", "Nothing to delete: no message matches.")]
    : [el("p", "They disappear for everyone at once and cannot be restored. Messages sent after this preview are kept.")];
  if (filters.senders.length) {
    detail.push(el("p", `Senders: ${filters.senders.join(", ")}`));
  }
  const result = await confirmAction({
    title: n === 0 ? "No message matches" : clearTitle(n, filters),
    detail,
    okLabel: `Delete ${count(n, "message")}`,
    canConfirm: n > 0,
    action: () => call("DELETE", target, { query, reason: $("clear-reason").value.trim(), idempotencyKey: key }),
  });
  if (result) {
    say(deletedLine(result, n));
    $("clear-form").reset();
    await openRoom(room, { keepTab: true });
  }
}

/** Opens the clear form with only `sender` in it, ready to preview. */
function clearFromSender(sender) {
  $("clear-form").reset();
  $("clear-senders").value = sender;
  selectTab("clear");
  $("clear-preview").focus();
}

$("clear-form").addEventListener("submit", (event) => {
  event.preventDefault();
  exclusive(previewClear);
});

// ---- audit log ----

function describe(record) {
  if (record.messageID === "_all") {
    return record.filter ? "Filtered clear" : "Clear of the room";
  }
  if (record.messageID === "_bulk" && record.messageIDs) {
    return `Selected messages: ${record.messageIDs.join(", ")}`;
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
  if (!view.room || (view.loadingAudit && !fresh)) {
    return;
  }
  const room = view.room._id;
  const query = [["limit", String(AUDIT_PAGE)]];
  if (!fresh && view.auditCursor) {
    query.push(["before", view.auditCursor]);
  }
  view.loadingAudit = true;
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
    view.auditCursor = page.data.length === AUDIT_PAGE ? page.data[page.data.length - 1]._id : null;
    $("older-audit").hidden = !view.auditCursor;
    $("audit-empty").hidden = $("audit-rows").children.length > 0;
  } catch (error) {
    showError(error);
  } finally {
    view.loadingAudit = false;
  }
}

$("older-audit").addEventListener("click", () => loadAudit(false));

/** Empties the room screen (signing out). */
export function clearRoomScreen() {
  $("room-list").replaceChildren();
  $("messages").replaceChildren();
  $("audit-rows").replaceChildren();
  $("room-view").hidden = true;
  $("no-room").hidden = false;
  $("room-search").value = "";
  $("clear-form").reset();
}
