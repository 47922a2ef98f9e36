// A room's messages (the Messages tab): the list, newest first, with older pages as it is
// scrolled; the counts; new and deleted messages as frames report them; selection; and
// deleting one message (also from the report queues, reports.js) or the selected ones.

import { call, newIdempotencyKey, path } from "./api.js";
import { fillFromSender } from "./clear.js";
import { confirmAction, focusOwner, moveFocus } from "./confirm.js";
import * as store from "./store.js";
import { $, count, el, exclusive, numbers, say, showError, when } from "./ui.js";

const PAGE = 50;
/** The bulk delete takes at most this many IDs (`messageIDs`: 1 to 100, docs/api.md). */
const MAX_SELECTED = 100;

/** room.js's openRoom, to start again from the newest (given to start). */
let openRoom = null;

/** Wires "Older messages", scrolling, "Delete selected" and the counts (once, at start). */
export function start(actions) {
  openRoom = actions.openRoom;
  $("older-messages").addEventListener("click", loadOlder);
  // Scrolling to the end of the list loads older messages.
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) {
      loadOlder();
    }
  }).observe($("older-messages"));
  $("delete-selected").addEventListener("click", () => exclusive(deleteSelected));
  store.subscribe((state, patch) => {
    if (["messages", "total", "selected", "hasOlder"].some((field) => field in patch)) {
      renderCounts();
    }
  });
}

/** A room's newest page of messages. */
export function fetchNewest(roomId) {
  return call("GET", path("rooms", roomId, "messages", "v3"), { query: [["limit", String(PAGE)]] });
}

/** The store's fields for a room just opened with `page` (fetchNewest's answer). */
export function newestPage(page) {
  return {
    messages: page.data,
    total: page.totalCount,
    gone: new Set(),
    selected: new Set(),
    hasOlder: page.data.length === PAGE,
  };
}

/** Shows the stored messages afresh (a room just opened). */
export function render() {
  $("messages").replaceChildren(...store.get().messages.map((m) => messageItem(m, false)));
}

/** A new message from the socket, at the top (once, and never one already deleted). */
export function add(message) {
  const { messages, gone, total } = store.get();
  if (messages.some((m) => m._id === message._id) || gone.has(message._id)) {
    return;
  }
  store.update({ messages: [message, ...messages], total: total + 1 });
  $("messages").prepend(messageItem(message, true));
}

/**
 * Takes deleted messages off the list and the total (each ID once, loaded or not; with
 * `onlyShown`, only those on the list count), and keeps keyboard focus in the list when the
 * focused message goes.
 */
export function remove(ids, { everything = false, onlyShown = false } = {}) {
  const state = store.get();
  const shown = new Set(state.messages.map((m) => m._id));
  const fresh = ids.filter((id) => !state.gone.has(id) && (!onlyShown || shown.has(id)));
  const removed = new Set(ids);
  const selected = everything ? new Set() : new Set([...state.selected].filter((id) => !removed.has(id)));
  const items = [...$("messages").children];
  const owner = focusOwner();
  const focused = items.findIndex((item) => item.contains(owner));
  for (const item of items) {
    if (everything || removed.has(item.dataset.messageId)) {
      item.remove();
    }
  }
  store.update({
    gone: new Set([...state.gone, ...fresh]),
    messages: everything ? [] : state.messages.filter((m) => !removed.has(m._id)),
    total: everything ? 0 : Math.max(0, state.total - fresh.length),
    selected,
    hasOlder: everything ? false : state.hasOlder,
  });
  if (focused >= 0 && !items[focused].isConnected) {
    const next = items.slice(focused + 1).find((i) => i.isConnected) ||
      items.slice(0, focused).reverse().find((i) => i.isConnected);
    moveFocus(next ? next.querySelector("button") || next : $("messages"));
  }
}

/** Empties the list (signing out). */
export function reset() {
  $("messages").replaceChildren();
}

/**
 * What a message says, for people: its text, JSON content as written, or a note for a
 * recall or for content no longer there (a reported message deleted since, reports.js);
 * `kind` ("text", "json", "recall", "gone") styles it.
 */
export function messageText(message) {
  if (message.messageType === "recall") {
    return { text: "(recalled by its sender)", kind: "recall" };
  }
  if (message.message === null || message.message === undefined) {
    return { text: "(deleted)", kind: "gone" };
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
  const moderator = store.canModerate(store.get().room);
  const label = `the message from ${message.sender} at ${when(message.messageTime)}`;
  const box = el("input", null, { type: "checkbox", "aria-label": `Select ${label}` });
  box.checked = store.get().selected.has(message._id);
  box.hidden = !moderator;
  box.addEventListener("change", () => select(box, message._id));
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
    all.addEventListener("click", () => fillFromSender(message.sender));
    meta.append(" · ", all);
  }
  const { text, kind } = messageText(message);
  main.append(meta, el("p", text, { class: `body ${kind}` }));
  item.append(box, main);
  if (moderator) {
    const button = el("button", "Delete", { type: "button", class: "delete-one", "aria-label": `Delete ${label}` });
    button.addEventListener("click", () => exclusive(() => deleteMessage(store.get().room._id, message)));
    item.append(button);
  }
  return item;
}

