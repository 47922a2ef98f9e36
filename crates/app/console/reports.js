// The report queues (docs/api.md §7.10): the open room's Reports tab and the platform's
// Reports screen (API key). Both list reported messages, the most reported first, with one
// rendering and the same three actions on an open item, taken in the item's room: delete
// the message (messages.js's single delete: dry run, confirmation), clear everything its
// sender wrote (clear.js's form, previewed first), or dismiss its reports. A new report or a
// deletion (deletions resolve reports) reloads a queue shown.

import { call, newIdempotencyKey, path } from "./api.js";
import { fillFromSender } from "./clear.js";
import { confirmAction, focusOwner, moveFocus } from "./confirm.js";
import { deleteMessage, messageText, reachableByPath } from "./messages.js";
import * as store from "./store.js";
import { $, count, el, exclusive, nextCursor, say, showError, when } from "./ui.js";

/** A page of a queue. A reload asks for as many items as are shown, up to the API's 100. */
const PAGE = 20;
const MAX_PAGE = 100;

/** Frames that arrive together (a wave of reports, a purge) reload a queue once, this long after the first. */
const RELOAD_DELAY_MS = 250;

/**
 * The two queues: their fields in the store, their elements' ID prefix, whether items name
 * their room, and `filter()`: the listing the form asks for (`target` path, `query`, the
 * `state` and `room` it names), or null when there is nothing to list.
 */
const QUEUES = {
  room: {
    field: "roomReports",
    loading: "loadingRoomReports",
    prefix: "room-reports",
    namesRoom: false,
    filter() {
      const { room } = store.get();
      const state = $("room-reports-state").value;
      return room && { target: path("rooms", room._id, "reports"), query: [["state", state]], state, room: null };
    },
  },
  platform: {
    field: "platformReports",
    loading: "loadingPlatformReports",
    prefix: "platform-reports",
    namesRoom: true,
    filter() {
      const state = $("platform-reports-state").value;
      const room = $("platform-reports-room").value.trim();
      const query = [["state", state]];
      if (room) {
        query.push(["roomID", room]);
      }
      return { target: "/admin/reports", query, state, room: room || null };
    },
  },
};

/** room.js's openRoom and app.js's way back to the rooms screen (given to start). */
let openRoom = null;
let showRooms = null;

/** The reloads waiting for their delay, by queue. */
const timers = new Map();

/**
 * Wires both queues' filters and "More" buttons (once, at start). `actions.openRoom` opens
 * a room (room.js), `actions.showRooms` shows the rooms screen (app.js): the platform
 * screen's "Delete all from this sender…" goes to the item's room.
 */
export function start(actions) {
  openRoom = actions.openRoom;
  showRooms = actions.showRooms;
  $("room-reports-state").addEventListener("change", () => load(QUEUES.room, "show"));
  for (const queue of Object.values(QUEUES)) {
    $(`${queue.prefix}-form`).addEventListener("submit", (event) => {
      event.preventDefault();
      load(queue, "show");
    });
    $(`${queue.prefix}-more`).addEventListener("click", () => load(queue, "more"));
  }
}

/** Loads the open room's Reports tab afresh (selected, or its room reloaded). */
export function loadRoom() {
  return load(QUEUES.room, "show");
}

/** Shows the platform's Reports screen with the filter in its form. */
export function showPlatform() {
  return load(QUEUES.platform, "show");
}

/** Reloads the platform's Reports screen if it is shown (after a reconnection: frames may have been missed). */
export function reloadPlatform() {
  if (!$("reports-pane").hidden) {
    load(QUEUES.platform, "reload");
  }
}

/**
 * A socket frame: a new report (`messageReported`) or a deletion (`messageDeleted`, which
 * resolves the reports of what it removed) reloads the open room's Reports tab, when shown
 * for that room, and the platform's Reports screen, when shown for every room or that one.
 */
export function onFrame(frame) {
  if (frame.event !== "messageReported" && frame.event !== "messageDeleted") {
    return;
  }
  const room = frame.data?.room;
  const { room: open, tab, platformReports } = store.get();
  if (open && open._id === room && tab === "reports") {
    reloadSoon(QUEUES.room);
  }
  if (!$("reports-pane").hidden && (!platformReports.room || platformReports.room === room)) {
    reloadSoon(QUEUES.platform);
  }
}

/** Empties both queues and their filters (signing out; the store forgets the listings). */
export function reset() {
  for (const queue of Object.values(QUEUES)) {
    clearTimeout(timers.get(queue));
    $(`${queue.prefix}-form`).reset();
    $(`${queue.prefix}-list`).replaceChildren();
    $(`${queue.prefix}-more`).hidden = true;
    $(`${queue.prefix}-empty`).hidden = true;
  }
  timers.clear();
}

