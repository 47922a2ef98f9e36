#!/usr/bin/env python3
"""The README's "Walk-through with curl", done only through a typed client generated from
the server's own /openapi.json by openapi-python-client (see .ci/generated_client.sh).

Usage: client_walkthrough.py BASE_URL
  environment: ROOMWARDEN_API_KEY, ROOMWARDEN_CLIENT_KEY (the server's keys), and the
  generated package importable (ROOMWARDEN_CLIENT_PACKAGE, default roomwarden_client).

Every request goes through the generated `api` modules' `sync_detailed` functions with the
generated model classes as bodies; credentials go through the generated
`AuthenticatedClient` (its token header renamed to IM-API-KEY or IM-Authorization, plus
IM-CLIENT-KEY in its `headers`). Nothing here speaks raw HTTP: a step the generated client
cannot express (a missing operation or parameter, a model that fails to parse the server's
answer, an undocumented status) is reported as a FINDING about the document, the other steps
still run, and the exit status is non-zero. Prints one line per step and ends with
"N passed, M failed".
"""

import importlib
import inspect
import json
import os
import pkgutil
import sys
import traceback
import types
import typing

# ---------------------------------------------------------------------------------------
# Every name taken from the OpenAPI document, in one place: adjust here when the document
# renames an operation or a schema. Operations are module names (the operationId) under
# <package>.api.<tag>; the tag folder is found by search, so moving an operation to another
# tag needs no change. Models are class names exported by <package>.models.
# ---------------------------------------------------------------------------------------
PACKAGE = os.environ.get("ROOMWARDEN_CLIENT_PACKAGE", "roomwarden_client")

OPERATIONS = {
    "save_client": "save_client",  # POST /admin/clients
    "create_room": "create_room",  # POST /rooms
    "add_members": "add_members",  # POST /rooms/{roomID}/members
    "update_room": "update_room",  # PUT /rooms/{roomID}
    "send_message": "send_message",  # POST /rooms/{roomID}/message
    "list_messages": "list_messages",  # GET /rooms/{roomID}/messages/v3
    "delete_message": "delete_messages",  # DELETE /rooms/{roomID}/messages/{messageID}
    "clear": "clear_messages",  # DELETE /rooms/{roomID}/messages/_all (before/after/sender/dryRun)
    "bulk_delete": "bulk_delete_at",  # POST /rooms/{roomID}/messages/delete
    "purge_client": "purge_client",  # DELETE /admin/clients/{clientID}/messages
    "clear_by_content": "clear_by_content",  # DELETE /admin/messages (contains/after/before/roomID/dryRun)
    "room_deletions": "room_deletions",  # GET /rooms/{roomID}/deletions
    "verify_deletions": "verify_deletions",  # GET /rooms/{roomID}/deletions/verify
    "export_deletions": "export_deletions",  # GET /admin/deletions/export (JSON Lines, as bytes)
    "report_message": "report_message",  # POST /rooms/{roomID}/messages/{messageID}/reports
    "room_reports": "room_reports",  # GET /rooms/{roomID}/reports (state/limit/before)
}

MODELS = {
    "save_client_body": "SaveClientBody",
    "create_room_body": "CreateRoomBody",
    "invite_body": "InviteBody",
    "update_room_body": "UpdateRoomBody",
    "send_message_body": "SendMessageBody",
    "bulk_delete_body": "BulkDeleteBody",
    "report_body": "ReportBody",
    "report_category": "ReportCategoryDto",  # an enum: spam, abuse, sensitive, other
    "failure": "Failure",  # the error envelope {"RC","RM","error":{"code","message"}}
}

# ---------------------------------------------------------------------------------------

ROOM = "test-room-123"
SPAM_ID = "5f890cf37d980e06f6aaf349"


class Finding(Exception):
    """The generated client cannot express a step: a finding about the document."""


class Failed(Exception):
    """The server answered, through the client, something the walk-through does not expect."""