/** A message's checkbox changed: select it (up to MAX_SELECTED) or not. */
function select(box, id) {
  const selected = new Set(store.get().selected);
  if (box.checked && selected.size >= MAX_SELECTED) {
    box.checked = false;
    showError(new Error(`At most ${MAX_SELECTED} messages can be deleted together.`));
    return;
  }
  if (box.checked) {
    selected.add(id);
  } else {
    selected.delete(id);
  }
  store.update({ selected });
}

function renderCounts() {
  const { total, messages, hasOlder, selected } = store.get();
  $("message-count").textContent = `${count(total, "message")} in this room`;
  $("messages-empty").hidden = messages.length > 0;
  $("older-messages").hidden = !hasOlder;
  $("delete-selected").textContent = `Delete selected (${numbers.format(selected.size)})`;
  $("delete-selected").disabled = selected.size === 0;
}

async function loadOlder() {
  const { room, hasOlder, loadingOlder, pendingFrames, messages, generation } = store.get();
  if (!room || !hasOlder || loadingOlder || pendingFrames) {
    return;
  }
  const last = messages[messages.length - 1];
  if (!last) {
    return;
  }
  store.update({ loadingOlder: true });
  try {
    const page = await call("GET", path("rooms", room._id, "messages", "v3"), {
      query: [["limit", String(PAGE)], ["beforeMessage", last._id]],
    });
    const now = store.get();
    if (generation !== now.generation) {
      return;
    }
    const known = new Set(now.messages.map((m) => m._id));
    const older = page.data.filter((m) => !known.has(m._id) && !now.gone.has(m._id));
    store.update({ messages: now.messages.concat(older), hasOlder: page.data.length === PAGE });
    $("messages").append(...older.map((m) => messageItem(m, false)));
  } catch (error) {
    if (generation !== store.get().generation) {
      return;
    }
    if (error.code === "MESSAGE_NOT_FOUND") {
      // The cursor message was deleted meanwhile: start again from the newest.
      openRoom(room._id, { keepTab: true });
    } else {
      showError(error);
    }
  } finally {
    store.update({ loadingOlder: false });
  }
}

function senderSummary(ids) {
  const senders = new Set(store.get().messages.filter((m) => ids.includes(m._id)).map((m) => m.sender));
  return senders.size ? ` from ${count(senders.size, "sender")}` : "";
}

/**
 * A browser cannot send a path segment `.` or `..` (it resolves it), so such a message is
 * deleted through the bulk endpoint, whose IDs travel in the body (and its reports cannot
 * be dismissed from the console, reports.js).
 */
export function reachableByPath(id) {
  return id !== "." && id !== "..";
}

/**
 * Deletes one message of room `roomId` (a message object: `_id`, `sender`, `message`): the
 * server's dry run, the confirmation with its reason, then the deletion under one
 * Idempotency-Key. Keeps the open room's list current when the message is in it. Resolves
 * to the deletion's answer, or null when cancelled or when the dry run failed (shown;
 * `onGone()` is called first when the message no longer exists). The Delete buttons of the
 * list and of the report queues (reports.js) both come here.
 */
export async function deleteMessage(roomId, message, { onGone = () => {} } = {}) {
  const inOpenRoom = () => store.get().room?._id === roomId;
  const byPath = reachableByPath(message._id);
  const target = byPath ? path("rooms", roomId, "messages", message._id) : path("rooms", roomId, "messages", "delete");
  const send = (options) => byPath
    ? call("DELETE", target, options)
    : call("POST", target, { ...options, body: { messageIDs: [message._id] } });
  let preview;
  try {
    preview = await send({ query: [["dryRun", "true"]] });
  } catch (error) {
    if (error.code === "MESSAGE_NOT_FOUND") {
      if (inOpenRoom()) {
        remove([message._id]);
      }
      onGone();
    }
    showError(error);
    return null;
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
    if (inOpenRoom()) {
      remove([message._id]);
    }
    say(`Deleted ${count(result.deletedCount, "message")}.`);
  }
  return result;
}

async function deleteSelected() {
  const { room, selected } = store.get();
  const ids = [...selected];
  const target = path("rooms", room._id, "messages", "delete");
  let preview;
  try {
    preview = await call("POST", target, { query: [["dryRun", "true"]], body: { messageIDs: ids } });
  } catch (error) {
    if (error.code === "MESSAGE_NOT_FOUND") {
      remove(ids);
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
    remove(result.messageIDs.concat(preview.notFound));
    say(`Deleted ${count(result.deletedCount, "message")}.`);
  }
}
