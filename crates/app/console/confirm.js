// The confirmation of a destructive action: nothing is deleted until the moderator reads
// the dry run's count and confirms; the action runs once however often Confirm is pressed,
// and a failed attempt is retried with the same Idempotency-Key. Also what the clear and
// purge flows share: pinning to the preview, and the result line.

import { $, count, focusOn, numbers } from "./ui.js";

const dialog = () => $("confirm");

// What had keyboard focus when the dialog opened: focus goes back there when it closes.
// A live frame may delete that message while the dialog is open; `moveFocus` then names
// its neighbour instead.
let opener = null;

/** The element that keyboard focus belongs to: the dialog's opener while it is open. */
export function focusOwner() {
  return dialog().open && opener ? opener : document.activeElement;
}

/** Moves keyboard focus to `node`, or, while the dialog is open, to it once it closes. */
export function moveFocus(node) {
  if (dialog().open) {
    opener = node;
  } else {
    focusOn(node);
  }
}

/** The reason field's label unless an action says where its reason goes. */
const AUDIT_REASON = "Reason (recorded in the audit log)";

/**
 * Shows the dialog and resolves to the action's result, or null when cancelled.
 * `detail`: nodes to show under the title. `action(reason)` performs the deletion (or, for
 * an action that deletes nothing, such as dismissing reports, says what it does in
 * `busyLabel` and where its reason is kept in `reasonLabel`).
 * `canConfirm`: false shows the dry run's answer with only a Close button.
 */
export function confirmAction({
  title,
  detail,
  okLabel,
  busyLabel = "Deleting…",
  withReason = false,
  reason = "",
  reasonLabel = AUDIT_REASON,
  canConfirm = true,
  action,
}) {
  const box = dialog();
  $("confirm-title").textContent = title;
  $("confirm-detail").replaceChildren(...detail);
  $("confirm-reason-row").hidden = !withReason;
  $("confirm-reason-label").textContent = reasonLabel;
  $("confirm-reason").value = reason;
  $("confirm-error").hidden = true;
  const ok = $("confirm-ok");
  const cancel = $("confirm-cancel");
  ok.textContent = okLabel;
  ok.hidden = !canConfirm;
  ok.disabled = false;
  cancel.disabled = false;
  cancel.textContent = canConfirm ? "Cancel" : "Close";

  return new Promise((resolve) => {
    let running = false;
    let settled = false;
    const finish = (value) => {
      if (settled) {
        return;
      }
      settled = true;
      box.removeEventListener("cancel", onEscape);
      box.removeEventListener("close", onClose);
      cancel.onclick = null;
      $("confirm-form").onsubmit = null;
      if (box.open) {
        box.close();
      }
      if (opener && opener.isConnected && document.activeElement !== opener) {
        focusOn(opener);
      }
      resolve(value);
    };
    const onEscape = (event) => {
      if (running) {
        event.preventDefault();
      } else {
        finish(null);
      }
    };
    box.addEventListener("cancel", onEscape);
    // Chromium closes a modal on a repeated Escape even when its cancel event is
    // prevented: while the action runs the dialog comes back, so its outcome is seen;
    // otherwise a close by any means is a cancel.
    const onClose = () => {
      if (settled) {
        return;
      }
      if (running) {
        box.showModal();
      } else {
        finish(null);
      }
    };
    box.addEventListener("close", onClose);
    cancel.onclick = () => finish(null);
    $("confirm-form").onsubmit = async (event) => {
      event.preventDefault();
      if (running || !canConfirm) {
        return;
      }
      running = true;
      ok.disabled = true;
      cancel.disabled = true;
      ok.textContent = busyLabel;
      try {
        const result = await action($("confirm-reason").value.trim());
        finish(result);
      } catch (error) {
        running = false;
        if (error.status === 401) {
          finish(null);
          return;
        }
        $("confirm-error").textContent = error.message;
        $("confirm-error").hidden = false;
        ok.textContent = "Try again";
        ok.disabled = false;
        cancel.disabled = false;
      }
    };
    opener = document.activeElement;
    box.showModal();
    (withReason ? $("confirm-reason") : cancel).focus();
  });
}

/** One millisecond after an ISO time: a `before` that keeps everything up to that moment. */
export function justAfter(iso) {
  return new Date(Date.parse(iso) + 1).toISOString();
}

/**
 * The result line ("Deleted 3 messages{suffix}."), saying so when fewer went than the
 * preview counted (others deleted some in between).
 */
export function deletedLine(result, previewed, suffix = "") {
  const line = `Deleted ${count(result.deletedCount, "message")}${suffix}`;
  return result.deletedCount === previewed
    ? `${line}.`
    : `${line} (the preview counted ${numbers.format(previewed)}; the others were deleted meanwhile).`;
}
