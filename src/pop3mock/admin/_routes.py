"""The route table of the control API, the routes about the whole server (health, reset,
metrics), and matching a path to its route.

The routes themselves live by what they touch: `_mail_routes` (users and their mail),
`_fault_routes` and `_journal_routes`; `_api.Api` holds the state they share.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from . import _fault_routes as faults
from . import _journal_routes as journal
from . import _mail_routes as mail
from ._api import Api
from ._http import Reply, Request, json_reply

__all__ = ["ROUTES", "Handler", "match"]


def health(api: Api, request: Request) -> Reply:
    server = api.server
    running = server.running
    state = (running, server.host, server.port, server.tls_port, server.url)
    held = api.health
    if held[0] != state:
        # Encoded again only when the answer changes: a client that waits for the server
        # asks this many times over.
        body = {
            "status": "serving" if running else "stopped",
            "host": state[1],
            "port": state[2],
            "tls_port": state[3],
            "url": state[4],
        }
        held = api.health = (state, json_reply(200 if running else 503, body))
    return held[1]


def reset(api: Api, request: Request) -> Reply:
    api.reset()
    return json_reply(200, {"reset": True})


def metrics(api: Api, request: Request) -> Reply:
    text = api.metrics.render(len(api.server.users), len(api.server.faults))
    return Reply(200, text.encode("utf-8"), "text/plain; version=0.0.4; charset=utf-8")


Handler = Callable[[Api, Request], Reply]

#: Path templates and, per method, the handler. Order matters only for reading.
ROUTES: dict[str, dict[str, Handler]] = {
    "/health": {"GET": health},
    "/openapi.json": {},  # filled by the HTTP side (the document knows the routes)
    "/users": {"GET": mail.list_users, "POST": mail.add_user},
    "/users/{name}": {"DELETE": mail.delete_user},
    "/users/{name}/mailbox": {"GET": mail.mailbox},
    "/users/{name}/messages": {"POST": mail.add_messages, "DELETE": mail.purge},
    "/users/{name}/messages/{uid}": {"GET": mail.get_message},
    "/faults": {"GET": faults.list_faults, "POST": faults.add_fault, "DELETE": faults.clear_faults},
    "/faults/{id}": {"DELETE": faults.delete_fault},
    "/journal/sessions": {"GET": journal.sessions},
    "/journal/commands": {"GET": journal.commands},
    "/journal/violations": {"GET": journal.violations},
    "/journal/wait": {"GET": journal.wait},
    "/journal/verify": {"POST": journal.verify},
    "/reset": {"POST": reset},
    "/metrics": {"GET": metrics},
}


# The templates by their count of segments, in the table's order: a path is compared with
# those of its own length only, each split once here rather than on every request.
_BY_LENGTH: dict[int, list[tuple[str, list[str]]]] = {}
for _template in ROUTES:
    _BY_LENGTH.setdefault(_template.count("/") + 1, []).append((_template, _template.split("/")))


def match(path: str) -> tuple[str, dict[str, str]] | None:
    """The route template `path` falls under and its decoded variables, or None."""
    parts = path.split("/")
    for template, want in _BY_LENGTH.get(len(parts), ()):
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
