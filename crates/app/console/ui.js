// Small helpers shared by the console's screens: elements, numbers, times, messages, paging.

/** The element with this ID. */
export const $ = (id) => document.getElementById(id);

/** Numbers as people read them: 1,234. */
export const numbers = new Intl.NumberFormat("en-US");

/** Counts with their noun: "1 message", "1,234 messages". */
export function count(n, noun) {
  return `${numbers.format(n)} ${noun}${n === 1 ? "" : "s"}`;
}

/** A time for people: the browser's locale and zone. */
export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

/**
 * The cursor for the page after `page` (its last item's `key`), or null when `page` is the
 * last one: a page shorter than the `size` asked for.
 */
export function nextCursor(page, size, key = "_id") {
  return page.data.length === size ? page.data[page.data.length - 1][key] : null;
}

/** An element with text (never HTML) and attributes. */
export function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) {
    node.textContent = text;
  }
  for (const [name, value] of Object.entries(attrs)) {
    node.setAttribute(name, value);
  }
  return node;
}

/** Shows an API error as its RM and message until dismissed. */
export function showError(error) {
  $("notice-text").textContent = error?.message ?? String(error);
  $("notice").hidden = false;
}

/** A short success line. */
export function say(text) {
  $("status").textContent = text;
}

/** A `datetime-local` value as ISO UTC, or null. */
export function isoFromLocal(value) {
  return value ? new Date(value).toISOString() : null;
}

/** Whether a destructive flow is under way (exclusive's own). */
let busy = false;

/**
 * Runs `action` unless another destructive flow (dry run, confirmation, deletion) is
 * already under way, so a double click on a trigger opens one confirmation, not two.
 */
export async function exclusive(action) {
  if (busy) {
    return;
  }
  busy = true;
  try {
    await action();
  } finally {
    busy = false;
  }
}

/** Client IDs typed into one field, separated by spaces (an ID never holds one). */
export function clientIds(value) {
  return [...new Set(value.split(/\s+/).filter(Boolean))];
}

/** Moves focus to `node` (made focusable if it is not), so keyboard users keep their place. */
export function focusOn(node) {
  if (!node) {
    return;
  }
  if (!node.matches("a, button, input, select, textarea, [tabindex]")) {
    node.setAttribute("tabindex", "-1");
  }
  node.focus();
}
