// What the console knows: who is signed in, and what the room screen shows.

/** The signed-in caller. */
export const me = {
  creds: null,
  id: null,
  isPlatformAdmin: false,
};

/** The room screen's state. */
export const view = {
  rooms: [],
  roomsCursor: null,
  loadingRooms: false,
  room: null,
  /** Bumped by every room load, so an answer for an older load is dropped. */
  generation: 0,
  /** While a room loads: its socket frames, replayed onto the loaded list. */
  pendingFrames: null,
  messages: [],
  /** IDs already counted out of `total`, so a deletion is subtracted once. */
  gone: new Set(),
  selected: new Set(),
  hasOlder: false,
  loadingOlder: false,
  total: 0,
  auditCursor: null,
  loadingAudit: false,
};

/** Forgets everything shown (signing out, or another caller signing in). */
export function resetView() {
  Object.assign(view, {
    rooms: [],
    roomsCursor: null,
    loadingRooms: false,
    room: null,
    generation: view.generation + 1,
    pendingFrames: null,
    messages: [],
    gone: new Set(),
    selected: new Set(),
    hasOlder: false,
    loadingOlder: false,
    total: 0,
    auditCursor: null,
    loadingAudit: false,
  });
}