def load_package():
    try:
        pkg = importlib.import_module(PACKAGE)
        api = importlib.import_module(PACKAGE + ".api")
        models = importlib.import_module(PACKAGE + ".models")
    except ImportError as e:
        sys.exit(f"cannot import the generated package {PACKAGE!r}: {e}")
    modules = {}
    for info in pkgutil.walk_packages(api.__path__, api.__name__ + "."):
        if not info.ispkg:
            modules.setdefault(info.name.rsplit(".", 1)[1], info.name)
    return pkg, models, modules


PKG, MODELS_MOD, API_MODULES = load_package()
types_mod = importlib.import_module(PACKAGE + ".types")
UNSET = types_mod.UNSET


def op(role):
    """The generated module of an operation, by its role in OPERATIONS."""
    name = OPERATIONS[role]
    if name not in API_MODULES:
        raise Finding(f"no operation {name!r} in the generated package (api modules: {sorted(API_MODULES)})")
    return importlib.import_module(API_MODULES[name])


def has_op(role):
    return OPERATIONS[role] in API_MODULES


def model(role):
    name = MODELS[role]
    cls = getattr(MODELS_MOD, name, None)
    if cls is None:
        raise Finding(f"no model {name!r} in {PACKAGE}.models")
    return cls


def build(role, **fields):
    """A request body as the generated model class, each field checked against its type."""
    cls = model(role)
    declared = {a.name: a for a in cls.__attrs_attrs__ if a.name != "additional_properties"}
    unknown = [k for k in fields if k not in declared]
    if unknown:
        raise Finding(f"{cls.__name__} has no field(s) {unknown}; it has {list(declared)}")
    namespace = vars(sys.modules[cls.__module__])
    for name, value in fields.items():
        if not conforms(value, declared[name].type, namespace):
            raise Finding(f"{cls.__name__}.{name} is typed {declared[name].type}; the walk-through needs {value!r}")
    try:
        return cls(**fields)
    except TypeError as e:
        raise Finding(f"{cls.__name__}({', '.join(fields)}): {e}") from e


# The last exchange, kept by an httpx event hook so that a finding can show what the server
# sent when a generated model refused it. Observation only: requests are the client's.
LAST = {}


def _remember(response):
    response.read()
    LAST.clear()
    LAST.update(
        method=response.request.method,
        url=str(response.request.url),
        # Credentials shown by name only.
        request_headers={
            k: ("…" if k.lower().startswith("im-") else v)
            for k, v in response.request.headers.items()
            if k.lower().startswith(("im-", "x-audit", "idempotency"))
        },
        request_body=(response.request.content or b"").decode("utf-8", "replace"),
        status=response.status_code,
        body=response.text,
    )


def _client(header, secret, extra=None):
    return PKG.AuthenticatedClient(
        base_url=BASE,
        token=secret,
        prefix="",
        auth_header_name=header,
        headers=extra or {},
        raise_on_unexpected_status=False,
        timeout=PKG_TIMEOUT,
        httpx_args={"event_hooks": {"response": [_remember]}},
    )


def admin():
    return _client("IM-API-KEY", API_KEY)


def user(token):
    if not token:
        raise Failed("no token for this user (an earlier step failed)")
    return _client("IM-Authorization", token, {"IM-CLIENT-KEY": CLIENT_KEY})


def evidence():
    if not LAST:
        return "no response received"
    return (
        f"server sent to {LAST['method']} {LAST['url']} (headers {LAST['request_headers']}, body {LAST['request_body'][:300]!r}): "
        f"HTTP {LAST['status']} {LAST['body'][:600]}"
    )


