"""The routes of fault rules: /faults and /faults/{id}."""

from __future__ import annotations

from pop3mock.errors import ConfigurationError
from pop3mock.server._assemble import fault_rule

from . import _fields as fields
from ._api import Api
from ._http import ApiError, Reply, Request, json_reply

__all__ = ["add_fault", "clear_faults", "delete_fault", "list_faults"]


def list_faults(api: Api, request: Request) -> Reply:
    faults = api.faults()
    return json_reply(200, {"seed": api.server.faults.seed, "faults": faults})


def add_fault(api: Api, request: Request) -> Reply:
    body = request.json()
    spec = fields.field(body, "spec", str)
    fields.unknown(body, {"spec"})
    try:
        rule = fault_rule(spec)
    except ConfigurationError as exc:
        raise ApiError(400, str(exc), field="spec") from None
    with api.lock:
        api.server.faults.add(rule)
        reply = api.fault(rule, 0, 0)
    return json_reply(201, reply)


def delete_fault(api: Api, request: Request) -> Reply:
    text = request.params["id"]
    with api.lock:
        found = [
            rule
            for rule, _, _ in api.server.faults.counts()
            if text.isdigit() and api.fault_id(rule) == int(text)
        ]
        if not found or not api.server.faults.remove(found[0]):
            raise ApiError(404, f"no fault rule with id {text!r}")
    return json_reply(200, {"deleted": int(text)})


def clear_faults(api: Api, request: Request) -> Reply:
    with api.lock:
        count = len(api.server.faults)
        api.server.faults.clear()
    return json_reply(200, {"deleted": count})
