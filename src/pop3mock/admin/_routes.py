"""The routes of the control API: what each does to a running `POP3Server`.

Every change goes through the objects a Python test uses (`Mailbox`, `FaultSet`, `Journal`)
and their locks, so an admin call and a POP3 session can run at the same moment. Changes are
made one at a time under one lock of the API; no POP3 thread ever takes it, so it cannot
take part in a deadlock. A session already logged in keeps the numbers it got at login.
"""

from __future__ import annotations

import email.header
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from pop3mock.errors import ConfigurationError
from pop3mock.faults._rules import Rule
from pop3mock.journal._journal import CommandRecord, SessionRecord, Violation
from pop3mock.maildrop._entries import Entries
from pop3mock.maildrop._mailbox import Mailbox
from pop3mock.maildrop._message import Message
from pop3mock.server._assemble import fault_rule, generated, seed_unused
from pop3mock.server._server import POP3Server

from ._http import ApiError, Reply, Request, json_reply
from ._metrics import Metrics

__all__ = ["ROUTES", "Api"]

_INT64 = 2**63
_MAX_WAIT = 60.0
_DEFAULT_LIMIT = 100
_MAX_LIMIT = 10_000


@attrs.frozen
class _Configured:
    password: str
    token: str | None
    entries: Entries


class Api:
    """The state behind the routes: the server, what its configuration gave, the fault ids."""

    def __init__(self, server: POP3Server) -> None:
        self.server = server
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # What POST /reset goes back to: the server as it is when the API is made.
        self._users = {
            name: _Configured(box.password, box.token, box.snapshot())
            for name, box in server.users.items()
        }
        self._rules = [rule for rule, _, _ in server.faults.counts()]
        self._ids: dict[int, tuple[int, Rule]] = {}
        self._next_id = 1
        self._configured_ids: set[int] = set()
        for rule in self._rules:
            self._configured_ids.add(self._id(rule))
        self.metrics = Metrics()
        # The journal's clock is monotonic; replies say when in Unix time.
        self._offset = time.time() - time.monotonic()

    def stop(self) -> None:
        """End every long-poll now (the HTTP server is stopping)."""
        self._stopping.set()
        self.server.journal.wake()

    # -- helpers ---------------------------------------------------------------------------

    def _mailbox(self, request: Request) -> Mailbox:
        name = request.params["name"]
        try:
            return self.server.mailbox(name)
        except KeyError:
            raise ApiError(404, f"no user {name!r}", users=sorted(self.server.users)) from None

    def _id(self, rule: Rule) -> int:
        held = self._ids.get(id(rule))
        if held is None or held[1] is not rule:
            held = self._ids[id(rule)] = (self._next_id, rule)
            self._next_id += 1
        return held[0]

    def _when(self, moment: float | None) -> float | None:
        return None if moment is None else round(moment + self._offset, 6)

    # -- routes ------------------------------------------------------------------------------

    def health(self, request: Request) -> Reply:
        server = self.server
        body = {
            "status": "serving" if server.running else "stopped",
            "host": server.host,
            "port": server.port,
            "tls_port": server.tls_port,
            "url": server.url,
        }
        return json_reply(200 if server.running else 503, body)

    def list_users(self, request: Request) -> Reply:
        users = [
            {"name": name, "messages": len(box), "locked": box.locked, "logins": box.logins}
            for name, box in sorted(self.server.users.items())
        ]
        return json_reply(200, {"users": users})

    def add_user(self, request: Request) -> Reply:
        body = request.json()
        name = _field(body, "name", str)
        password = _field(body, "password", str)
        token = _field(body, "token", str, required=False)
        messages = _messages(body, required=False)
        drop = _fake(body)
        _unknown(body, {"name", "password", "token", "messages", "fake", "seed"})
        with self._lock:
            if name in self.server.users:
                raise ApiError(409, f"user {name!r} exists already", field="name")
            given: list[Any] = [*messages, *([drop] if drop is not None else [])]
            try:
                box = self.server.add_user(name, password, given, token=token)
            except ConfigurationError as exc:
                field = "password" if str(exc).startswith("the password") else "name"
                raise ApiError(400, f"{field}: {exc}", field=field) from None
        return json_reply(201, {"name": name, "uids": list(box.uids)})

    def delete_user(self, request: Request) -> Reply:
        with self._lock:
            box = self._mailbox(request)
            self.server.remove_user(box.user)
        return json_reply(200, {"deleted": box.user})

    def mailbox(self, request: Request) -> Reply:
        box = self._mailbox(request)
        limit = _int_arg(request, "limit", 1, _MAX_LIMIT, _DEFAULT_LIMIT)
        offset = _int_arg(request, "offset", 0, None, 0)
        entries = box.snapshot()
        listed = [
            {"number": number, "uid": entry.uid, "size": entry.size, "subject": _subject(entry)}
            for number, entry in enumerate(entries[offset : offset + limit], offset + 1)
        ]
        body = {
            "name": box.user,
            "count": len(entries),
            "size": entries.total_size(),
            "messages": listed,
            "deleted": list(box.deleted_uids),
            "retrieved": box.retrieved,
            "locked": box.locked,
            "logins": box.logins,
        }
        return json_reply(200, body)

    def add_messages(self, request: Request) -> Reply:
        box = self._mailbox(request)
        if request.content_type == "message/rfc822":
            if not request.body:
                raise ApiError(400, "request body: an empty message", field="body")
            uids = box.add(Message.of(request.body))
        else:
            body = request.json()
            messages = _messages(body, required=False)
            drop = _fake(body)
            _unknown(body, {"messages", "fake", "seed"})
            if not messages and drop is None:
                raise ApiError(400, "messages: give messages or fake", field="messages")
            uids = box.add(*messages)
            if drop is not None:
                uids += box.add(drop)
        return json_reply(201, {"uids": uids})

    def get_message(self, request: Request) -> Reply:
        box = self._mailbox(request)
        uid = request.params["uid"]
        try:
            message = box.message(uid)
        except KeyError:
            raise ApiError(404, f"no message with uid {uid!r} in mailbox {box.user!r}") from None
        return Reply(200, message.data, "message/rfc822")

    def purge(self, request: Request) -> Reply:
        with self._lock:
            box = self._mailbox(request)
            try:
                removed = box.purge()
            except ConfigurationError as exc:
                raise ApiError(409, str(exc)) from None
        return json_reply(200, {"removed": removed})

    def list_faults(self, request: Request) -> Reply:
        with self._lock:
            rows = self.server.faults.counts()
            faults = [self._fault(rule, matched, fired) for rule, matched, fired in rows]
            held = {id(rule) for rule, _, _ in rows}
            for key in [k for k in self._ids if k not in held]:
                del self._ids[key]
        return json_reply(200, {"seed": self.server.faults.seed, "faults": faults})

    def _fault(self, rule: Rule, matched: int, fired: int) -> dict[str, Any]:
        number = self._id(rule)
        return {
            "id": number,
            "description": rule.describe(),
            "matched": matched,
            "fired": fired,
            "counted": rule.counted,
            "configured": number in self._configured_ids,
        }

    def add_fault(self, request: Request) -> Reply:
        body = request.json()
        spec = _field(body, "spec", str)
        _unknown(body, {"spec"})
        try:
            rule = fault_rule(spec)
        except ConfigurationError as exc:
            raise ApiError(400, str(exc), field="spec") from None
        with self._lock:
            self.server.faults.add(rule)
            reply = self._fault(rule, 0, 0)
        return json_reply(201, reply)

    def delete_fault(self, request: Request) -> Reply:
        text = request.params["id"]
        with self._lock:
            found = [
                rule
                for rule, _, _ in self.server.faults.counts()
                if text.isdigit() and self._id(rule) == int(text)
            ]
            if not found or not self.server.faults.remove(found[0]):
                raise ApiError(404, f"no fault rule with id {text!r}")
        return json_reply(200, {"deleted": int(text)})

    def clear_faults(self, request: Request) -> Reply:
        with self._lock:
            count = len(self.server.faults)
            self.server.faults.clear()
        return json_reply(200, {"deleted": count})

    def sessions(self, request: Request) -> Reply:
        since = _int_arg(request, "since", 0, None, 0)
        records = self.server.journal.sessions
        listed = [self._session(s) for s in records if s.id > since]
        return json_reply(200, {"sessions": listed, "cursor": _cursor(records, since)})

    def _session(self, record: SessionRecord) -> dict[str, Any]:
        return {
            "id": record.id,
            "peer": record.peer,
            "tls": record.tls,
            "user": record.user,
            "started": self._when(record.started),
            "ended": self._when(record.ended),
            "end_reason": record.end_reason,
            "commands": [c.line for c in list(record.commands)],
            "faults": list(record.faults),
            "violations": list(record.violations),
        }

    def commands(self, request: Request) -> Reply:
        since = _int_arg(request, "since", 0, None, 0)
        session = _int_arg(request, "session", 1, None, None)
        verb = request.arg("verb")
        user = request.arg("user")
        journal = self.server.journal
        records = journal.sessions
        found = journal.find(verb or None, user=user, session=session)
        listed = [self._command(c) for c in found if c.session > since]
        return json_reply(200, {"commands": listed, "cursor": _cursor(records, since)})

    def _command(self, command: CommandRecord) -> dict[str, Any]:
        line = command.line
        if not command.secret:
            args = list(command.args)
        elif command.verb:
            args = line.split(" ")[1:]
        else:
            args = [line]
        return {
            "session": command.session,
            "seq": command.seq,
            "time": self._when(command.time),
            "state": command.state,
            "user": command.user,
            "line": line,
            "verb": command.verb,
            "args": args,
            "status": command.status,
            "reply": command.reply,
            "bytes_sent": command.bytes_sent,
            "fault": command.fault,
            "violation": command.violation,
        }

    def violations(self, request: Request) -> Reply:
        journal = self.server.journal
        found = [_violation(v) for v in journal.violations]
        return json_reply(200, {"violations": found, "report": journal.violation_report()})

    def wait(self, request: Request) -> Reply:
        ended = _int_arg(request, "sessions_ended", 0, None, None)
        if ended is None:
            raise ApiError(400, "sessions_ended: required", field="sessions_ended")
        timeout = _float_arg(request, "timeout", 0.0, _MAX_WAIT, 5.0)
        journal = self.server.journal
        try:
            journal.wait_for(sessions_ended=ended, timeout=timeout, cancel=self._stopping.is_set)
        except TimeoutError as exc:
            text = str(exc)
            seen = journal.ended_sessions
            return json_reply(
                408,
                {"error": text.splitlines()[0], "message": text, "sessions_ended": seen},
            )
        return json_reply(200, {"sessions_ended": journal.ended_sessions})

    def verify(self, request: Request) -> Reply:
        body = request.json()
        journal = self.server.journal
        user = _field(body, "user", str, required=False)
        session = _field(body, "session", int, required=False)
        try:
            if "commands" in body:
                wanted = _field(body, "commands", list)
                if not all(isinstance(item, str) for item in wanted):
                    raise ApiError(400, "commands: expected a list of strings", field="commands")
                any_order = _field(body, "any_order", bool, required=False) or False
                _unknown(body, {"commands", "any_order", "session"})
                journal.assert_commands(wanted, any_order=any_order, session=session)
                return json_reply(200, {"ok": True})
            verb = _field(body, "command", str)
            if not verb.strip() or " " in verb.strip():
                raise ApiError(400, "command: one verb, e.g. RETR", field="command")
            args = _field(body, "args", list, required=False) or []
            if not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in args):
                raise ApiError(400, "args: expected a list of strings", field="args")
            count = _field(body, "count", int, required=False)
            if count is not None and count < 0:
                raise ApiError(400, "count: expected an integer >= 0", field="count")
            _unknown(body, {"command", "args", "count", "user", "session"})
            found = journal.assert_command(
                verb.strip(), *args, count=count, user=user, session=session
            )
        except AssertionError as exc:
            text = str(exc)
            return json_reply(409, {"error": text.splitlines()[0], "message": text})
        return json_reply(200, {"ok": True, "matched": len(found)})

    def reset(self, request: Request) -> Reply:
        server = self.server
        with self._lock:
            held = sorted(name for name, box in server.users.items() if box.locked)
            if held:
                raise ApiError(
                    409,
                    f"cannot reset while sessions hold the maildrops of {', '.join(held)}",
                    locked=held,
                )
            try:
                for name in set(server.users) - set(self._users):
                    server.remove_user(name)
                for name, configured in self._users.items():
                    box = server.users.get(name)
                    if box is None:
                        entries = list(configured.entries)
                        server.add_user(name, configured.password, entries, token=configured.token)
                    else:
                        box.restore(configured.entries)
                        box.password, box.token = configured.password, configured.token
            except ConfigurationError as exc:
                # A session logged in between the check and the reset: nothing else to do.
                raise ApiError(409, str(exc)) from None
            server.faults.restore(list(self._rules))
            server.journal.clear()
        return json_reply(200, {"reset": True})

    def metrics_text(self, request: Request) -> Reply:
        text = self.metrics.render(len(self.server.users), len(self.server.faults))
        return Reply(200, text.encode("utf-8"), "text/plain; version=0.0.4; charset=utf-8")


