// What the console knows: who is signed in, and what the room screen shows.

/** The signed-in caller. */
export const me = {
  creds: null,
  id: null,
  isPlatformAdmin: false,
};

/** What the room screen shows before anything is loaded. */
function blank() {
  return {
    rooms: [],
    roomsCursor: null,
    loadingRooms: false,
    room: null,
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
}

/** The room screen's state. `generation` is bumped by every room load (and by a reset), so
 * an answer for an older load is dropped. */
export const view = { ...blank(), generation: 0 };

/** Forgets everything shown (signing out, or another caller signing in). */
export function resetView() {
  Object.assign(view, blank(), { generation: view.generation + 1 });
}