def call(role, *args, **kwargs):
    """Calls an operation's sync_detailed; a generated parser that raises on a real answer,
    or a parameter the generated function lacks, is a finding."""
    module = op(role)
    fn = module.sync_detailed
    sig = inspect.signature(fn)
    missing = [k for k in kwargs if k not in sig.parameters]
    if missing:
        raise Finding(
            f"{OPERATIONS[role]}.sync_detailed has no parameter(s) {missing}; it takes {list(sig.parameters)}"
        )
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        raise Finding(f"{OPERATIONS[role]}.sync_detailed{sig} cannot take this step's arguments: {e}") from e
    for name, value in bound.arguments.items():
        annotation = sig.parameters[name].annotation
        if not conforms(value, annotation):
            shown = "<credentials>" if name == "client" else repr(value)
            raise Finding(
                f"{OPERATIONS[role]}.sync_detailed types {name} as {annotation_text(annotation)}; "
                f"the walk-through needs {shown} ({type(value).__name__})"
            )
    LAST.clear()
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # the generated model's from_dict refusing a real response
        raise Finding(
            f"{OPERATIONS[role]}: the generated client raised {type(e).__name__}: {e} while parsing; {evidence()}"
        ) from e


def conforms(value, annotation, namespace=None):
    """Whether a value fits a generated signature's annotation (str | Unset, list[str], a
    model class, ...): a step that needs another type than the document declares is a finding."""
    if annotation is inspect.Parameter.empty or annotation is typing.Any:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    if isinstance(annotation, str):  # a postponed annotation: resolve it in the package
        try:
            resolved = eval(annotation, vars(types_mod) | vars(MODELS_MOD) | {"typing": typing} | (namespace or {}))
        except Exception:
            return True  # cannot tell; the server's answer decides
        return conforms(value, resolved, namespace)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a, namespace) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if origin in (list, tuple):
        (item,) = typing.get_args(annotation)[:1] or (typing.Any,)
        return isinstance(value, origin) and all(conforms(v, item, namespace) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(annotation, type):
        if annotation is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if annotation is int:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, annotation)
    return True


def annotation_text(annotation):
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None) or str(annotation)


def enum_of(role, value):
    """The member `value` of the generated enum model `role`."""
    try:
        return model(role)(value)
    except ValueError as e:
        raise Finding(f"{MODELS[role]} has no member {value!r}") from e


def param_enum(role, name, value):
    """`value` as the enum the generated operation types its parameter `name` with (an
    inline enum gets a class named after the operation), found from its annotation."""
    module = op(role)
    annotation = inspect.signature(module.sync_detailed).parameters[name].annotation
    namespace = vars(module) | vars(MODELS_MOD) | vars(types_mod) | {"typing": typing}
    if isinstance(annotation, str):
        annotation = eval(annotation, namespace)
    for candidate in typing.get_args(annotation) or (annotation,):
        if isinstance(candidate, type) and issubclass(candidate, __import__("enum").Enum):
            return candidate(value)
    raise Finding(f"{OPERATIONS[role]}.{name} is typed {annotation_text(annotation)}, not an enum")


def clear(room_id, **kwargs):
    """DELETE /rooms/{roomID}/messages/_all through its own operation."""
    return call("clear", room_id, **kwargs)


def mismatches(obj, path="body"):
    """What a parsed answer holds that the document does not describe: members that landed
    in the generated models' additional_properties, and values of another type than the
    model's field (the generated parsers cast without checking)."""
    found = []
    if hasattr(obj, "__attrs_attrs__"):
        namespace = vars(sys.modules[type(obj).__module__])
        found += [f"{path}.{k} (undocumented member)" for k in getattr(obj, "additional_properties", {})]
        for a in obj.__attrs_attrs__:
            if a.name == "additional_properties":
                continue
            value = getattr(obj, a.name)
            if not conforms(value, a.type, namespace):
                found.append(f"{path}.{a.name} = {value!r} (typed {a.type})")
            found += mismatches(value, f"{path}.{a.name}")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            found += mismatches(item, f"{path}[{i}]")
    return found


