// Platform administrators' screens (API key): purging a user's messages across rooms,
// clearing a spam wave by content across rooms, and the webhook deliveries of deletion
// events with redelivery.

import { call, newIdempotencyKey, path } from "./api.js";
import { sampleList } from "./clear.js";
import { confirmAction, deletedLine, justAfter } from "./confirm.js";
import * as store from "./store.js";
import {
  $,
  clientIds,
  count,
  el,
  exclusive,
  focusOn,
  isoFromLocal,
  nextCursor,
  numbers,
  say,
  showError,
  when,
} from "./ui.js";

const DELIVERY_PAGE = 50;

/** Wires both screens' forms (once, at start). */
export function start() {
  $("purge-form").addEventListener("submit", (event) => {
    event.preventDefault();
    exclusive(previewPurge);
  });
  $("wave-form").addEventListener("submit", (event) => {
    event.preventDefault();
    exclusive(previewWave);
  });
  $("deliveries-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadDeliveries(true);
  });
  $("older-deliveries").addEventListener("click", () => loadDeliveries(false));
}

/** Shows the purge form. */
export function showPurge() {
  $("purge-client").focus();
}

/** Shows the deliveries screen with the filter in its form. */
export function showDeliveries() {
  loadDeliveries(true);
}

/** Empties both screens (signing out; the store forgets the listing). */
export function reset() {
  $("purge-form").reset();
  $("wave-form").reset();
  $("delivery-rows").replaceChildren();
  $("older-deliveries").hidden = true;
}

function roomTable(rooms) {
  const table = el("table", null, { class: "grid" });
  table.append(el("caption", "Messages per room"));
  const head = el("tr");
  head.append(el("th", "Room", { scope: "col" }), el("th", "Messages", { scope: "col" }));
  const thead = el("thead");
  thead.append(head);
  const body = el("tbody");
  for (const room of rooms) {
    const row = el("tr");
    row.append(el("td", room.roomID), el("td", numbers.format(room.deletedCount), { class: "num" }));
    body.append(row);
  }
  table.append(thead, body);
  const wrap = el("div", null, { class: "table-wrap" });
  wrap.append(table);
  return wrap;
}

async function previewPurge() {
  const client = $("purge-client").value.trim();
  const query = [];
  const after = isoFromLocal($("purge-after").value);
  const before = isoFromLocal($("purge-before").value);
  if (after) {
    query.push(["after", after]);
  }
  if (before) {
    query.push(["before", before]);
  }
  const target = path("admin", "clients", client, "messages");
  let preview;
  try {
    preview = await call("DELETE", target, { query: query.concat([["dryRun", "true"]]) });
  } catch (error) {
    showError(error);
    return;
  }
  // What is confirmed is what the preview counted: messages sent after it are kept.
  const pinned = before ? query : query.concat([["before", justAfter(preview.deletedAt)]]);
  const n = preview.deletedCount;
  const key = newIdempotencyKey();
  const result = await confirmAction({
    title: n === 0
      ? `${client} has no messages to delete`
      : `Permanently delete ${count(n, "message")} of ${client} from ${count(preview.rooms.length, "room")}?`,
    detail: n === 0
      ? [el("p", "Nothing matches.")]
      : [
        el("p", "They disappear for everyone at once and cannot be restored. Messages sent after this preview are kept."),
        roomTable(preview.rooms),
      ],
    okLabel: `Delete ${count(n, "message")}`,
    canConfirm: n > 0,
    action: () => call("DELETE", target, {
      query: pinned,
      reason: $("purge-reason").value.trim(),
      idempotencyKey: key,
    }),
  });
  if (result) {
    say(deletedLine(result, n, ` of ${client} from ${count(result.rooms.length, "room")}`));
    $("purge-form").reset();
  }
}

