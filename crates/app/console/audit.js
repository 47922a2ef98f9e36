// The Audit log tab: the open room's deletion records, newest first, older pages on
// request. It loads afresh when selected and after every deletion while it is shown.

import { call, path } from "./api.js";
import * as store from "./store.js";
import { $, el, nextCursor, numbers, showError, when } from "./ui.js";

const AUDIT_PAGE = 50;

/** Wires "Older records" (once, at start). */
export function start() {
  $("older-audit").addEventListener("click", () => load(false));
}

/** Loads the newest records (`fresh`) or the next page. */
export async function load(fresh) {
  const { room, loadingAudit, auditCursor } = store.get();
  if (!room || (loadingAudit && !fresh)) {
    return;
  }
  const query = [["limit", String(AUDIT_PAGE)]];
  if (!fresh && auditCursor) {
    query.push(["before", auditCursor]);
  }
  store.update({ loadingAudit: true });
  try {
    const page = await call("GET", path("rooms", room._id, "deletions"), { query });
    const now = store.get().room;
    if (!now || now._id !== room._id) {
      return;
    }
    const rows = page.data.map(recordRow);
    if (fresh) {
      $("audit-rows").replaceChildren(...rows);
    } else {
      $("audit-rows").append(...rows);
    }
    const cursor = nextCursor(page, AUDIT_PAGE);
    store.update({ auditCursor: cursor });
    $("older-audit").hidden = !cursor;
    $("audit-empty").hidden = $("audit-rows").children.length > 0;
  } catch (error) {
    showError(error);
  } finally {
    store.update({ loadingAudit: false });
  }
}

/** Empties the table (signing out). */
export function reset() {
  $("audit-rows").replaceChildren();
}

function recordRow(record) {
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
}

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
  if (filter.contains) {
    parts.push(`containing ${filter.contains.map((c) => `“${c}”`).join(" or ")}`);
  }
  if (filter.sender) {
    parts.push(`senders ${filter.sender.join(", ")}`);
  }
  return parts.join("; ");
}