def ok(resp, status=200):
    """The parsed body of an expected answer, checked against the walk-through."""
    code = int(resp.status_code)
    if code != status:
        raise Failed(f"HTTP {code}, expected {status}: {resp.content[:400].decode('utf-8', 'replace')}")
    parsed = resp.parsed
    if parsed is None:
        raise Finding(f"HTTP {code} is not documented for this operation (the generated client parsed nothing); {evidence()}")
    failure = model("failure")
    if status < 400 and isinstance(parsed, failure):
        raise Finding(f"the generated client parsed a {status} as {type(parsed).__name__}; {evidence()}")
    if status >= 400 and not isinstance(parsed, failure):
        raise Finding(f"the generated client parsed a {status} as {type(parsed).__name__}, not {failure.__name__}; {evidence()}")
    wrong = mismatches(parsed)
    if wrong:
        raise Finding(f"the answer does not fit the generated model {type(parsed).__name__}: {wrong}; {evidence()}")
    # The typed model must carry the answer unchanged: serialised again, it is what the
    # server sent (no member lost, renamed, retyped or reformatted by the generated parser).
    sent = json.loads(resp.content)
    again = parsed.to_dict()
    if again != sent:
        raise Finding(f"the generated model does not round-trip the answer: to_dict() gives {again!r}; {evidence()}")
    return parsed


def check(cond, what):
    if not cond:
        raise Failed(what)


def eq(actual, expected, what):
    if actual != expected:
        raise Failed(f"{what} is {actual!r}, expected {expected!r}")


# --------------------------------------------------------------------------- the steps
S = {}  # state carried between steps (tokens)
STEPS = []


def step(title):
    def register(fn):
        STEPS.append((title, fn))
        return fn

    return register


def create_user(uid, nickname=None):
    body = build("save_client_body", field_id=uid, issue_access_token=True, **({"nickname": nickname} if nickname else {}))
    r = ok(call("save_client", client=admin(), body=body))
    eq(r.rc, 0, "RC")
    eq(r.result.field_id, uid, "result._id")
    if nickname:
        eq(r.result.nickname, nickname, "result.nickname")
    check(isinstance(r.result.token, str) and r.result.token, f"result.token is {r.result.token!r}")
    S[uid] = r.result.token
    return f"token issued for {uid}"


@step("create alice with a token (API key)")
def _():
    return create_user("alice", "Alice")


@step("create bob with a token (API key)")
def _():
    return create_user("bob", "Bob")


@step("create carol with a token (API key)")
def _():
    return create_user("carol")


@step(f"create room {ROOM}: owner alice, manager bob, member carol (API key)")
def _():
    body = build("create_room_body", field_id=ROOM, name="Test room", owner="alice", managers=["bob"], members=["carol"])
    r = ok(call("create_room", client=admin(), body=body))
    res = r.result
    eq(res.field_id, ROOM, "result._id")
    eq(res.name, "Test room", "result.name")
    eq(res.room_type, "group", "result.roomType")
    eq(res.owner, "alice", "result.owner")
    eq(res.managers, ["bob"], "result.managers")
    eq(sorted(res.members), ["alice", "bob", "carol"], "result.members")
    eq(res.webhook, None, "result.webhook")
    eq(res.last_message, None, "result.lastMessage")
    return "members alice, bob, carol"


def send(token_of, room, message, field_id=None):
    kw = {"message": message}
    if field_id is not None:
        kw["field_id"] = field_id
    r = ok(call("send_message", room, client=user(S.get(token_of)), body=build("send_message_body", **kw)))
    res = r.result
    eq(res.room, room, "result.room")
    eq(res.sender, token_of, "result.sender")
    eq(res.message, message, "result.message")
    eq(res.message_type, "text", "result.messageType")
    if field_id is not None:
        eq(res.field_id, field_id, "result._id")
    check(isinstance(res.message_time_ms, int) and res.message_time.endswith("Z"), "messageTime/messageTimeMS")
    return res.field_id


@step("alice sends \"hello\"")
def _():
    S["hello"] = send("alice", ROOM, "hello")
    return f"_id {S['hello']}"