async function previewWave() {
  const contains = $("wave-contains").value;
  const after = isoFromLocal($("wave-after").value) || new Date(Date.now() - 86_400_000).toISOString();
  const before = isoFromLocal($("wave-before").value);
  const query = [["contains", contains], ["after", after]];
  if (before) {
    query.push(["before", before]);
  }
  for (const room of clientIds($("wave-rooms").value)) {
    query.push(["roomID", room]);
  }
  let preview;
  try {
    preview = await call("DELETE", "/admin/messages", { query: query.concat([["dryRun", "true"]]) });
  } catch (error) {
    showError(error);
    return;
  }
  // What is confirmed is what the preview counted: the window ends where the preview's did.
  const pinned = before ? query : query.concat([["before", preview.filter.before]]);
  const n = preview.deletedCount;
  const key = newIdempotencyKey();
  const detail = n === 0
    ? [el("p", "Nothing matches.")]
    : [
      el("p", "They disappear for everyone at once and cannot be restored. Messages sent after this preview are kept."),
      roomTable(preview.rooms),
      el("p", n > preview.sample.length ? "The newest of them:" : "They are:"),
      sampleList(preview.sample),
    ];
  const result = await confirmAction({
    title: n === 0
      ? `No message contains “${contains}”`
      : `Permanently delete ${count(n, "message")} containing “${contains}” from ${count(preview.rooms.length, "room")}?`,
    detail,
    okLabel: `Delete ${count(n, "message")}`,
    canConfirm: n > 0,
    action: () => call("DELETE", "/admin/messages", {
      query: pinned,
      reason: $("wave-reason").value.trim(),
      idempotencyKey: key,
    }),
  });
  if (result) {
    say(deletedLine(result, n, ` from ${count(result.rooms.length, "room")}`));
    $("wave-form").reset();
  }
}

async function loadDeliveries(fresh) {
  if (store.get().loadingDeliveries && !fresh) {
    return;
  }
  if (fresh) {
    const query = [];
    const state = $("deliveries-state").value;
    const room = $("deliveries-room").value.trim();
    if (state) {
      query.push(["state", state]);
    }
    if (room) {
      query.push(["roomID", room]);
    }
    store.update({ deliveries: { query, cursor: null } });
  }
  const listing = store.get().deliveries;
  const query = listing.query.concat([["limit", String(DELIVERY_PAGE)]]);
  if (!fresh && listing.cursor) {
    query.push(["before", listing.cursor]);
  }
  store.update({ loadingDeliveries: true });
  try {
    const page = await call("GET", "/admin/events", { query });
    // A new listing (or signing out) meanwhile: this page is not wanted.
    if (listing.query !== store.get().deliveries.query) {
      return;
    }
    const rows = page.data.map(deliveryRow);
    if (fresh) {
      $("delivery-rows").replaceChildren(...rows);
    } else {
      $("delivery-rows").append(...rows);
    }
    const cursor = nextCursor(page, DELIVERY_PAGE, "id");
    store.update({ deliveries: { query: listing.query, cursor } });
    $("older-deliveries").hidden = !cursor;
    $("deliveries-empty").hidden = $("delivery-rows").children.length > 0;
  } catch (error) {
    showError(error);
  } finally {
    store.update({ loadingDeliveries: false });
  }
}

function described(data) {
  if (data.messageID === "_all") {
    return `clear, ${count(data.deletedCount ?? 0, "message")}`;
  }
  if (data.messageID === "_bulk" && Array.isArray(data.messageIDs)) {
    return `${count(data.deletedCount ?? 0, "message")} (selected)`;
  }
  return `message ${data.messageID ?? ""}`;
}

function deliveryRow(event) {
  const row = el("tr", null, { "data-event-id": event.id });
  const action = el("td");
  if (event.state !== "pending") {
    const button = el("button", "Redeliver", { type: "button", "aria-label": `Redeliver event ${event.id}` });
    const key = newIdempotencyKey();
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const { rm, result } = await call("POST", path("admin", "events", event.id, "redeliver"), {
          idempotencyKey: key,
          withRm: true,
        });
        const updated = deliveryRow(result);
        row.replaceWith(updated);
        focusOn(updated);
        say(`Event ${event.id}: ${rm}.`);
      } catch (error) {
        button.disabled = false;
        showError(error);
      }
    });
    action.append(button);
  }
  row.append(
    el("td", event.id),
    el("td", event.roomID),
    el("td", described(event.event?.data || {})),
    el("td", event.state, { class: `state-${event.state}` }),
    el("td", numbers.format(event.attempts), { class: "num" }),
    el("td", event.lastError || ""),
    el("td", when(event.createdAt)),
    action,
  );
  return row;
}