def _cursor(records: Sequence[SessionRecord], since: int) -> int:
    """The highest session id up to which every session has ended: polling with it as
    `since` sees each later session, and sees it again once it ends."""
    cursor = since
    for record in records:
        if record.id <= cursor:
            continue
        if record.ended is None:
            break
        cursor = record.id
    return cursor


def _violation(item: Violation) -> dict[str, Any]:
    command = item.command
    return {
        "session": item.session,
        "text": item.text,
        "command": command.line if command is not None else None,
        "after": item.after,
        "description": str(item),
    }


_SUBJECT = re.compile(rb"^subject:[ \t]*([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", re.I | re.M)


def _subject(entry: Any) -> str | None:
    data: bytes = entry.message.data
    end = data.find(b"\r\n\r\n")
    found = _SUBJECT.search(data, 0, len(data) if end < 0 else end + 2)
    if found is None:
        return None
    raw = re.sub(rb"\r\n[ \t]", b" ", found.group(1)).decode("utf-8", "replace")
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except (ValueError, LookupError):
        return raw


_TYPES = {str: "a string", int: "an integer", list: "a list", bool: "true or false"}


def _field(body: Mapping[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    if name not in body or body[name] is None:
        if required:
            raise ApiError(400, f"{name}: required", field=name)
        return None
    value = body[name]
    wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    if kind is int and not wrong and not -_INT64 <= value < _INT64:
        wrong = True
    if wrong:
        raise ApiError(
            400, f"{name}: expected {_TYPES[kind]}, got {type(value).__name__}", field=name
        )
    return value


def _unknown(body: Mapping[str, Any], known: set[str]) -> None:
    extra = sorted(set(body) - known)
    if extra:
        raise ApiError(
            400, f"{extra[0]}: unknown field (known: {', '.join(sorted(known))})", field=extra[0]
        )


def _messages(body: Mapping[str, Any], *, required: bool) -> list[Message]:
    items = _field(body, "messages", list, required=required) or []
    out = []
    for number, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise ApiError(
                400,
                f"messages[{number}]: expected a message as a non-empty string",
                field="messages",
            )
        try:
            out.append(Message.of(item.encode("utf-8", "surrogateescape")))
        except (ConfigurationError, UnicodeEncodeError) as exc:
            raise ApiError(400, f"messages[{number}]: {exc}", field="messages") from None
    return out


def _fake(body: Mapping[str, Any]) -> Any:
    count = _field(body, "fake", int, required=False)
    seed = _field(body, "seed", int, required=False)
    if count is None and seed is not None:
        raise ApiError(400, seed_unused("seed"), field="seed")
    try:
        return generated(count, seed)
    except ConfigurationError as exc:
        raise ApiError(400, str(exc), field="fake") from None


def _int_arg(request: Request, name: str, low: int, high: int | None, default: Any) -> Any:
    text = request.arg(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"{name}: expected an integer, got {text!r}", field=name) from None
    if value < low or (high is not None and value > high) or value >= _INT64:
        span = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ApiError(400, f"{name}: expected an integer {span}", field=name)
    return value


def _float_arg(request: Request, name: str, low: float, high: float, default: float) -> float:
    text = request.arg(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise ApiError(400, f"{name}: expected a number, got {text!r}", field=name) from None
    if not low <= value <= high:
        raise ApiError(400, f"{name}: expected a number from {low:g} to {high:g}", field=name)
    return value


Handler = Callable[[Api, Request], Reply]

#: Path templates and, per method, the handler. Order matters only for reading.
ROUTES: dict[str, dict[str, Handler]] = {
    "/health": {"GET": Api.health},
    "/openapi.json": {},  # filled by the HTTP side (the document knows the routes)
    "/users": {"GET": Api.list_users, "POST": Api.add_user},
    "/users/{name}": {"DELETE": Api.delete_user},
    "/users/{name}/mailbox": {"GET": Api.mailbox},
    "/users/{name}/messages": {"POST": Api.add_messages, "DELETE": Api.purge},
    "/users/{name}/messages/{uid}": {"GET": Api.get_message},
    "/faults": {"GET": Api.list_faults, "POST": Api.add_fault, "DELETE": Api.clear_faults},
    "/faults/{id}": {"DELETE": Api.delete_fault},
    "/journal/sessions": {"GET": Api.sessions},
    "/journal/commands": {"GET": Api.commands},
    "/journal/violations": {"GET": Api.violations},
    "/journal/wait": {"GET": Api.wait},
    "/journal/verify": {"POST": Api.verify},
    "/reset": {"POST": Api.reset},
    "/metrics": {"GET": Api.metrics_text},
}


def match(path: str) -> tuple[str, dict[str, str]] | None:
    """The route template `path` falls under and its decoded variables, or None."""
    parts = path.split("/")
    for template in ROUTES:
        want = template.split("/")
        if len(want) != len(parts):
            continue
        params: dict[str, str] = {}
        for pattern, got in zip(want, parts, strict=True):
            if pattern.startswith("{"):
                value = urllib.parse.unquote(got, errors="strict") if got else ""
                if not value:
                    break
                params[pattern[1:-1]] = value
            elif pattern != got:
                break
        else:
            return template, params
    return None
