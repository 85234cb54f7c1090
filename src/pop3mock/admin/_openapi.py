"""The OpenAPI 3.1 document of the control API (GET /openapi.json): its paths, and the
document around them (the schemas are in `_openapi_schemas`)."""

from __future__ import annotations

import copy
import functools
from typing import Any

from pop3mock import __version__

from ._openapi_schemas import SCHEMAS, error, json_content, obj, ref

__all__ = ["document"]


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
_NOT_FOUND_USER = error("no such user")
_BAD = error("a malformed body or parameter; `field` names it")
_SINCE = _query(
    "since",
    {"type": "integer", "minimum": 0},
    "only sessions with a higher id (the `cursor` of an earlier reply)",
)


def _paths() -> dict[str, Any]:
    ok = functools.partial(json_content)
    return {
        "/health": {
            "get": {
                "summary": "Whether the POP3 server is serving, and where",
                "responses": {
                    "200": ok(ref("Health"), "serving"),
                    "503": ok(ref("Health"), "stopped"),
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
                        obj(["users"], users={"type": "array", "items": ref("UserSummary")}),
                        "the users",
                    )
                },
            },
            "post": {
                "summary": "Add a user with a maildrop (raw messages and/or generated ones)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("NewUser")}},
                },
                "responses": {
                    "201": ok(
                        obj(
                            ["name", "uids"],
                            name={"type": "string"},
                            uids={"type": "array", "items": {"type": "string"}},
                        ),
                        "created",
                    ),
                    "400": _BAD,
                    "409": error("the user exists"),
                    "415": error("not JSON"),
                },
            },
        },
        "/users/{name}": {
            "parameters": [_NAME],
            "delete": {
                "summary": "Remove a user (a session logged in keeps its maildrop to its end)",
                "responses": {
                    "200": ok(obj(["deleted"], deleted={"type": "string"}), "removed"),
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
                    "200": ok(ref("Mailbox"), "the mailbox"),
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
                        "application/json": {"schema": ref("NewMessages")},
                    },
                },
                "responses": {
                    "201": ok(ref("Uids"), "the uids of the new messages"),
                    "400": _BAD,
                    "404": _NOT_FOUND_USER,
                    "413": error("the body is over the limit"),
                    "415": error("neither message/rfc822 nor JSON"),
                },
            },
            "delete": {
                "summary": "Empty the maildrop",
                "responses": {
                    "200": ok(
                        obj(["removed"], removed={"type": "integer", "minimum": 0}), "emptied"
                    ),
                    "404": _NOT_FOUND_USER,
                    "409": error("a session holds the maildrop"),
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
                    "404": error("no such user or message"),
                },
            },
        },
        "/faults": {
            "get": {
                "summary": "The fault rules, with how often each matched and fired",
                "responses": {
                    "200": ok(
                        obj(
                            ["seed", "faults"],
                            seed={"type": "integer"},
                            faults={"type": "array", "items": ref("Fault")},
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
                    "201": ok(ref("Fault"), "added"),
                    "400": error("a bad spec: the message of pop3mock serve --fault"),
                    "415": error("not JSON"),
                },
            },
            "delete": {
                "summary": "Remove every rule",
                "responses": {"200": ok(obj(["deleted"], deleted={"type": "integer"}), "removed")},
            },
        },
        "/faults/{id}": {
            "parameters": [_path_param("id", "the rule's id (GET /faults)")],
            "delete": {
                "summary": "Remove one rule",
                "responses": {
                    "200": ok(obj(["deleted"], deleted={"type": "integer"}), "removed"),
                    "404": error("no such rule"),
                },
            },
        },
        "/journal/sessions": {
            "get": {
                "summary": "Sessions, oldest first",
                "parameters": [_SINCE],
                "responses": {
                    "200": ok(
                        obj(
                            ["sessions", "cursor"],
                            sessions={"type": "array", "items": ref("Session")},
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
                        obj(
                            ["commands", "cursor"],
                            commands={"type": "array", "items": ref("Command")},
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
                        obj(
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
                        obj(["sessions_ended"], sessions_ended={"type": "integer"}), "reached"
                    ),
                    "400": _BAD,
                    "408": error("not reached in time: what was seen"),
                },
            }
        },
        "/journal/verify": {
            "post": {
                "summary": "Assert commands were sent, as journal.assert_command(s) does",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("Verify")}},
                },
                "responses": {
                    "200": ok(
                        obj(["ok"], ok={"type": "boolean"}, matched={"type": "integer"}),
                        "as expected",
                    ),
                    "400": _BAD,
                    "409": error("not as expected: `message` is the assertion's text"),
                    "415": error("not JSON"),
                },
            }
        },
        "/reset": {
            "post": {
                "summary": "Maildrops, faults and journal back to the configured start",
                "responses": {
                    "200": ok(obj(["reset"], reset={"type": "boolean"}), "done"),
                    "409": error("a session holds a maildrop; nothing was changed"),
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
    "401": error("a wrong or missing token"),
    "404": error("no such route (the reply lists the routes)"),
    "405": error("a method the route does not take (see Allow)"),
    "411": error("a body without Content-Length"),
    "413": error("a body over the limit"),
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
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
        "paths": paths,
    }


def document() -> dict[str, Any]:
    """The document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_build())