@step(f"alice sends \"buy cheap watches\" with _id {SPAM_ID}")
def _():
    return f"_id {send('alice', ROOM, 'buy cheap watches', SPAM_ID)}"


@step("alice sends {\"text\":\"see you\"} (any JSON value)")
def _():
    S["see-you"] = send("alice", ROOM, {"text": "see you"})
    return f"_id {S['see-you']}"


def listing(token_of, room, limit=10):
    r = ok(call("list_messages", room, client=user(S.get(token_of)), limit=limit))
    return r.result


@step("alice lists the room: 3 messages, newest first")
def _():
    page = listing("alice", ROOM)
    eq(page.total_count, 3, "result.totalCount")
    eq([m.message for m in page.data], [{"text": "see you"}, "buy cheap watches", "hello"], "messages")
    eq(page.data[1].field_id, SPAM_ID, "data[1]._id")
    return "totalCount 3"


@step("carol (member) reports the spam as spam")
def _():
    body = build("report_body", category=enum_of("report_category", "spam"), reason="watch spam")
    r = ok(call("report_message", ROOM, SPAM_ID, client=user(S.get("carol")), body=body))
    eq(r.rm, "Message reported", "RM")
    res = r.result
    eq((res.room_id, res.message_id, res.reporter), (ROOM, SPAM_ID, "carol"), "result roomID/messageID/reporter")
    eq((res.category.value, res.reason, res.state.value), ("spam", "watch spam", "open"), "result category/reason/state")
    S["report"] = res.field_id
    return f"report {res.field_id}"


@step("bob (manager) reads the room's report queue: the spam, reported once")
def _():
    r = ok(call("room_reports", ROOM, client=user(S.get("bob"))))
    items = r.result.data
    eq([(i.message_id, i.report_count, i.message) for i in items], [(SPAM_ID, 1, "buy cheap watches")],
       "queue (messageID, reportCount, message)")
    eq(items[0].categories.spam, 1, "categories.spam")
    eq([x.field_id for x in items[0].reports], [S.get("report")], "reports")
    return "1 reported message"


@step("bob (manager) deletes the spam with X-Audit-Log-Reason: spam%20link")
def _():
    r = ok(call("delete_message", ROOM, SPAM_ID, client=user(S.get("bob")), x_audit_log_reason="spam%20link"))
    eq(r.rm, "Message deleted successfully", "RM")
    res = r.result
    eq(res.deleted_count, 1, "result.deletedCount")
    eq(res.report_count, 1, "result.reportCount (carol's report resolved)")
    eq(res.room_id, ROOM, "result.roomID")
    eq(res.message_id, SPAM_ID, "result.messageID")
    eq(res.deleted_by, "bob", "result.deletedBy")
    check(res.deleted_at.endswith("Z"), f"result.deletedAt {res.deleted_at!r}")
    return "deletedCount 1"


@step("bob deletes it again: 404 MESSAGE_NOT_FOUND")
def _():
    r = ok(call("delete_message", ROOM, SPAM_ID, client=user(S.get("bob"))), 404)
    eq(r.rc, 404, "RC")
    eq(r.rm, "Message not found", "RM")
    eq(r.error.code, "MESSAGE_NOT_FOUND", "error.code")
    return "404"


@step("carol's report is resolved by bob's deletion (state=deleted)")
def _():
    state = param_enum("room_reports", "state", "deleted")
    items = ok(call("room_reports", ROOM, client=user(S.get("bob")), state=state)).result.data
    eq([(i.message_id, i.message, i.state.value) for i in items], [(SPAM_ID, None, "deleted")],
       "queue (messageID, message, state)")
    report = items[0].reports[0]
    eq((report.field_id, report.state.value), (S.get("report"), "deleted"), "the report")
    record = ok(call("room_deletions", ROOM, client=user(S.get("bob")))).result.data[0]
    eq(report.deletion_id, record.field_id, "deletionID (the audit record)")
    eq((record.report_i_ds, record.report_count), ([S.get("report")], 1), "the record's reportIDs/reportCount")
    return f"deletionID {report.deletion_id}"


