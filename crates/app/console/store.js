// The console's state in one place: who is signed in and what each screen shows. Read it
// with get(); change it only with update(patch), which replaces the fields named in the
// patch and then tells every subscriber which ones changed. Never change what get()
// returns in place: a list or a set is replaced by a new one.

/** Everything before anyone signs in, and again after signing out. */
function blank() {
  return {
    /** The signed-in caller (`creds` as kept in session storage). */
    me: { creds: null, id: null, isPlatformAdmin: false },

    // The rooms list.
    rooms: [],
    roomsCursor: null,
    loadingRooms: false,

    // The open room, and which of its tabs is shown ("messages", "reports", "clear" or
    // "audit").
    room: null,
    tab: "messages",
    /** While a room loads: its ID and its socket frames, replayed onto what loaded. */
    pendingFrames: null,

    // The open room's messages, newest first.
    messages: [],
    /** The room's message count: the server's total, kept current by deletions and frames. */
    total: 0,
    /** IDs already counted out of `total`, so a deletion is subtracted once. */
    gone: new Set(),
    selected: new Set(),
    hasOlder: false,
    loadingOlder: false,

    // The open room's audit log.
    auditCursor: null,
    loadingAudit: false,

    /** Webhook deliveries (API key): the listing's filter, kept for "Older events", and
     * where its next page starts. */
    deliveries: { query: [], cursor: null },
    loadingDeliveries: false,

    /** The report queues (reports.js): the open room's Reports tab and the platform's
     * Reports screen (API key). Each: the path and filter listed (kept for "More"; the
     * `state` and `room` it names), where its next page starts, and how many items are
     * shown (a reload keeps as many). */
    roomReports: { target: null, query: [], state: "open", room: null, cursor: null, shown: 0 },
    loadingRoomReports: false,
    platformReports: { target: null, query: [], state: "open", room: null, cursor: null, shown: 0 },
    loadingPlatformReports: false,
  };
}

// `generation` is bumped by every room load and by a reset, so an answer for an older load
// is dropped.
let state = Object.freeze({ ...blank(), generation: 0 });
const listeners = new Set();

/** The current state (frozen: change it with update). */
export function get() {
  return state;
}

/**
 * Replaces the fields in `patch` and calls every subscriber with the new state and the
 * patch (`"room" in patch`: the room changed).
 */
export function update(patch) {
  state = Object.freeze({ ...state, ...patch });
  for (const listener of listeners) {
    listener(state, patch);
  }
}

/** Calls `listener(state, patch)` after every update; returns the way to stop. */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Forgets everything (signing out: the next caller of this tab sees nothing of the last one's). */
export function reset() {
  update({ ...blank(), generation: state.generation + 1 });
}

/** Whether the signed-in caller may moderate `room`: platform admins, its owner, its managers. */
export function canModerate(room) {
  const { me } = state;
  return me.isPlatformAdmin || room.owner === me.id || (room.managers || []).includes(me.id);
}
