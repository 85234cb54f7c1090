"""A journal's assertions, and the failure text they raise: what was expected, what was
sent, the near misses, and the commands of each session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pop3mock.journal._memory import _Memory, _unsure_text
from pop3mock.journal._records import CommandRecord, _Want
from pop3mock.protocol._text import escape

__all__: list[str] = []

_REPORT_LIMIT = 20  # violations listed in full in one report


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


class _Assertions(_Memory):
    """`assert_command`, `assert_commands` and the violation report of a `Journal`."""

    def violation_report(self, limit: int = _REPORT_LIMIT) -> str:
        """The violations as a readable multi-line text ('' when there are none)."""
        with self._cond:
            found, total = list(self._violations), self.violation_count
        if not total:
            return ""
        lines = [
            f"the client broke the POP3 protocol (strict mode), "
            f"{total} violation{'s' if total != 1 else ''}:"
        ]
        for item in found[:limit]:
            lines.append(f"  {item}")
            if item.command is not None:
                lines.append(f"      C: {item.command.line}")
                reply = escape(f"{item.command.status} {item.command.reply}".rstrip())
                lines.append(f"      S: {reply}")
        shown = min(len(found), limit)
        if total > shown:
            lines.append(f"  ... and {total - shown} more")
        return "\n".join(lines)

    def assert_command(
        self,
        verb: str,
        *args: object,
        count: int | None = None,
        user: str | None = None,
        session: int | None = None,
    ) -> list[CommandRecord]:
        """Assert a command was sent at least once, or exactly `count` times (0: never).

        Arguments match leading arguments as text: `assert_command("RETR", 3)`,
        `assert_command("TOP", 1)` matches `TOP 1 10`. Returns the matching commands.
        """
        __tracebackhide__ = True
        with self._cond:
            commands = list(self._kept())
            extra, unsure = self._left_out_matching(verb, args, user, session)
        found = self._find(commands, verb, args, user, session)
        total = len(found) + extra
        maybe = sum(unsure.values())
        if (count is None and total) or (total == count and not maybe):
            return found
        want = _Want(verb.upper(), tuple(str(a) for a in args))
        scope = "".join(
            f" {k} {v!r}" for k, v in (("for user", user), ("in session", session)) if v
        )
        if maybe and (total <= count <= total + maybe if count is not None else not total):
            # Matches may hide among commands counted without their arguments: no answer
            # is sure, so none is given.
            expected = "at least once" if count is None else _times(count)
            lines = [
                f"cannot tell whether {str(want)!r} was sent {expected}{scope}: "
                f"{total} sure, {_unsure_text(unsure)}"
            ]
        elif count == 0:
            lines = [f"expected {str(want)!r} never to be sent{scope}, but it was:"]
            lines += [f"    {c.describe()}" for c in found]
        else:
            expected = "at least once" if count is None else _times(count)
            actual = "not sent" if not total else f"sent {_times(total)}"
            if maybe:
                actual += f" (or up to {maybe} more)"
            lines = [
                f"expected {str(want)!r} to be sent {expected}{scope}, but it was {actual}.",
                f"  Expected: {want}  ({expected})",
                f"  Actual:   {actual}",
            ]
            lines += [f"    {c.describe()}" for c in found]
        if extra:
            lines.append(
                f"    ... and {extra} left out of the record of a long session (counted, not kept)"
            )
        hits = {id(c) for c in found}
        near = [c for c in commands if c.verb == want.verb and id(c) not in hits]
        if near:
            lines.append(f"  Near misses ({want.verb} with other arguments, user or session):")
            lines += [f"    {c.describe()}" for c in near[:10]]
            if len(near) > 10:
                lines.append(f"    ... and {len(near) - 10} more")
        lines += self._summary(commands)
        raise AssertionError("\n".join(lines))

    def assert_command_once(
        self, verb: str, *args: object, user: str | None = None, session: int | None = None
    ) -> CommandRecord:
        """Assert the command was sent exactly once and return it."""
        __tracebackhide__ = True
        found = self.assert_command(verb, *args, count=1, user=user, session=session)
        if not found:
            raise AssertionError(
                f"{str(_Want.of([verb, *args]))!r} was sent once, but in the middle of a long "
                "session, whose record keeps only its first and last commands "
                "(session_keep_commands): it was counted, not kept"
            )
        return found[0]

    def assert_commands(
        self,
        expected: Iterable[str | Sequence[object]],
        *,
        any_order: bool = False,
        session: int | None = None,
    ) -> None:
        """Assert these commands were sent: a contiguous run within one session, in this
        order (like `unittest.mock`'s `assert_has_calls`), or anywhere with `any_order`.

        Each expected command is a line ("USER alice", "RETR 1") or a tuple ("RETR", 1) and
        matches leading arguments: "PASS" matches any password.
        """
        __tracebackhide__ = True
        wanted = [_Want.of(e) for e in expected]
        commands = self._find(self.commands, None, (), None, session)
        if any_order:
            self._check_any_order(wanted, commands, session)
            return
        # One run per stretch of consecutive commands: a long session's record has a gap,
        # and a run must not match across it.
        runs: dict[tuple[int, int], list[CommandRecord]] = {}
        ends: dict[int, tuple[int, int]] = {}
        for command in commands:
            key = ends.get(command.session)
            if key is None or runs[key][-1].seq + 1 != command.seq:
                key = (command.session, command.seq)
            runs.setdefault(key, []).append(command)
            ends[command.session] = key
        best: tuple[int, int, list[CommandRecord]] = (-1, 0, [])
        for run in runs.values():
            for start in range(len(run)):
                n = 0
                while (
                    n < len(wanted) and start + n < len(run) and wanted[n].matches(run[start + n])
                ):
                    n += 1
                if n == len(wanted):
                    return
                if n > best[0]:
                    best = (n, start, run)
        lines = [
            "expected these commands in a row, in this order:",
            "  Expected: " + ", ".join(str(w) for w in wanted),
        ]
        matched, start, run = best
        if matched > 0:
            first = run[start]
            lines.append(
                f"  Closest:  session {first.session}, commands {first.seq}-"
                f"{first.seq + matched - 1} match the first {matched}, then"
            )
            if start + matched < len(run):
                got = run[start + matched]
                lines.append(
                    f"            command {got.seq} is {got.line!r}, not {str(wanted[matched])!r}"
                )
            else:
                lines.append(
                    f"            the session has no more commands ({wanted[matched]!s} missing)"
                )
        else:
            lines.append(f"  Actual:   {str(wanted[0])!r} was never sent" if wanted else "")
        lines += self._gaps(session)
        lines += self._summary(commands)
        raise AssertionError("\n".join(lines))

    def _gaps(self, session: int | None) -> list[str]:
        """Lines naming the commands left out of long sessions: a run among them cannot be
        checked."""
        with self._cond:
            gaps = [s for s in self._sessions if s.commands_left_out and session in (None, s.id)]
        return [
            f"  Not kept: session {s.id} left out {s.commands_left_out} commands in its middle "
            "(the record keeps the first and last ones: session_keep_commands); a run among "
            "them cannot be checked"
            for s in gaps
        ]

    def _check_any_order(
        self, wanted: list[_Want], commands: list[CommandRecord], session: int | None
    ) -> None:
        __tracebackhide__ = True
        pool = list(commands)
        with self._cond:
            left_out = {
                (s.id, key): n
                for s in self._sessions
                if session in (None, s.id)
                for key, n in s.left_out.items()
            }
        missing: list[_Want] = []
        for want in wanted:
            for index, command in enumerate(pool):
                if want.matches(command):
                    del pool[index]
                    break
            else:
                # Counted, not kept: a command left out of a long session's record.
                for (sid, (verb, args, _user)), n in left_out.items():
                    if (
                        n
                        and verb == want.verb
                        and (
                            not want.args
                            or (args is not None and args[: len(want.args)] == want.args)
                        )
                    ):
                        left_out[(sid, (verb, args, _user))] = n - 1
                        break
                else:
                    missing.append(want)
        if not missing:
            return
        lines = [
            "expected these commands in any order:",
            "  Expected: " + ", ".join(str(w) for w in wanted),
            "  Missing:  " + ", ".join(str(w) for w in missing),
        ]
        for want in missing:
            near = [c.describe() for c in commands if c.verb == want.verb]
            if near:
                lines.append(f"  Near misses for {str(want)!r}:")
                lines += [f"    {n}" for n in near[:10]]
        lines += self._gaps(session)
        lines += self._summary(commands)
        raise AssertionError("\n".join(lines))

    def assert_no_sessions(self) -> None:
        """Assert no client connected at all."""
        __tracebackhide__ = True
        sessions = self.sessions
        if sessions:
            raise AssertionError(
                f"expected no connection, but {len(sessions)} were made:\n"
                + "\n".join(f"  {s!r}" for s in sessions)
            )
