"""Generated cases CI's fuzzer leaves out: only rules that no schema can state.

Each filter names the rule and where the server checks it; everything else the server
checks is in the OpenAPI document (crates/app/src/openapi/constraints.rs), and a schema-valid
request it refuses fails the run.
"""
from datetime import datetime, timezone

import schemathesis

MILLIS_DIGITS = 15  # roomwarden_domain::filter::MAX_MILLIS_DIGITS
WINDOW_MS = 7 * 86_400_000  # roomwarden_domain::usecases::content::MAX_WINDOW_DAYS


def _time(value):
    """A bound as the server reads a time (Unix milliseconds or RFC 3339), else None."""
    if not isinstance(value, str):
        return None
    # ASCII digits only, as the server reads them: str.isdigit() also accepts digits such
    # as '²', which int() refuses.
    if value.isascii() and value.isdigit() and len(value) <= MILLIS_DIGITS:
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return int(parsed.timestamp() * 1000)


def _now_ms():
    return int(datetime.now(timezone.utc).timestamp() * 1000)


@schemathesis.hook
def map_case(context, case):
    """A clear by content's `after`, when it is a time, moved to 1 hour before `before` (or
    now): its window must end within 7 days of it, a relation to now that no schema states,
    and a drawn time almost never meets it. Values that are not times are left as drawn."""
    if case.operation.definition.raw.get("operationId", "") != "clear_by_content":
        return case
    query = case.query or {}
    if _time(query.get("after")) is None:
        return case
    base = _time(query.get("before")) if "before" in query else _now_ms()
    if base is None:
        return case
    try:
        moved = datetime.fromtimestamp((base - 3_600_000) / 1000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return case
    query["after"] = moved.isoformat(timespec="milliseconds")
    case.query = query
    return case


@schemathesis.hook
def filter_case(context, case):
    operation = case.operation.definition.raw.get("operationId", "")
    query = case.query or {}
    body = case.body if isinstance(case.body, dict) else {}
    # `before` must be later than `after` (docs/api.md §7.3): a relation
    # between two parameters, checked by roomwarden_domain::filter::MessageFilter::new.
    if operation in ("clear_messages", "purge_client"):
        before, after = _time(query.get("before")), _time(query.get("after"))
        if before is not None and after is not None and before <= after:
            return False
    # A clear by content's window (docs/api.md §7.9): `before` (default now) later than
    # `after`, at most 7 days apart; checked by
    # roomwarden_domain::usecases::content::ClearByContent::new.
    if operation == "clear_by_content":
        after = _time(query.get("after"))
        before = _time(query.get("before")) if "before" in query else _now_ms()
        if after is None or before is None or before <= after or before - after > WINDOW_MS:
            return False
    # An assigned token's expirationDate must be in the future: relative to now.
    if operation == "save_client" and body.get("token") is not None:
        expires = body.get("expirationDate")
        at = expires if isinstance(expires, int) else _time(expires)
        if at is not None and at <= _now_ms():
            return False
    # A webhook's host must resolve to public addresses (docs/events.md): a DNS lookup.
    if operation.startswith(("create_room", "update_room")) and body.get("webhook") is not None:
        return False
    return True
