"""The schemas of the control API's OpenAPI document (`components/schemas`): every JSON
body a route takes or gives, and the small builders the paths use too."""

from __future__ import annotations

from typing import Any

__all__ = ["SCHEMAS", "error", "json_content", "obj", "ref"]

_INT64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
_NULLABLE_STR = {"type": ["string", "null"]}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error(description: str) -> dict[str, Any]:
    return json_content(ref("Error"), description)


def obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "what went wrong, one line"},
            "field": {"type": "string", "description": "the request field at fault"},
            "message": {"type": "string", "description": "the full text (408, 409)"},
        },
        "additionalProperties": True,
    },
    "Health": obj(
        ["status", "host", "port", "tls_port", "url"],
        status={"type": "string", "enum": ["serving", "stopped"]},
        host={"type": "string"},
        port={"type": "integer"},
        tls_port={"type": ["integer", "null"]},
        url={"type": "string"},
    ),
    "UserSummary": obj(
        ["name", "messages", "locked", "logins"],
        name={"type": "string"},
        messages={"type": "integer", "minimum": 0},
        locked={"type": "boolean"},
        logins={"type": "integer", "minimum": 0},
    ),
    "NewUser": {
        "type": "object",
        "required": ["name", "password"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "description": "no spaces or line ends"},
            "password": {"type": "string"},
            "token": {"type": "string", "description": "bearer token for XOAUTH2/OAUTHBEARER"},
            "messages": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "fake": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
            "seed": _INT64,
        },
    },
    "NewMessages": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "messages": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "fake": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
            "seed": _INT64,
        },
    },
    "Uids": obj(["uids"], uids={"type": "array", "items": {"type": "string"}}),
    "Mailbox": obj(
        ["name", "count", "size", "messages", "deleted", "retrieved", "locked", "logins"],
        name={"type": "string"},
        count={"type": "integer", "minimum": 0},
        size={"type": "integer", "minimum": 0},
        messages={
            "type": "array",
            "items": obj(
                ["number", "uid", "size", "subject"],
                number={"type": "integer", "minimum": 1},
                uid={"type": "string"},
                size={"type": "integer", "minimum": 0},
                subject=_NULLABLE_STR,
            ),
        },
        deleted={"type": "array", "items": {"type": "string"}},
        retrieved={"type": "object", "additionalProperties": {"type": "integer"}},
        locked={"type": "boolean"},
        logins={"type": "integer", "minimum": 0},
    ),
    "Fault": obj(
        ["id", "description", "matched", "fired", "counted", "configured"],
        id={"type": "integer", "minimum": 1},
        description={"type": "string", "description": "the rule, credentials masked"},
        matched={"type": "integer", "minimum": 0},
        fired={"type": "integer", "minimum": 0},
        counted={"type": "boolean", "description": "once, times=N or #N"},
        configured={"type": "boolean", "description": "POST /reset keeps it"},
    ),
    "Session": obj(
        ["id", "peer", "tls", "user", "started", "ended", "end_reason", "commands"],
        id={"type": "integer"},
        peer={"type": "string"},
        tls={"type": "boolean"},
        user=_NULLABLE_STR,
        started={"type": "number"},
        ended={"type": ["number", "null"]},
        end_reason=_NULLABLE_STR,
        commands={"type": "array", "items": {"type": "string"}},
        faults={"type": "array", "items": {"type": "string"}},
        violations={"type": "array", "items": {"type": "string"}},
    ),
    "Command": obj(
        ["session", "seq", "line", "verb", "args", "status", "reply"],
        session={"type": "integer"},
        seq={"type": "integer"},
        time={"type": "number"},
        state={"type": "string"},
        user=_NULLABLE_STR,
        line={"type": "string", "description": "the command, secrets masked"},
        verb={"type": "string"},
        args={"type": "array", "items": {"type": "string"}},
        status={"type": "string"},
        reply={"type": "string"},
        bytes_sent={"type": "integer"},
        fault=_NULLABLE_STR,
        violation=_NULLABLE_STR,
    ),
    "Verify": {
        "oneOf": [
            {
                "type": "object",
                "required": ["command"],
                "additionalProperties": False,
                "properties": {
                    "command": {"type": "string", "pattern": "^\\S+$"},
                    "args": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "count": {"type": ["integer", "null"], "minimum": 0, "maximum": 2**63 - 1},
                    "user": {"type": "string"},
                    "session": _INT64,
                },
            },
            {
                "type": "object",
                "required": ["commands"],
                "additionalProperties": False,
                "properties": {
                    "commands": {"type": "array", "items": {"type": "string"}},
                    "any_order": {"type": "boolean"},
                    "session": _INT64,
                },
            },
        ]
    },
}