@step("alice lists the room: the spam is gone, 2 remain")
def _():
    page = listing("alice", ROOM)
    eq(page.total_count, 2, "result.totalCount")
    ids = [m.field_id for m in page.data]
    check(SPAM_ID not in ids, f"{SPAM_ID} still listed: {ids}")
    eq(ids, [S.get("see-you"), S.get("hello")], "message IDs, newest first")
    return "totalCount 2"


@step("alice (owner) clears the room with _all")
def _():
    r = ok(clear(ROOM, client=user(S.get("alice"))))
    eq(r.rm, "All messages deleted successfully", "RM")
    res = r.result
    eq(res.deleted_count, 2, "result.deletedCount")
    eq(res.room_id, ROOM, "result.roomID")
    eq(res.message_id, "_all", "result.messageID")
    eq(res.deleted_by, "alice", "result.deletedBy")
    page = listing("alice", ROOM)
    eq((page.total_count, page.data), (0, []), "listing after the clear")
    return "deletedCount 2, room empty"


@step("alice reads the room's audit log")
def _():
    r = ok(call("room_deletions", ROOM, client=user(S.get("alice"))))
    data = r.result.data
    eq(len(data), 2, "number of audit records")
    first, second = data
    eq((first.room_id, first.message_id, first.deleted_count, first.deleted_by, first.reason),
       (ROOM, "_all", 2, "alice", None), "newest record")
    eq((second.room_id, second.message_id, second.deleted_count, second.deleted_by, second.reason),
       (ROOM, SPAM_ID, 1, "bob", "spam link"), "older record")
    check(first.field_id and second.field_id, "records have _id")
    return "2 records, reason \"spam link\""


# --- Moderation: filtered clears, bulk delete, purging a user


@step("create spammer42 with a token (API key)")
def _():
    return create_user("spammer42")


@step(f"add spammer42 to {ROOM} (API key)")
def _():
    r = ok(call("add_members", ROOM, client=admin(), body=build("invite_body", invitees=["spammer42"])))
    eq(r.rc, 0, "RC")
    return "invited"


@step("create room games: owner alice, member spammer42 (API key)")
def _():
    body = build("create_room_body", field_id="games", owner="alice", members=["spammer42"])
    r = ok(call("create_room", client=admin(), body=body))
    eq(r.result.field_id, "games", "result._id")
    eq(sorted(r.result.members), ["alice", "spammer42"], "result.members")
    return "created"


@step(f"spammer42 sends spam-1, spam-2, spam-3 to {ROOM} and one message to games")
def _():
    for i in (1, 2, 3):
        send("spammer42", ROOM, f"cheap watches {i}", f"spam-{i}")
    send("spammer42", "games", "cheap watches")
    return "4 sent"


@step("bob previews a clear of spammer42's messages (dryRun=true): 3, nothing deleted")
def _():
    r = ok(clear(ROOM, client=user(S.get("bob")), sender=["spammer42"], dry_run=True))
    eq(r.rm, "Dry run: nothing deleted", "RM")
    res = r.result
    eq((res.deleted_count, res.message_id, res.deleted_by, res.dry_run), (3, "_all", "bob", True),
       "result deletedCount/messageID/deletedBy/dryRun")
    check(res.filter_ is not None and res.filter_ is not UNSET, f"result.filter is {res.filter_!r}")
    eq(res.filter_.sender, ["spammer42"], "result.filter.sender")
    eq(listing("alice", ROOM).total_count, 3, "totalCount after the dry run")
    return "deletedCount 3, dryRun"


