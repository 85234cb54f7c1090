"""Counters for GET /metrics, fed by the journal as things happen (Prometheus text format).

The counters only grow (POST /reset empties the journal, not them), as Prometheus expects
of a counter.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from pop3mock.journal._journal import CommandRecord, SessionRecord

__all__ = ["Metrics"]

# A client may send any word as a verb: labels are kept to the commands POP3 knows, so a
# fuzzing client cannot grow the metrics without bound.
_VERBS = frozenset(
    {"USER", "PASS", "APOP", "AUTH", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT"}
    | {"TOP", "UIDL", "CAPA", "STLS", "UTF8", "LANG"}
)


class Metrics:
    """A journal listener that counts sessions, commands by verb, faults and bytes sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Notified when a session ends, while a long-poll waits (`wait_ended`): it is not
        # woken by every command, as a wait on the journal itself would be.
        self._ended = threading.Condition(self._lock)
        self._waiting = 0
        self.sessions = 0
        self.ended = 0
        self.faults = 0
        self.bytes_sent = 0
        self.commands: Counter[str] = Counter()

    def __call__(self, event: str, session: SessionRecord, command: CommandRecord | None) -> None:
        with self._lock:
            if command is not None:
                verb = command.verb
                label = verb if verb in _VERBS else ("sasl" if not verb else "other")
                self.commands[label] += 1
                self.bytes_sent += command.bytes_sent
            elif event == "session-start":
                self.sessions += 1
            elif event == "session-end":
                self.ended += 1
                self.faults += len(session.faults)
                self.bytes_sent += session.greeting_size
                if self._waiting:
                    self._ended.notify_all()

    def wait_ended(self, count: int, deadline: float, cancel: Callable[[], bool]) -> bool:
        """Wait until `count` sessions have ended since these counters began; False when
        `deadline` (time.monotonic()) passes first or `cancel()` says to stop."""
        with self._ended:
            self._waiting += 1
            try:
                while self.ended < count:
                    left = deadline - time.monotonic()
                    if left <= 0 or cancel():
                        return False
                    self._ended.wait(left)
                return not cancel()
            finally:
                self._waiting -= 1

    def wake(self) -> None:
        """Make every `wait_ended` look at its `cancel` now."""
        with self._ended:
            self._ended.notify_all()

    def render(self, users: int, fault_rules: int) -> str:
        with self._lock:
            sessions, ended, faults = self.sessions, self.ended, self.faults
            sent, commands = self.bytes_sent, sorted(self.commands.items())
        out: list[str] = []

        def metric(name: str, kind: str, text: str, rows: list[tuple[str, int]]) -> None:
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{name}{labels} {value}" for labels, value in rows)

        metric("pop3mock_sessions_total", "counter", "POP3 sessions opened.", [("", sessions)])
        metric(
            "pop3mock_sessions_active", "gauge", "POP3 sessions open now.", [("", sessions - ended)]
        )
        metric(
            "pop3mock_commands_total",
            "counter",
            "Commands received, by verb (other: an unknown verb, sasl: a SASL exchange line).",
            [(f'{{verb="{verb}"}}', n) for verb, n in commands],
        )
        metric(
            "pop3mock_faults_fired_total",
            "counter",
            "Fault rules fired, counted when their session ends.",
            [("", faults)],
        )
        metric(
            "pop3mock_bytes_sent_total",
            "counter",
            "Octets sent to clients (greetings counted when their session ends).",
            [("", sent)],
        )
        metric("pop3mock_users", "gauge", "Users of the server.", [("", users)])
        metric("pop3mock_fault_rules", "gauge", "Fault rules held now.", [("", fault_rules)])
        return "\n".join(out) + "\n"
