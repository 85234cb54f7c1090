"""The state behind the routes of the control API: the server, what its configuration gave,
and the ids of the fault rules.

Every change goes through the objects a Python test uses (`Mailbox`, `FaultSet`, `Journal`)
and their locks, so an admin call and a POP3 session can run at the same moment. Changes are
made one at a time under one lock of the API; no POP3 thread ever takes it, so it cannot
take part in a deadlock. A session already logged in keeps the numbers it got at login.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import attrs

from pop3mock.errors import ConfigurationError
from pop3mock.faults._rules import Rule
from pop3mock.maildrop._entries import Entries
from pop3mock.maildrop._mailbox import Mailbox
from pop3mock.server._server import POP3Server

from ._http import ApiError, Reply, Request
from ._metrics import Metrics

__all__ = ["Api"]


@attrs.frozen
class _Configured:
    password: str
    token: str | None
    entries: Entries


class Api:
    """The state behind the routes: the server, what its configuration gave, the fault ids."""

    def __init__(self, server: POP3Server) -> None:
        self.server = server
        #: Held by every route that changes the server; no POP3 thread takes it.
        self.lock = threading.Lock()
        self.stopping = threading.Event()
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
            self._configured_ids.add(self.fault_id(rule))
        self.metrics = Metrics()
        #: The last GET /health reply and the server state it answers.
        self.health: tuple[object, Reply] = (None, Reply(503, b""))
        # The journal's clock is monotonic; replies say when in Unix time.
        self._offset = time.time() - time.monotonic()

    def stop(self) -> None:
        """End every long-poll now (the HTTP server is stopping)."""
        self.stopping.set()
        self.server.journal.wake()
        self.metrics.wake()

    def wait_ended(self, count: int, timeout: float) -> bool:
        """Wait until the journal counts `count` ended sessions; False on timeout or stop.

        Woken only when a session ends (by the metrics' listener), never by a command, and
        without the journal's lock in between: a long-poll costs the POP3 threads nothing
        while it waits. The journal's own count decides; the listener's only says when to
        look again.
        """
        deadline = time.monotonic() + timeout
        journal = self.server.journal
        while True:
            # The listener's count first: a session that ends between the two reads makes
            # the wait look once too early, never too late.
            counted = self.metrics.ended
            ended = journal.ended_sessions
            if ended >= count:
                return True
            if not self.metrics.wait_ended(counted + count - ended, deadline, self.stopping.is_set):
                return False

    def mailbox(self, request: Request) -> Mailbox:
        """The mailbox the path names (`{name}`), or a 404 listing the users."""
        name = request.params["name"]
        try:
            return self.server.mailbox(name)
        except KeyError:
            raise ApiError(404, f"no user {name!r}", users=sorted(self.server.users)) from None

    def fault_id(self, rule: Rule) -> int:
        """The id a rule keeps for as long as the server holds it (call under `lock`)."""
        held = self._ids.get(id(rule))
        if held is None or held[1] is not rule:
            held = self._ids[id(rule)] = (self._next_id, rule)
            self._next_id += 1
        return held[0]

    def faults(self) -> list[dict[str, Any]]:
        """Every rule as GET /faults lists it; forgets the ids of rules no longer held."""
        with self.lock:
            rows = self.server.faults.counts()
            faults = [self.fault(rule, matched, fired) for rule, matched, fired in rows]
            held = {id(rule) for rule, _, _ in rows}
            for key in [k for k in self._ids if k not in held]:
                del self._ids[key]
        return faults

    def fault(self, rule: Rule, matched: int, fired: int) -> dict[str, Any]:
        number = self.fault_id(rule)
        return {
            "id": number,
            "description": rule.describe(),
            "matched": matched,
            "fired": fired,
            "counted": rule.counted,
            "configured": number in self._configured_ids,
        }

    def unix_time(self, moment: float | None) -> float | None:
        """A moment of the journal's monotonic clock in Unix time."""
        return None if moment is None else round(moment + self._offset, 6)

    def reset(self) -> None:
        """Maildrops, faults and journal back to the configured start (docs/admin.md#reset)."""
        server = self.server
        with self.lock:
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
