"""The routes of the journal: sessions, commands, violations, the long-poll and verify."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pop3mock.journal._journal import CommandRecord, SessionRecord, Violation

from . import _fields as fields
from ._api import Api
from ._http import ApiError, Reply, Request, json_reply

__all__ = ["commands", "sessions", "verify", "violations", "wait"]

_MAX_WAIT = 60.0


def _at_once() -> bool:
    return True


def sessions(api: Api, request: Request) -> Reply:
    since = fields.int_arg(request, "since", 0, None, 0)
    records = api.server.journal.sessions
    listed = [_session(api, s) for s in records if s.id > since]
    return json_reply(200, {"sessions": listed, "cursor": _cursor(records, since)})


def _session(api: Api, record: SessionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "peer": record.peer,
        "tls": record.tls,
        "user": record.user,
        "started": api.unix_time(record.started),
        "ended": api.unix_time(record.ended),
        "end_reason": record.end_reason,
        "commands": [c.line for c in list(record.commands)],
        "faults": list(record.faults),
        "violations": list(record.violations),
    }


def commands(api: Api, request: Request) -> Reply:
    since = fields.int_arg(request, "since", 0, None, 0)
    session = fields.int_arg(request, "session", 1, None, None)
    verb = request.arg("verb")
    user = request.arg("user")
    journal = api.server.journal
    records = journal.sessions
    found = journal.find(verb or None, user=user, session=session)
    listed = [_command(api, c) for c in found if c.session > since]
    return json_reply(200, {"commands": listed, "cursor": _cursor(records, since)})


def _command(api: Api, command: CommandRecord) -> dict[str, Any]:
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
        "time": api.unix_time(command.time),
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


def violations(api: Api, request: Request) -> Reply:
    journal = api.server.journal
    found = [_violation(v) for v in journal.violations]
    return json_reply(200, {"violations": found, "report": journal.violation_report()})


def wait(api: Api, request: Request) -> Reply:
    ended = fields.int_arg(request, "sessions_ended", 0, None, None)
    if ended is None:
        raise ApiError(400, "sessions_ended: required", field="sessions_ended")
    timeout = fields.float_arg(request, "timeout", 0.0, _MAX_WAIT, 5.0)
    journal = api.server.journal
    try:
        if not api.wait_ended(ended, timeout) and (
            api.stopping.is_set() or journal.ended_sessions < ended
        ):
            # Not reached in time: the journal words the 408 as its own wait would have (a
            # wait cancelled at once raises what a timed-out one does).
            journal.wait_for(sessions_ended=ended, timeout=timeout, cancel=_at_once)
    except TimeoutError as exc:
        text = str(exc)
        seen = journal.ended_sessions
        return json_reply(
            408,
            {"error": text.splitlines()[0], "message": text, "sessions_ended": seen},
        )
    return json_reply(200, {"sessions_ended": journal.ended_sessions})


def verify(api: Api, request: Request) -> Reply:
    body = request.json()
    journal = api.server.journal
    user = fields.field(body, "user", str, required=False)
    session = fields.field(body, "session", int, required=False)
    try:
        if "commands" in body:
            wanted = fields.field(body, "commands", list)
            if not all(isinstance(item, str) for item in wanted):
                raise ApiError(400, "commands: expected a list of strings", field="commands")
            any_order = fields.field(body, "any_order", bool, required=False) or False
            fields.unknown(body, {"commands", "any_order", "session"})
            journal.assert_commands(wanted, any_order=any_order, session=session)
            return json_reply(200, {"ok": True})
        verb = fields.field(body, "command", str)
        if not verb.strip() or " " in verb.strip():
            raise ApiError(400, "command: one verb, e.g. RETR", field="command")
        args = fields.field(body, "args", list, required=False) or []
        if not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in args):
            raise ApiError(400, "args: expected a list of strings", field="args")
        count = fields.field(body, "count", int, required=False)
        if count is not None and count < 0:
            raise ApiError(400, "count: expected an integer >= 0", field="count")
        fields.unknown(body, {"command", "args", "count", "user", "session"})
        found = journal.assert_command(verb.strip(), *args, count=count, user=user, session=session)
    except AssertionError as exc:
        text = str(exc)
        return json_reply(409, {"error": text.splitlines()[0], "message": text})
    return json_reply(200, {"ok": True, "matched": len(found)})


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