function reloadSoon(queue) {
  if (timers.has(queue)) {
    return;
  }
  timers.set(queue, setTimeout(() => {
    timers.delete(queue);
    load(queue, "reload");
  }, RELOAD_DELAY_MS));
}

/**
 * Loads a queue: `show`, the first page of what its form asks for; `reload`, the same
 * listing again, as many items as are shown (after an action or a frame); `more`, the next
 * page. An answer for a listing replaced meanwhile (a newer load, signing out) is dropped.
 */
async function load(queue, how) {
  const state = store.get();
  const list = $(`${queue.prefix}-list`);
  let listing = state[queue.field];
  if (how === "more") {
    if (state[queue.loading] || !listing.cursor) {
      return;
    }
  } else if (how === "show") {
    const filter = queue.filter();
    if (!filter) {
      return;
    }
    if (filter.target !== listing.target) {
      // Another room's queue: not shown while this one loads.
      list.replaceChildren();
      $(`${queue.prefix}-more`).hidden = true;
      $(`${queue.prefix}-empty`).hidden = true;
    }
    listing = { ...filter, cursor: null, shown: 0 };
  } else if (!listing.target) {
    return;
  } else {
    // The same filter in a new listing, so that answers to older loads are dropped.
    listing = { ...listing, query: [...listing.query] };
  }
  const size = how === "reload" ? Math.min(MAX_PAGE, Math.max(PAGE, listing.shown)) : PAGE;
  const query = listing.query.concat([["limit", String(size)]]);
  if (how === "more") {
    query.push(["before", listing.cursor]);
  }
  store.update({ [queue.field]: listing, [queue.loading]: true });
  const current = () => store.get()[queue.field].query === listing.query;
  try {
    const page = await call("GET", listing.target, { query });
    if (!current()) {
      return;
    }
    if (how === "more") {
      // A message reported again meanwhile may have moved into the next page: once only.
      const shown = new Set([...list.children].map(itemKey));
      list.append(...page.data.map((item) => reportedItem(queue, item)).filter((node) => !shown.has(itemKey(node))));
    } else {
      replaceItems(list, page.data.map((item) => reportedItem(queue, item)));
    }
    const cursor = nextCursor(page, size, "cursor");
    store.update({ [queue.field]: { ...listing, cursor, shown: list.children.length } });
    $(`${queue.prefix}-more`).hidden = !cursor;
    const empty = $(`${queue.prefix}-empty`);
    empty.textContent = `No ${listing.state} reports${listing.room ? ` in ${listing.room}` : ""}.`;
    empty.hidden = list.children.length > 0;
  } catch (error) {
    if (current()) {
      showError(error);
    }
  } finally {
    store.update({ [queue.loading]: false });
  }
}

/**
 * Replaces a queue's items. Keyboard focus stays on the same item's same button, or moves
 * to the item now in its place (the one acted on has left an open queue), or to the list.
 */
function replaceItems(list, items) {
  const owner = focusOwner();
  const before = [...list.children];
  const at = before.findIndex((item) => item.contains(owner));
  list.replaceChildren(...items);
  if (at < 0) {
    return;
  }
  const same = items.find((item) => itemKey(item) === itemKey(before[at]));
  if (same) {
    const action = owner.dataset?.action;
    moveFocus((action && same.querySelector(`button[data-action="${action}"]`)) || same.querySelector("button") || same);
    return;
  }
  const next = items[Math.min(at, items.length - 1)];
  moveFocus(next ? next.querySelector("button") || next : list);
}

/** Which reported message a queue's item is: its room and message IDs. */
function itemKey(node) {
  return JSON.stringify([node.dataset.roomId, node.dataset.messageId]);
}

/** The reported message as messages.js's delete takes it (content null: gone). */
function asMessage(item) {
  return { _id: item.messageID, sender: item.sender, message: item.message };
}

/** The categories with reports: "spam 1, sensitive 1". */
function categoryLine(categories) {
  return Object.entries(categories)
    .filter(([, n]) => n > 0)
    .map(([category, n]) => `${category} ${n}`)
    .join(", ");
}

/** A reported message: its content, sender, counts, times, reports, and actions when open. */
function reportedItem(queue, item) {
  const node = el("li", null, { "data-room-id": item.roomID, "data-message-id": item.messageID });
  const meta = el("div", null, { class: "meta" });
  meta.append(el("strong", item.sender));
  if (queue.namesRoom) {
    meta.append(" · room ", el("span", item.roomID, { class: "report-room" }));
  }
  meta.append(` · ${item.messageID}`);
  const { text, kind } = messageText(asMessage(item));
  const summary = el("p", null, { class: "summary" });
  summary.append(
    el("strong", count(item.reportCount, "report"), { class: "report-count" }),
    " · ",
    el("span", categoryLine(item.categories), { class: "report-categories" }),
    ` · first ${when(item.firstReportedAt)} · last ${when(item.lastReportedAt)}`,
  );
  node.append(meta, el("p", text, { class: `body ${kind}` }), summary, reportsTable(item));
  if (item.state === "open") {
    node.append(actions(queue, item));
  }
  return node;
}

