"""Reading the values of a request: JSON fields, query parameters, messages and generated
maildrops, each refused with a 400 that names it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pop3mock.errors import ConfigurationError
from pop3mock.maildrop._message import Message
from pop3mock.server._assemble import generated, seed_unused

from ._http import ApiError, Request

__all__ = ["fake", "field", "float_arg", "int_arg", "messages", "unknown"]

_INT64 = 2**63
_TYPES = {str: "a string", int: "an integer", list: "a list", bool: "true or false"}


def field(body: Mapping[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    """`body[name]`, of type `kind` (a bool is no int; an int fits in 64 bits)."""
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


def unknown(body: Mapping[str, Any], known: set[str]) -> None:
    """A 400 for the first field of `body` that is not in `known`."""
    extra = sorted(set(body) - known)
    if extra:
        raise ApiError(
            400, f"{extra[0]}: unknown field (known: {', '.join(sorted(known))})", field=extra[0]
        )


def messages(body: Mapping[str, Any], *, required: bool) -> list[Message]:
    """`body["messages"]`: raw messages as strings, built into Messages."""
    items = field(body, "messages", list, required=required) or []
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


def fake(body: Mapping[str, Any]) -> Any:
    """The generated maildrop `body["fake"]` and `body["seed"]` ask for, or None."""
    count = field(body, "fake", int, required=False)
    seed = field(body, "seed", int, required=False)
    if count is None and seed is not None:
        raise ApiError(400, seed_unused("seed"), field="seed")
    try:
        return generated(count, seed)
    except ConfigurationError as exc:
        raise ApiError(400, str(exc), field="fake") from None


def int_arg(request: Request, name: str, low: int, high: int | None, default: Any) -> Any:
    """The query parameter `name` as an integer from `low` to `high`, or `default`."""
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


def float_arg(request: Request, name: str, low: float, high: float, default: float) -> float:
    """The query parameter `name` as a number from `low` to `high`, or `default`."""
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
