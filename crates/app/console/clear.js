// The Clear messages tab: every message of the open room that matches a time window,
// senders and a text, counted by the server's dry run (with the newest matches shown),
// confirmed, deleted up to the preview's moment, and the room reloaded.

import { call, newIdempotencyKey, path } from "./api.js";
import { confirmAction, deletedLine, justAfter } from "./confirm.js";
import * as store from "./store.js";
import { $, clientIds, count, el, exclusive, isoFromLocal, say, showError, when } from "./ui.js";

/** room.js's openRoom, to reload the room after a clear (given to start). */
let openRoom = null;

/** Wires the form (once, at start). */
export function start(actions) {
  openRoom = actions.openRoom;
  $("clear-form").addEventListener("submit", (event) => {
    event.preventDefault();
    exclusive(previewClear);
  });
}

/** Opens the clear form with only `sender` in it, ready to preview. */
export function fillFromSender(sender) {
  $("clear-form").reset();
  $("clear-senders").value = sender;
  store.update({ tab: "clear" });
  $("clear-preview").focus();
}

/** Empties the form (signing out). */
export function reset() {
  $("clear-form").reset();
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
  const contains = $("clear-contains").value;
  if (contains.trim()) {
    query.push(["contains", contains]);
  }
  return { query, senders, after, before, contains: contains.trim() ? contains : "" };
}

function clearTitle(n, { senders, after, before, contains }) {
  if (!senders.length && !after && !before && !contains) {
    return `Permanently delete all ${count(n, "message")} of this room?`;
  }
  let title = `Permanently delete ${count(n, "message")}`;
  if (contains) {
    title += ` containing “${contains}”`;
  }
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

async function previewClear() {
  const room = store.get().room._id;
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
  if (preview.sample?.length) {
    detail.push(el("p", n > preview.sample.length ? "The newest of them:" : "They are:"));
    detail.push(sampleList(preview.sample));
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

/** The dry run's sample as a list: sender, then the text (JSON content as written). */
export function sampleList(sample) {
  const list = el("ul", null, { class: "sample", id: "clear-sample" });
  for (const m of sample) {
    const text = typeof m.message === "string" ? m.message : JSON.stringify(m.message);
    list.append(el("li", `${m.sender}: ${text}`));
  }
  return list;
}