@step("bob clears spammer42's messages before spam-3 with reason spam%20wave")
def _():
    r = ok(clear(ROOM, client=user(S.get("bob")), sender=["spammer42"], before="spam-3", x_audit_log_reason="spam%20wave"))
    eq(r.rm, "All messages deleted successfully", "RM")
    res = r.result
    eq((res.deleted_count, res.message_id, res.deleted_by), (2, "_all", "bob"), "result deletedCount/messageID/deletedBy")
    eq((res.filter_.before, res.filter_.sender), ("spam-3", ["spammer42"]), "result.filter")
    eq([m.field_id for m in listing("alice", ROOM).data], ["spam-3"], "remaining messages")
    return "deletedCount 2"


@step("bob bulk-deletes spam-3 and spam-1 in one transaction")
def _():
    body = build("bulk_delete_body", message_i_ds=["spam-3", "spam-1"])
    r = ok(call("bulk_delete", ROOM, client=user(S.get("bob")), body=body))
    eq(r.rm, "Messages deleted successfully", "RM")
    res = r.result
    eq((res.deleted_count, res.room_id, res.message_id, res.deleted_by), (1, ROOM, "_bulk", "bob"),
       "result deletedCount/roomID/messageID/deletedBy")
    eq((res.message_i_ds, res.not_found), (["spam-3"], ["spam-1"]), "result messageIDs/notFound")
    return "deletedCount 1, notFound spam-1"


def purge(dry_run):
    kw = {"dry_run": True} if dry_run else {"x_audit_log_reason": "throwaway%20account"}
    r = ok(call("purge_client", "spammer42", client=admin(), **kw))
    eq(r.rm, "Dry run: nothing deleted" if dry_run else "User messages deleted successfully", "RM")
    res = r.result
    eq((res.client_id, res.deleted_count, res.deleted_by, res.dry_run), ("spammer42", 1, "_platform", dry_run),
       "result clientID/deletedCount/deletedBy/dryRun")
    eq([(c.room_id, c.deleted_count) for c in res.rooms], [("games", 1)], "result.rooms")
    return "games: 1"


@step("purge spammer42's messages everywhere, dry run (API key)")
def _():
    return purge(True)


@step("purge spammer42's messages everywhere with reason throwaway%20account (API key)")
def _():
    out = purge(False)
    eq(listing("alice", "games").total_count, 0, "games totalCount after the purge")
    return out


@step("the audit logs carry the filter, the messageIDs and the purge")
def _():
    data = ok(call("room_deletions", ROOM, client=user(S.get("bob")))).result.data
    eq(len(data), 4, f"number of records in {ROOM}")
    bulk, filtered = data[0], data[1]
    eq((bulk.message_id, bulk.deleted_by, bulk.message_i_ds), ("_bulk", "bob", ["spam-3"]), "bulk record")
    eq((filtered.message_id, filtered.deleted_count, filtered.reason), ("_all", 2, "spam wave"), "filtered clear record")
    eq((filtered.filter_.before, filtered.filter_.sender), ("spam-3", ["spammer42"]), "filtered clear record's filter")
    games = ok(call("room_deletions", "games", client=admin())).result.data
    eq([(g.deleted_by, g.deleted_count, g.reason) for g in games], [("_platform", 1, "throwaway account")], "games records")
    return "ok"