/** The item's reports (the newest 10), with what closed them when they are not open. */
function reportsTable(item) {
  const closed = item.state !== "open";
  const table = el("table", null, { class: "grid" });
  const shown = item.reports.length;
  table.append(el("caption", shown < item.reportCount
    ? `The newest ${shown} of ${count(item.reportCount, "report")}`
    : "Reports, newest first"));
  const head = el("tr");
  for (const name of ["Reporter", "Category", "Reason", "When", ...(closed ? ["Closed"] : [])]) {
    head.append(el("th", name, { scope: "col" }));
  }
  const thead = el("thead");
  thead.append(head);
  const body = el("tbody");
  for (const report of item.reports) {
    const row = el("tr", null, { "data-report-id": report._id });
    row.append(el("td", report.reporter), el("td", report.category), el("td", report.reason || ""), el("td", when(report.createdAt)));
    if (closed) {
      row.append(el("td", closedBy(report)));
    }
    body.append(row);
  }
  table.append(thead, body);
  const wrap = el("div", null, { class: "table-wrap" });
  wrap.append(table);
  return wrap;
}

function closedBy(report) {
  if (report.deletionID) {
    return `Message deleted (audit record ${report.deletionID})`;
  }
  if (report.dismissedBy) {
    return `Dismissed by ${report.dismissedBy}, ${when(report.dismissedAt)}` +
      (report.dismissReason ? `: ${report.dismissReason}` : "");
  }
  return "";
}

/** An open item's three actions (no Dismiss for a message a browser cannot name in a path). */
function actions(queue, item) {
  const where = queue.namesRoom ? ` in ${item.roomID}` : "";
  const label = `the message from ${item.sender}${where}`;
  const button = (text, action, ariaLabel, onClick) => {
    const node = el("button", text, { type: "button", class: `report-${action}`, "data-action": action, "aria-label": ariaLabel });
    node.addEventListener("click", onClick);
    return node;
  };
  const row = el("div", null, { class: "actions" });
  row.append(
    button("Delete", "delete", `Delete ${label}`, () => exclusive(() => deleteReported(queue, item))),
    button("Delete all from this sender…", "from-sender",
      `Clear every message from ${item.sender}${where}: preview first`, () => fromSender(queue, item)),
  );
  // The dismissal's path names the message: a `.` or `..` cannot be sent from a browser.
  if (reachableByPath(item.messageID)) {
    row.append(button("Dismiss", "dismiss", `Dismiss the reports of ${label}`, () => exclusive(() => dismiss(queue, item))));
  }
  return row;
}

/** Delete: messages.js's single delete (dry run, confirmation, reason), then the queue again. */
async function deleteReported(queue, item) {
  const result = await deleteMessage(item.roomID, asMessage(item), { onGone: () => load(queue, "reload") });
  if (result) {
    await load(queue, "reload");
  }
}

/**
 * "Delete all from this sender…": the clear form of the item's room with the sender filled
 * in, ready to preview (from the platform screen, the room is opened first).
 */
async function fromSender(queue, item) {
  if (queue.namesRoom) {
    showRooms();
    if (store.get().room?._id !== item.roomID) {
      await openRoom(item.roomID);
    }
    if (store.get().room?._id !== item.roomID) {
      // The room did not open: its error is shown.
      return;
    }
  }
  fillFromSender(item.sender);
}

/** Dismiss: every open report of the message, after a confirmation (reason optional); the message stays. */
async function dismiss(queue, item) {
  const key = newIdempotencyKey();
  const { text } = messageText(asMessage(item));
  const result = await confirmAction({
    title: `Dismiss ${count(item.reportCount, "report")} of the message from ${item.sender}?`,
    detail: [el("blockquote", text), el("p", "The message stays. Reporting it again opens a new report.")],
    okLabel: "Dismiss reports",
    busyLabel: "Dismissing…",
    withReason: true,
    reasonLabel: "Reason (kept with the dismissed reports)",
    action: (reason) => call("POST", path("rooms", item.roomID, "messages", item.messageID, "reports", "dismiss"), {
      reason,
      idempotencyKey: key,
    }),
  });
  if (result) {
    say(`Dismissed ${count(result.dismissedCount, "report")}.`);
    await load(queue, "reload");
  }
}
