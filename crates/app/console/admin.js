// Platform administrators' screens (API key): purging a user's messages across rooms, and
// the webhook deliveries of deletion events with redelivery.

import { call, newIdempotencyKey, path } from "./api.js";
import { confirmAction } from "./confirm.js";
import { $, count, el, isoFromLocal, numbers, say, showError, when } from "./ui.js";

const DELIVERY_PAGE = 50;
let deliveriesCursor = null;

/** Shows the purge form. */
export function showPurge() {
  $("purge-client").focus();
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

$("purge-form").addEventListener("submit", async (event) => {
  event.preventDefault();
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
  const n = preview.deletedCount;
  const key = newIdempotencyKey();
  const result = await confirmAction({
    title: n === 0
      ? `${client} has no messages to delete`
      : `Permanently delete ${count(n, "message")} of ${client} from ${count(preview.rooms.length, "room")}?`,
    detail: n === 0
      ? [el("p", "Nothing matches.")]
      : [el("p", "They disappear for everyone at once and cannot be restored."), roomTable(preview.rooms)],
    okLabel: `Delete ${count(n, "message")}`,
    canConfirm: n > 0,
    action: () => call("DELETE", target, {
      query,
      reason: $("purge-reason").value.trim(),
      idempotencyKey: key,
    }),
  });
  if (result) {
    say(`Deleted ${count(result.deletedCount, "message")} of ${client} from ${count(result.rooms.length, "room")}.`);
    $("purge-form").reset();
  }
});

/** Shows the deliveries screen with its current filter. */
export function showDeliveries() {
  loadDeliveries(true);
}

async function loadDeliveries(fresh) {
  const query = [["limit", String(DELIVERY_PAGE)]];
  const state = $("deliveries-state").value;
  const room = $("deliveries-room").value.trim();
  if (state) {
    query.push(["state", state]);
  }
  if (room) {
    query.push(["roomID", room]);
  }
  if (!fresh && deliveriesCursor) {
    query.push(["before", deliveriesCursor]);
  }
  try {
    const page = await call("GET", "/admin/events", { query });
    const rows = page.data.map(deliveryRow);
    if (fresh) {
      $("delivery-rows").replaceChildren(...rows);
    } else {
      $("delivery-rows").append(...rows);
    }
    deliveriesCursor = page.data.length === DELIVERY_PAGE ? page.data[page.data.length - 1].id : null;
    $("older-deliveries").hidden = !deliveriesCursor;
    $("deliveries-empty").hidden = $("delivery-rows").children.length > 0;
  } catch (error) {
    showError(error);
  }
}

function deliveryRow(event) {
  const row = el("tr", null, { "data-event-id": event.id });
  const data = event.event?.data || {};
  const deleted = data.messageID === "_all"
    ? `clear, ${count(data.deletedCount ?? 0, "message")}`
    : data.messageID === "_bulk"
      ? `${count(data.deletedCount ?? 0, "message")} (bulk)`
      : `message ${data.messageID ?? ""}`;
  const action = el("td");
  if (event.state !== "pending") {
    const button = el("button", "Redeliver", {
      type: "button",
      "aria-label": `Redeliver event ${event.id}`,
    });
    const key = newIdempotencyKey();
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const { rm, result } = await call("POST", path("admin", "events", event.id, "redeliver"), {
          idempotencyKey: key,
          withRm: true,
        });
        row.replaceWith(deliveryRow(result));
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
    el("td", deleted),
    el("td", event.state, { class: `state-${event.state}` }),
    el("td", numbers.format(event.attempts), { class: "num" }),
    el("td", event.lastError || ""),
    el("td", when(event.createdAt)),
    action,
  );
  return row;
}

/** Wires the deliveries screen's controls. */
export function openDeliveries() {
  $("deliveries-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadDeliveries(true);
  });
  $("older-deliveries").addEventListener("click", () => loadDeliveries(false));
}
