"""The routes of users and their mail: /users, /users/{name}, its mailbox and messages."""

from __future__ import annotations

import email.header
import re
from typing import Any

from pop3mock.errors import ConfigurationError
from pop3mock.maildrop._message import Message

from . import _fields as fields
from ._api import Api
from ._http import ApiError, Reply, Request, json_reply

__all__ = [
    "add_messages",
    "add_user",
    "delete_user",
    "get_message",
    "list_users",
    "mailbox",
    "purge",
]

_DEFAULT_LIMIT = 100
_MAX_LIMIT = 10_000


def list_users(api: Api, request: Request) -> Reply:
    users = [
        {"name": name, "messages": len(box), "locked": box.locked, "logins": box.logins}
        for name, box in sorted(api.server.users.items())
    ]
    return json_reply(200, {"users": users})


def add_user(api: Api, request: Request) -> Reply:
    body = request.json()
    name = fields.field(body, "name", str)
    password = fields.field(body, "password", str)
    token = fields.field(body, "token", str, required=False)
    messages = fields.messages(body, required=False)
    drop = fields.fake(body)
    fields.unknown(body, {"name", "password", "token", "messages", "fake", "seed"})
    with api.lock:
        if name in api.server.users:
            raise ApiError(409, f"user {name!r} exists already", field="name")
        given: list[Any] = [*messages, *([drop] if drop is not None else [])]
        try:
            box = api.server.add_user(name, password, given, token=token)
        except ConfigurationError as exc:
            field = "password" if str(exc).startswith("the password") else "name"
            raise ApiError(400, f"{field}: {exc}", field=field) from None
    return json_reply(201, {"name": name, "uids": list(box.uids)})


def delete_user(api: Api, request: Request) -> Reply:
    with api.lock:
        box = api.mailbox(request)
        api.server.remove_user(box.user)
    return json_reply(200, {"deleted": box.user})


def mailbox(api: Api, request: Request) -> Reply:
    box = api.mailbox(request)
    limit = fields.int_arg(request, "limit", 1, _MAX_LIMIT, _DEFAULT_LIMIT)
    offset = fields.int_arg(request, "offset", 0, None, 0)
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


def add_messages(api: Api, request: Request) -> Reply:
    box = api.mailbox(request)
    if request.content_type == "message/rfc822":
        if not request.body:
            raise ApiError(400, "request body: an empty message", field="body")
        uids = box.add(Message.of(request.body))
    else:
        body = request.json()
        messages = fields.messages(body, required=False)
        drop = fields.fake(body)
        fields.unknown(body, {"messages", "fake", "seed"})
        if not messages and drop is None:
            raise ApiError(400, "messages: give messages or fake", field="messages")
        uids = box.add(*messages)
        if drop is not None:
            uids += box.add(drop)
    return json_reply(201, {"uids": uids})


def get_message(api: Api, request: Request) -> Reply:
    box = api.mailbox(request)
    uid = request.params["uid"]
    try:
        message = box.message(uid)
    except KeyError:
        raise ApiError(404, f"no message with uid {uid!r} in mailbox {box.user!r}") from None
    return Reply(200, message.data, "message/rfc822")


def purge(api: Api, request: Request) -> Reply:
    with api.lock:
        box = api.mailbox(request)
        try:
            removed = box.purge()
        except ConfigurationError as exc:
            raise ApiError(409, str(exc)) from None
    return json_reply(200, {"removed": removed})


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
