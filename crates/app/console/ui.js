// Small helpers shared by the console's screens: elements, numbers, times, messages.

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