@step(f"bob verifies {ROOM}'s audit chain, and recomputes it from the listing")
def _():
    import hashlib
    import json

    report = ok(call("verify_deletions", ROOM, client=user(S.get("bob")))).result
    eq((report.valid, report.records), (True, 4), "verify")
    records = ok(call("room_deletions", ROOM, client=user(S.get("bob")))).result.data
    prev = "0" * 64
    for r in reversed(records):
        record = r.to_dict()
        body = {k: v for k, v in record.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        eq(hashlib.sha256((prev + canonical).encode()).hexdigest(), record["hash"], f"hash of {r.field_id}")
        prev = record["hash"]
    eq(report.head, prev, "head")
    return f"valid, head {prev[:12]}…"


@step("export every record as JSON Lines (API key)")
def _():
    import json

    resp = call("export_deletions", client=admin())
    eq(int(resp.status_code), 200, "status")
    lines = [json.loads(line) for line in resp.content.decode().splitlines()]
    check(len(lines) >= 5 and all(len(r["hash"]) == 64 for r in lines), f"{len(lines)} records with hashes")
    return f"{len(lines)} records"


@step("a spam wave: a link posted in games, cleared by content across rooms after a dry run showing it (API key)")
def _():
    import time

    text = "FREE coins at win.example"
    send("spammer42", "games", text)
    since = str(int(time.time() * 1000) - 3_600_000)
    needle = ["coins at WIN.example"]
    dry = ok(call("clear_by_content", client=admin(), contains=needle, after=since, dry_run=True))
    eq(dry.rm, "Dry run: nothing deleted", "RM")
    res = dry.result
    eq((res.deleted_count, res.deleted_by, res.dry_run), (1, "_platform", True), "result deletedCount/deletedBy/dryRun")
    eq([(c.room_id, c.deleted_count) for c in res.rooms], [("games", 1)], "result.rooms")
    eq([(m.room_id, m.sender, m.message) for m in res.sample], [("games", "spammer42", text)], "result.sample")
    eq(res.filter_.contains, needle, "result.filter.contains")
    done = ok(call("clear_by_content", client=admin(), contains=needle, after=since, before=res.filter_.before,
                   x_audit_log_reason="coin%20spam"))
    eq(done.rm, "Matching messages deleted successfully", "RM")
    eq((done.result.deleted_count, done.result.dry_run), (1, False), "result deletedCount/dryRun")
    eq(listing("alice", "games").total_count, 0, "games totalCount after the clear")
    return "games: 1"


@step(f"set {ROOM}'s retention to 30 days (PUT /rooms/{{roomID}}, owner)")
def _():
    r = ok(call("update_room", ROOM, client=user(S.get("alice")), body=build("update_room_body", retention_days=30)))
    eq(r.result.field_id, ROOM, "result._id")
    eq(r.result.retention_days, 30, "result.retentionDays")
    return "retentionDays 30"


@step("a bad token gets 401 INVALID_TOKEN")
def _():
    r = ok(clear(ROOM, client=user("wrong")), 401)
    eq((r.rc, r.rm, r.error.code, r.error.message), (401, "Unauthorized", "INVALID_TOKEN", "Invalid or expired token"),
       "RC/RM/error")
    return "401"


# --------------------------------------------------------------------------- main
def main():
    global BASE, API_KEY, CLIENT_KEY, PKG_TIMEOUT
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    BASE = sys.argv[1].rstrip("/")
    API_KEY = os.environ["ROOMWARDEN_API_KEY"]
    CLIENT_KEY = os.environ["ROOMWARDEN_CLIENT_KEY"]
    import httpx

    PKG_TIMEOUT = httpx.Timeout(15.0)
    print(f"walk-through against {BASE} with generated package {PACKAGE}; "
          f"clear via {OPERATIONS['clear']}")
    passed, failed, findings = 0, [], []
    for i, (title, fn) in enumerate(STEPS, 1):
        try:
            detail = fn()
        except Finding as e:
            failed.append(i)
            findings.append((i, title, str(e)))
            print(f"FINDING {i:2} {title}: {e}", flush=True)
        except Failed as e:
            failed.append(i)
            print(f"FAIL    {i:2} {title}: {e}", flush=True)
        except Exception:
            failed.append(i)
            print(f"ERROR   {i:2} {title}:\n{traceback.format_exc()}", flush=True)
        else:
            passed += 1
            print(f"ok      {i:2} {title}: {detail}", flush=True)
    if findings:
        print("\nfindings about the document (the generated client could not express these steps):")
        for i, title, text in findings:
            print(f"  step {i} ({title}): {text}")
    if failed:
        print("\nfailed steps: " + ", ".join(str(i) for i in failed))
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
