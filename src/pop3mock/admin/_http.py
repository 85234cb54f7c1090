"""Requests and replies of the control API, and the errors that become replies.

Kept apart from the socket side so that the routes can be called (and checked against the
OpenAPI document) without HTTP.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ["ApiError", "Reply", "Request", "json_reply"]


@attrs.frozen
class Request:
    """One HTTP request, its body already read (and bounded)."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    content_type: str
    body: bytes
    #: The path's variable segments (`{name}`, `{uid}`), decoded.
    params: Mapping[str, str] = attrs.field(factory=dict)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object, or a 400 saying why it is not one."""
        if self.content_type not in ("application/json", ""):
            raise ApiError(
                415,
                f"request body: expected application/json, not {self.content_type}",
                field="body",
            )
        try:
            value = json.loads(self.body.decode("utf-8")) if self.body else None
        except UnicodeDecodeError as exc:
            raise ApiError(400, f"request body: not UTF-8 ({exc.reason})", field="body") from None
        except json.JSONDecodeError as exc:
            raise ApiError(400, f"request body: invalid JSON: {exc}", field="body") from None
        except RecursionError:
            raise ApiError(400, "request body: JSON nested too deep", field="body") from None
        if not isinstance(value, dict):
            raise ApiError(400, "request body: expected a JSON object", field="body")
        return value

    def arg(self, name: str) -> str | None:
        """A query parameter given once (400 when given twice)."""
        values = self.query.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise ApiError(400, f"{name}: given {len(values)} times, give it once", field=name)
        return values[0]


@attrs.frozen
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = attrs.field(factory=dict)


class ApiError(Exception):
    """A request the API refuses: the status and one line that says why."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra)
        if field is not None:
            self.extra["field"] = field

    def reply(self) -> Reply:
        return json_reply(self.status, {"error": self.message, **self.extra}, self.headers)


# Made once: json.dumps with options makes a new encoder on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _c_encoder() -> Callable[[Any], str]:
    # JSONEncoder.encode builds the C encoder anew on every call (a third of the cost of a
    # small reply); the same C encoder, built once, gives the same text.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _ENCODER.encode
    try:
        chunks = make(
            None,  # no check for circular values: replies are built from plain data
            _ENCODER.default,
            json.encoder.encode_basestring,  # ensure_ascii=False
            None,
            ":",
            ",",
            False,
            False,
            True,
        )
        if "".join(chunks({"a": [1, 2.5, None, True, "é"]}, 0)) != '{"a":[1,2.5,null,true,"é"]}':
            return _ENCODER.encode
    except TypeError:  # another signature: the public way
        return _ENCODER.encode
    return lambda value: "".join(chunks(value, 0))


_encode = _c_encoder()
_NO_FIELDS: Mapping[str, str] = MappingProxyType({})


def json_reply(status: int, value: Any, headers: Mapping[str, str] | None = None) -> Reply:
    # One line ending in a newline: a shell prompt does not end up glued to it.
    body = _encode(value).encode("utf-8") + b"\n"
    return Reply(status, body, headers=dict(headers) if headers else _NO_FIELDS)
