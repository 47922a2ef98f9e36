// The rooms list (left column): the caller's rooms page by page, a search among the loaded
// ones, and Enter to open a room by its exact ID. Opening a room is room.js's.

import { call } from "./api.js";
import { openRoom } from "./room.js";
import * as store from "./store.js";
import { $, el, nextCursor, showError } from "./ui.js";

const ROOM_PAGE = 100;

/** Wires the search, "More rooms" and the list's rendering (once, at start). */
export function start() {
  $("room-search").addEventListener("input", render);
  $("room-search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const needle = $("room-search").value.trim();
    if (needle) {
      openRoom(needle);
    }
  });
  $("more-rooms").addEventListener("click", () => loadRooms(false));
  store.subscribe((state, patch) => {
    if ("rooms" in patch || "roomsCursor" in patch) {
      render();
    } else if ("room" in patch) {
      markCurrentRoom();
    }
  });
}

/** Loads the first page of rooms (`fresh`) or the next one. */
export async function loadRooms(fresh) {
  const { loadingRooms, roomsCursor, generation } = store.get();
  if (loadingRooms) {
    return;
  }
  const query = [["limit", String(ROOM_PAGE)]];
  if (!fresh && roomsCursor) {
    query.push(["before", roomsCursor]);
  }
  store.update({ loadingRooms: true });
  try {
    const page = await call("GET", "/rooms", { query });
    const now = store.get();
    if (generation !== now.generation && !fresh) {
      return;
    }
    store.update({
      rooms: fresh ? page.data : now.rooms.concat(page.data),
      roomsCursor: nextCursor(page, ROOM_PAGE),
    });
  } catch (error) {
    showError(error);
  } finally {
    store.update({ loadingRooms: false });
  }
}

/** Empties the list and the search, as at page load (signing out). */
export function reset() {
  $("room-list").replaceChildren();
  $("room-search").value = "";
  $("rooms-empty").hidden = true;
  $("more-rooms").hidden = true;
}

function render() {
  const { rooms, roomsCursor } = store.get();
  const needle = $("room-search").value.trim().toLowerCase();
  const shown = rooms.filter((room) =>
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
  $("more-rooms").hidden = !roomsCursor;
}

/** Marks the open room in the list, in place (the focused button stays). */
function markCurrentRoom() {
  const { room } = store.get();
  for (const button of $("room-list").querySelectorAll("button")) {
    if (room && button.dataset.roomId === room._id) {
      button.setAttribute("aria-current", "true");
    } else {
      button.removeAttribute("aria-current");
    }
  }
}
