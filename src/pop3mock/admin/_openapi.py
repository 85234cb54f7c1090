"""The OpenAPI 3.1 document of the control API (GET /openapi.json)."""

from __future__ import annotations

import copy
import functools
from typing import Any

from pop3mock import __version__

__all__ = ["document"]

_INT64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
_NULLABLE_STR = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_SCHEMAS: dict[str, Any] = {
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
    "Health": _obj(
        ["status", "host", "port", "tls_port", "url"],
        status={"type": "string", "enum": ["serving", "stopped"]},
        host={"type": "string"},
        port={"type": "integer"},
        tls_port={"type": ["integer", "null"]},
        url={"type": "string"},
    ),
    "UserSummary": _obj(
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
    "Uids": _obj(["uids"], uids={"type": "array", "items": {"type": "string"}}),
    "Mailbox": _obj(
        ["name", "count", "size", "messages", "deleted", "retrieved", "locked", "logins"],
        name={"type": "string"},
        count={"type": "integer", "minimum": 0},
        size={"type": "integer", "minimum": 0},
        messages={
            "type": "array",
            "items": _obj(
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
    "Fault": _obj(
        ["id", "description", "matched", "fired", "counted", "configured"],
        id={"type": "integer", "minimum": 1},
        description={"type": "string", "description": "the rule, credentials masked"},
        matched={"type": "integer", "minimum": 0},
        fired={"type": "integer", "minimum": 0},
        counted={"type": "boolean", "description": "once, times=N or #N"},
        configured={"type": "boolean", "description": "POST /reset keeps it"},
    ),
    "Session": _obj(
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
    "Command": _obj(
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


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
        "description": description,
    }


_NAME = _path_param("name", "the user name")
_NOT_FOUND_USER = _error("no such user")
_BAD = _error("a malformed body or parameter; `field` names it")
_SINCE = _query(
    "since",
    {"type": "integer", "minimum": 0},
    "only sessions with a higher id (the `cursor` of an earlier reply)",
)


def _paths() -> dict[str, Any]:
    ok = functools.partial(_json)
    return {
        "/health": {
            "get": {
                "summary": "Whether the POP3 server is serving, and where",
                "responses": {
                    "200": ok(_ref("Health"), "serving"),
                    "503": ok(_ref("Health"), "stopped"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": ok({"type": "object"}, "the OpenAPI 3.1 document")},
            }
        },
        "/users": {
            "get": {
                "summary": "Every user (no passwords)",
                "responses": {
                    "200": ok(
                        _obj(["users"], users={"type": "array", "items": _ref("UserSummary")}),
                        "the users",
                    )
                },
            },
            "post": {
                "summary": "Add a user with a maildrop (raw messages and/or generated ones)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("NewUser")}},
                },
                "responses": {
                    "201": ok(
                        _obj(
                            ["name", "uids"],
                            name={"type": "string"},
                            uids={"type": "array", "items": {"type": "string"}},
                        ),
                        "created",
                    ),
                    "400": _BAD,
                    "409": _error("the user exists"),
                    "415": _error("not JSON"),
                },
            },
        },
        "/users/{name}": {
            "parameters": [_NAME],
            "delete": {
                "summary": "Remove a user (a session logged in keeps its maildrop to its end)",
                "responses": {
                    "200": ok(_obj(["deleted"], deleted={"type": "string"}), "removed"),
                    "404": _NOT_FOUND_USER,
                },
            },
        },
        "/users/{name}/mailbox": {
            "parameters": [_NAME],
            "get": {
                "summary": "What the maildrop holds now and what clients did to it",
                "parameters": [
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 10_000},
                        "messages listed (default 100)",
                    ),
                    _query("offset", {"type": "integer", "minimum": 0}, "first message listed"),
                ],
                "responses": {
                    "200": ok(_ref("Mailbox"), "the mailbox"),
                    "400": _BAD,
                    "404": _NOT_FOUND_USER,
                },
            },
        },
        "/users/{name}/messages": {
            "parameters": [_NAME],
            "post": {
                "summary": "Deliver mail; the next session sees it",
                "requestBody": {
                    "required": True,
                    "content": {
                        "message/rfc822": {"schema": {"type": "string", "minLength": 1}},
                        "application/json": {"schema": _ref("NewMessages")},
                    },
                },
                "responses": {
                    "201": ok(_ref("Uids"), "the uids of the new messages"),
                    "400": _BAD,
                    "404": _NOT_FOUND_USER,
                    "413": _error("the body is over the limit"),
                    "415": _error("neither message/rfc822 nor JSON"),
                },
            },
            "delete": {
                "summary": "Empty the maildrop",
                "responses": {
                    "200": ok(
                        _obj(["removed"], removed={"type": "integer", "minimum": 0}), "emptied"
                    ),
                    "404": _NOT_FOUND_USER,
                    "409": _error("a session holds the maildrop"),
                },
            },
        },
        "/users/{name}/messages/{uid}": {
            "parameters": [_NAME, _path_param("uid", "the message's unique-id (UIDL)")],
            "get": {
                "summary": "One message's bytes, whether still there or deleted",
                "responses": {
                    "200": {
                        "description": "the message",
                        "content": {"message/rfc822": {"schema": {"type": "string"}}},
                    },
                    "404": _error("no such user or message"),
                },
            },
        },
        "/faults": {
            "get": {
                "summary": "The fault rules, with how often each matched and fired",
                "responses": {
                    "200": ok(
                        _obj(
                            ["seed", "faults"],
                            seed={"type": "integer"},
                            faults={"type": "array", "items": _ref("Fault")},
                        ),
                        "the rules, first match first",
                    )
                },
            },
            "post": {
                "summary": "Add a rule in the text syntax of --fault and the marker",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["spec"],
                                "additionalProperties": False,
                                "properties": {"spec": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {
                    "201": ok(_ref("Fault"), "added"),
                    "400": _error("a bad spec: the message of pop3mock serve --fault"),
                    "415": _error("not JSON"),
                },
            },
            "delete": {
                "summary": "Remove every rule",
                "responses": {"200": ok(_obj(["deleted"], deleted={"type": "integer"}), "removed")},
            },
        },
        "/faults/{id}": {
            "parameters": [_path_param("id", "the rule's id (GET /faults)")],
            "delete": {
                "summary": "Remove one rule",
                "responses": {
                    "200": ok(_obj(["deleted"], deleted={"type": "integer"}), "removed"),
                    "404": _error("no such rule"),
                },
            },
        },
        "/journal/sessions": {
            "get": {
                "summary": "Sessions, oldest first",
                "parameters": [_SINCE],
                "responses": {
                    "200": ok(
                        _obj(
                            ["sessions", "cursor"],
                            sessions={"type": "array", "items": _ref("Session")},
                            cursor={"type": "integer"},
                        ),
                        "sessions; `cursor`: every session up to it has ended",
                    ),
                    "400": _BAD,
                },
            }
        },
        "/journal/commands": {
            "get": {
                "summary": "Commands, in the order received",
                "parameters": [
                    _query("verb", {"type": "string"}, "only this verb"),
                    _query("user", {"type": "string"}, "only this user's"),
                    _query("session", {"type": "integer", "minimum": 1}, "only this session's"),
                    _SINCE,
                ],
                "responses": {
                    "200": ok(
                        _obj(
                            ["commands", "cursor"],
                            commands={"type": "array", "items": _ref("Command")},
                            cursor={"type": "integer"},
                        ),
                        "commands, secrets masked",
                    ),
                    "400": _BAD,
                },
            }
        },
        "/journal/violations": {
            "get": {
                "summary": "Protocol rules clients broke",
                "responses": {
                    "200": ok(
                        _obj(
                            ["violations", "report"],
                            violations={"type": "array", "items": {"type": "object"}},
                            report={"type": "string"},
                        ),
                        "violations and the strict-mode report",
                    )
                },
            }
        },
        "/journal/wait": {
            "get": {
                "summary": "Long-poll until N sessions have ended",
                "parameters": [
                    {
                        "name": "sessions_ended",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    },
                    _query(
                        "timeout",
                        {"type": "number", "minimum": 0, "maximum": 60},
                        "seconds (default 5)",
                    ),
                ],
                "responses": {
                    "200": ok(
                        _obj(["sessions_ended"], sessions_ended={"type": "integer"}), "reached"
                    ),
                    "400": _BAD,
                    "408": _error("not reached in time: what was seen"),
                },
            }
        },
        "/journal/verify": {
            "post": {
                "summary": "Assert commands were sent, as journal.assert_command(s) does",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Verify")}},
                },
                "responses": {
                    "200": ok(
                        _obj(["ok"], ok={"type": "boolean"}, matched={"type": "integer"}),
                        "as expected",
                    ),
                    "400": _BAD,
                    "409": _error("not as expected: `message` is the assertion's text"),
                    "415": _error("not JSON"),
                },
            }
        },
        "/reset": {
            "post": {
                "summary": "Maildrops, faults and journal back to the configured start",
                "responses": {
                    "200": ok(_obj(["reset"], reset={"type": "boolean"}), "done"),
                    "409": _error("a session holds a maildrop; nothing was changed"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text format",
                "responses": {
                    "200": {
                        "description": "the metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


_COMMON = {
    "401": _error("a wrong or missing token"),
    "404": _error("no such route (the reply lists the routes)"),
    "405": _error("a method the route does not take (see Allow)"),
    "411": _error("a body without Content-Length"),
    "413": _error("a body over the limit"),
}


@functools.cache
def _build() -> dict[str, Any]:
    paths = _paths()
    for item in paths.values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in _COMMON.items():
                operation["responses"].setdefault(status, response)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pop3mock control API",
            "version": __version__,
            "description": "Drive a running pop3mock POP3 server: users, mail, faults, journal.",
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
        "paths": paths,
    }


def document() -> dict[str, Any]:
    """The document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_build())
