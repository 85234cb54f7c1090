"""Waiting on a journal for what a client in another thread or process does: woken by
every record, never polling.
"""

from __future__ import annotations

from collections.abc import Callable

from pop3mock.journal._memory import _Memory
from pop3mock.journal._records import mask

__all__: list[str] = []


class _Waiting(_Memory):
    """`wait_for` and `wake` of a `Journal`."""

    def wake(self) -> None:
        """Wake every `wait_for` so that it checks its `cancel` callable again."""
        with self._cond:
            self._cond.notify_all()

    def wait_for(
        self,
        verb: str | None = None,
        *args: object,
        count: int = 1,
        user: str | None = None,
        session: int | None = None,
        sessions_ended: int | None = None,
        timeout: float = 5.0,
        cancel: Callable[[], bool] | None = None,
    ) -> None:
        """Block until `count` matching commands (or `sessions_ended` ended sessions) are
        recorded, for clients running in another thread or process. `sessions_ended`
        counts the ended sessions the journal no longer keeps (`keep_sessions`) too.

        Waits on the journal's condition variable (woken by every record, never polls);
        raises TimeoutError saying what it saw. `cancel` ends the wait early the same way
        once it returns true when checked (after a record or `wake()`).
        """
        __tracebackhide__ = True
        command_given = verb is not None or args or user is not None or session is not None
        if sessions_ended is not None and (command_given or count != 1):
            raise ValueError(
                "wait_for: give a command (verb, args, user, session, count) or "
                "sessions_ended=, not both; call it twice to wait for both"
            )

        def ended_count() -> int:
            # The ones no longer kept count too: with keep_sessions the wait would never end.
            return self._ended_total

        def done() -> bool:
            if cancel is not None and cancel():
                return True
            if sessions_ended is not None:
                return ended_count() >= sessions_ended
            # Commands left out of a long session count when sure to match (a wait must
            # not end early).
            seen = len(self._find(self._kept(), verb, args, user, session))
            return seen + self._left_out_matching(verb, args, user, session)[0] >= count

        with self._cond:
            self._waiting += 1
            try:
                woken = self._cond.wait_for(done, timeout)
            finally:
                self._waiting -= 1
            if woken and not (cancel is not None and cancel()):
                return
            if sessions_ended is not None:
                ended = ended_count()
                kept = sum(1 for s in self._sessions if s.ended is not None)
                what = f"{sessions_ended} ended sessions (ended: {ended}, open: "
                what += f"{len(self._sessions) - kept})"
            else:
                seen = len(self._find(self._kept(), verb, args, user, session))
                seen += self._left_out_matching(verb, args, user, session)[0]
                want = mask((verb or "*").upper(), [str(a) for a in args])
                what = f"{count} x {want!r} (seen: {seen})"
            summary = "\n".join(self._summary(self._kept()))
        raise TimeoutError(f"waited {timeout} s for {what}\n{summary}")
