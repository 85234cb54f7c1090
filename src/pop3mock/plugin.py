"""pytest plugin: fixtures, the ``pop3`` marker, and run-wide ini / command-line options.

Every server a fixture starts is stopped after the test and then `check()`ed, so an
exception inside the server, a strict-mode client violation or a counted fault that never
fired fails the test that caused it (``@pytest.mark.pop3(check=False)`` turns that off).
The plugin reads its configuration from the marker, the ini file and the command line
only; it never reads or writes environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import pytest

from pop3mock.errors import ConfigurationError, Pop3MockError
from pop3mock.protocol._personality import PERSONALITIES

# pytest loads this module at every start, in every suite: the server and everything
# behind it are imported by the first fixture that builds a server, not here.
if TYPE_CHECKING:
    import ssl

    from pop3mock.maildrop._entries import LazyMaildrop
    from pop3mock.maildrop._message import LazyMessage, MessageInput
    from pop3mock.server._server import POP3Server

__all__ = [
    "MARKER",
    "SESSIONS_SECTION",
    "ServerFactory",
    "build_server",
    "pop3_ca_file",
    "pop3_client_ssl_context",
    "pop3_server",
    "pop3_server_factory",
]

MARKER = "pop3"
DEFAULT_USERS: Mapping[str, str] = {"user": "password"}
_TLS_MODES: Mapping[str, tuple[bool, bool]] = {  # mode -> (implicit_tls, stls)
    "implicit": (True, False),
    "stls": (False, True),
    "both": (True, True),
}
_defaults_key = pytest.StashKey[dict[str, Any]]()
# The servers the fixtures started for a test, for its failure report.
_servers_key = pytest.StashKey[list["POP3Server"]]()
# (pop3_report_sessions, pop3_report_lines) of the run.
_report_key = pytest.StashKey[tuple[bool, int]]()
# Set once a phase of the test failed: its teardown report carries the sessions too.
_failed_key = pytest.StashKey[bool]()
#: The report section with what each server saw. junitxml writes report sections whose name
#: starts with "Captured stdout" into <system-out> (with junit_logging = system-out, out-err
#: or all); any other name stays out of the XML.
SESSIONS_SECTION = "Captured stdout (pop3mock sessions)"
_REPORT_LINES = 200

Messages = Union[Sequence[Union["MessageInput", "LazyMessage"]], "LazyMaildrop"]


# -- options -------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    from pop3mock.checks import whole_number_type

    group = parser.getgroup("pop3mock", "pop3mock: POP3 test server")
    group.addoption(
        "--pop3-strict",
        action="store_const",
        const=True,
        dest="pop3_strict",
        default=None,
        help="fail tests whose POP3 client breaks the protocol (strict mode for every server)",
    )
    group.addoption(
        "--pop3-no-strict",
        action="store_const",
        const=False,
        dest="pop3_strict",
        help="turn strict mode off for the run (overrides the pop3_strict ini option)",
    )
    group.addoption(
        "--pop3-personality",
        dest="pop3_personality",
        metavar="NAME",
        default=None,
        help=f"server personality for every server: {', '.join(sorted(PERSONALITIES))} or a "
        "personality file (.toml)",
    )
    group.addoption(
        "--pop3-host",
        dest="pop3_host",
        metavar="HOST",
        default=None,
        help="address servers listen on (default 127.0.0.1; ::1 for IPv6)",
    )
    group.addoption(
        "--pop3-fault-seed",
        dest="pop3_fault_seed",
        metavar="N",
        type=whole_number_type(None),
        default=None,
        help="seed of the random source of probabilistic faults (reproduce a run)",
    )
    parser.addini(
        "pop3_strict", "strict mode for every pop3mock server", type="bool", default=False
    )
    parser.addini("pop3_personality", "personality of every pop3mock server", default="")
    parser.addini("pop3_host", "address pop3mock servers listen on", default="")
    parser.addini("pop3_fault_seed", "seed for probabilistic pop3mock faults", default="")
    parser.addini(
        "pop3_report_sessions",
        "on a failed test, add what each pop3mock server saw (session transcripts) to its report",
        type="bool",
        default=True,
    )
    parser.addini(
        "pop3_report_lines",
        f"at most this many lines (the last ones) of pop3mock sessions in a failed test's "
        f"report (default {_REPORT_LINES})",
        default=str(_REPORT_LINES),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): configure the pop3_server fixture: users, messages, fake, seed, "
        "faults, tls ('implicit', 'stls', 'both'), strict, check, personality, capabilities, "
        "host, or any other POP3Server option. Markers on the test, class and module merge; "
        "the closest one wins for each option.",
    )
    config.stash[_defaults_key] = _run_defaults(config)
    config.stash[_report_key] = _report_options(config)


def _report_options(config: pytest.Config) -> tuple[bool, int]:
    lines = _ini_integer("pop3_report_lines", config.getini("pop3_report_lines"), 1)
    return bool(config.getini("pop3_report_sessions")), lines


def _ini_integer(name: str, text: object, minimum: int | None) -> int:
    from pop3mock.checks import expected, whole_number_rule, whole_number_text

    value = whole_number_text(str(text).strip(), minimum)
    if value is None:
        raise pytest.UsageError(f"{name}: {expected(whole_number_rule(minimum), text)}")
    return value


def _run_defaults(config: pytest.Config) -> dict[str, Any]:
    """Run-wide server options: the command line wins over the ini file."""

    def pick(name: str) -> Any:
        value = config.getoption(name)
        return value if value is not None else config.getini(name)

    defaults: dict[str, Any] = {"strict": bool(pick("pop3_strict"))}
    personality = pick("pop3_personality")
    if personality:
        if personality not in PERSONALITIES and not personality.endswith(".toml"):
            raise pytest.UsageError(
                f"unknown pop3 personality {personality!r}: choose from {sorted(PERSONALITIES)} "
                "or give a personality file (.toml)"
            )
        if personality not in PERSONALITIES:
            # A file is read now, so that a malformed one stops the run before any test.
            from pop3mock.protocol._personality import load_personality

            try:
                load_personality(personality)
            except ConfigurationError as exc:
                raise pytest.UsageError(f"pop3 personality: {exc}") from None
        defaults["personality"] = personality
    host = pick("pop3_host")
    if host:
        defaults["host"] = host
    seed = pick("pop3_fault_seed")
    if seed not in (None, ""):
        defaults["fault_seed"] = _ini_integer("pop3_fault_seed", seed, None)
    return defaults


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test shows what its servers saw, and the seed of their fault rules, so the
    run can be understood and replayed."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    servers = item.stash.get(_servers_key, [])
    if servers and report.when == "teardown":
        del item.stash[_servers_key]  # the test is over: its servers go now, not at the run's end
    enabled, limit = item.config.stash.get(_report_key, (False, _REPORT_LINES))
    if servers and enabled:
        if report.failed:
            item.stash[_failed_key] = True
            report.sections.append((SESSIONS_SECTION, _sessions_report(servers, limit)))
        elif report.when == "teardown" and item.stash.get(_failed_key, False):
            # junitxml writes the teardown report's output (junit_log_passing_tests, the
            # default) when an earlier phase failed: the sessions as they ended go there too.
            report.sections.append((SESSIONS_SECTION, _sessions_report(servers, limit)))
    if not report.failed:
        return
    lines = [
        f"{server!r}: fault seed {server.faults.seed}; replay with "
        f"--pop3-fault-seed {server.faults.seed} (or fault_seed={server.faults.seed})"
        for server in servers
        if server.faults.rules
    ]
    if lines:
        report.sections.append(("pop3mock fault seeds", "\n".join(lines)))


def _sessions_report(servers: Sequence[POP3Server], limit: int = _REPORT_LINES) -> str:
    """What `servers` saw, for a failed test's report: each session's transcript (secrets
    masked), its end and the faults that fired; the last `limit` lines, the rest counted."""
    blocks: list[list[str]] = []
    for server in servers:
        journal = server.journal
        sessions = journal.sessions
        forgotten = journal.total_sessions - len(sessions)
        head = f"{server!r}: {len(sessions)} session{'s' if len(sessions) != 1 else ''}"
        if forgotten > 0:
            head += f" (and {forgotten} earlier ones not kept: journal_keep)"
        blocks.append([head])
        for session in sessions:
            lines = session.transcript().splitlines()
            if session.open:
                lines.append("-- still open when the report was made")
            if session.faults:
                lines.append(f"-- faults fired: {'; '.join(session.faults)}")
            blocks.append(lines)
    # The last lines tell most (how the test ended): keep those, say what was cut.
    kept: list[str] = []
    for block in reversed(blocks):
        if len(kept) + len(block) > limit:
            room = limit - len(kept)
            total = sum(len(b) for b in blocks)
            cut = total - len(kept) - room
            kept[:0] = block[len(block) - room :] if room else []
            kept.insert(0, f"[... {cut} earlier lines cut (pop3_report_lines = {limit})]")
            break
        kept[:0] = block
    return "\n".join(kept) + "\n"


# -- building servers ----------------------------------------------------------------------


#: The options of the marker (and of pop3_server_factory) besides POP3Server's own.
_OWN_OPTIONS = frozenset(
    {"users", "messages", "max_message_size", "fake", "seed", "faults", "tls", "check"}
)


def build_server(
    options: Mapping[str, Any], what: str = f"@pytest.mark.{MARKER}"
) -> tuple[POP3Server, bool]:
    """A POP3Server (not started) from marker-style options, and whether to check it.

    Besides POP3Server's own options it takes `users` (name -> password or Mailbox;
    default ``user``/``password``), `messages` (a list for every user, a mapping user ->
    list, or a path to .eml files / mbox / Maildir; `max_message_size` bounds the files
    read), `fake` and `seed` (generated
    messages for every user), `faults` (spec strings or callables taking the FaultSet),
    `tls` ('implicit', 'stls' or 'both') and `check` (check the server at teardown).
    """
    from pop3mock.checks import suggestion
    from pop3mock.maildrop._mailbox import Mailbox
    from pop3mock.server._assemble import FaultInput, Maildrop, UserInput, assemble
    from pop3mock.server._options import option_names
    from pop3mock.server._server import POP3Server

    opts = dict(options)
    known = option_names(POP3Server) | _OWN_OPTIONS
    for name in sorted(opts.keys() - known):
        raise ConfigurationError(
            f"unknown {what} option {name}{suggestion(name, known)}: it takes POP3Server's "
            f"options and {', '.join(sorted(_OWN_OPTIONS))}"
        )
    check = bool(opts.pop("check", True))
    users = opts.pop("users", None)
    users = DEFAULT_USERS if users is None else users
    messages = opts.pop("messages", ())
    limit = opts.pop("max_message_size", None)
    fake = opts.pop("fake", None)
    seed = opts.pop("seed", None)
    faults = opts.pop("faults", ())
    tls = opts.pop("tls", None)
    if tls:
        if tls not in _TLS_MODES:
            raise ConfigurationError(f"tls={tls!r}: choose 'implicit', 'stls' or 'both'")
        implicit, stls = _TLS_MODES[tls]
        opts.setdefault("implicit_tls", implicit)
        opts.setdefault("stls", stls)
    if not isinstance(users, Mapping):
        raise ConfigurationError(f"users must map names to passwords, not {users!r}")
    if isinstance(messages, Mapping) and set(messages) - set(users):
        raise ConfigurationError(
            f"messages for unknown users {sorted(set(messages) - set(users))}: "
            f"the users are {sorted(users)}"
        )
    server = POP3Server(users={k: v for k, v in users.items() if isinstance(v, Mailbox)}, **opts)
    path = os.fspath(messages) if isinstance(messages, (str, os.PathLike)) else None
    inputs = [
        UserInput(
            name,
            password,
            "users",
            Maildrop(
                path=path,
                messages=() if path is not None else _messages_for(name, messages),
                fake=fake,
                seed=seed,
                # A seed of 0 is the default one: giving it asks for nothing.
                seed_option="seed" if seed else None,
            ),
        )
        for name, password in users.items()
    ]
    items = [faults] if isinstance(faults, str) or callable(faults) else list(faults)
    assemble(
        server,
        inputs,
        [FaultInput(item, "faults") for item in items],
        max_message_size=limit,
    )
    return server, check


def _messages_for(user: str, messages: Messages | Mapping[str, Messages]) -> tuple[Any, ...]:
    from pop3mock.maildrop._entries import LazyMaildrop

    if isinstance(messages, Mapping):
        messages = messages.get(user, ())
    if isinstance(messages, LazyMaildrop):
        return (messages,)  # kept whole: the mailbox holds its columns
    return tuple(messages)


def _with_defaults(defaults: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    if "config" in options:
        merged.pop("personality", None)  # a full ServerConfig replaces the personality
    merged.update(options)
    return merged


def _marker_options(node: pytest.Item) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    # iter_markers yields the closest first (test, class, module): apply the farthest first.
    for mark in reversed(list(node.iter_markers(MARKER))):
        if mark.args:
            raise ConfigurationError(
                f"@pytest.mark.{MARKER} takes keyword arguments only, got {mark.args!r}"
            )
        merged.update(mark.kwargs)
    return merged


def _finish(servers: Sequence[tuple[POP3Server, bool]]) -> None:
    """Stop every server, then check each; all failures are reported together."""
    __tracebackhide__ = True
    failures: list[tuple[POP3Server, BaseException]] = []
    for server, _ in servers:
        try:
            server.stop()
        except Pop3MockError as exc:
            failures.append((server, exc))
    for server, check in servers:
        if check and not any(s is server for s, _ in failures):
            try:
                server.check()
            except Pop3MockError as exc:
                # The frames inside check() say nothing to the test author: the message
                # (and for a server error, the chained original traceback) does.
                failures.append((server, exc.with_traceback(None)))
    if len(failures) == 1:
        raise failures[0][1]
    if failures:
        first = failures[0][1]
        text = "\n\n".join(f"[{i}] {s!r}:\n{e}" for i, (s, e) in enumerate(failures, 1))
        raise type(first)(
            f"{len(failures)} pop3mock servers failed their check:\n\n{text}"
        ) from first


def _set_up(
    options: Callable[[], Mapping[str, Any]], node: pytest.Item | None, what: str
) -> tuple[POP3Server, bool]:
    """Build and start a server from `options()`. A configuration error (or a port that
    cannot be bound) is raised without pop3mock's own frames: the message names the option,
    and the frames inside say nothing to the test author."""
    __tracebackhide__ = True
    try:
        server, check = build_server(options(), what)
        if node is not None:
            node.stash.setdefault(_servers_key, []).append(server)  # for its report
        server.start()
    except (Pop3MockError, OSError) as exc:
        raise exc.with_traceback(None) from None
    return server, check


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def pop3_server(request: pytest.FixtureRequest) -> Iterator[POP3Server]:
    """A started POP3Server for one test, configured by ``@pytest.mark.pop3(...)``.

    Default user ``user`` / ``password`` with an empty maildrop. After the test the server
    is stopped, then checked: a server error, a strict-mode violation or a counted fault
    that did not fire fails the test (``@pytest.mark.pop3(check=False)`` skips the check).
    """
    __tracebackhide__ = True
    defaults = request.config.stash[_defaults_key]
    server, check = _set_up(
        lambda: _with_defaults(defaults, _marker_options(request.node)),
        request.node,
        f"@pytest.mark.{MARKER}",
    )
    try:
        yield server
    finally:
        _finish([(server, check)])


class ServerFactory:
    """Make started servers with any options; the fixture stops and checks them all."""

    def __init__(
        self, defaults: Mapping[str, Any], check: bool = True, node: pytest.Item | None = None
    ) -> None:
        self._defaults = dict(defaults)
        self._check = check
        self._node = node
        self._made: list[tuple[POP3Server, bool]] = []

    def __call__(self, **options: Any) -> POP3Server:
        """Build and start a server; takes the same options as ``@pytest.mark.pop3``."""
        __tracebackhide__ = True
        server, check = _set_up(
            lambda: {"check": self._check, **_with_defaults(self._defaults, options)},
            self._node,
            "pop3_server_factory",
        )
        self._made.append((server, check))
        return server

    @property
    def servers(self) -> list[POP3Server]:
        return [server for server, _ in self._made]

    def finish(self) -> None:
        __tracebackhide__ = True
        _finish(self._made)


@pytest.fixture
def pop3_server_factory(request: pytest.FixtureRequest) -> Iterator[ServerFactory]:
    """Call it to start servers: ``pop3_server_factory(users={"bob": "pw"}, tls="stls")``.

    Servers get the run-wide defaults and the options given; the marker's ``check`` applies.
    All are stopped after the test, then checked like ``pop3_server``.
    """
    __tracebackhide__ = True
    try:
        check = _marker_options(request.node).get("check", True)
    except Pop3MockError as exc:
        raise exc.with_traceback(None) from None
    defaults: dict[str, Any] = request.config.stash[_defaults_key]
    factory = ServerFactory(defaults, check=bool(check), node=request.node)
    try:
        yield factory
    finally:
        factory.finish()


@pytest.fixture(scope="session")
def pop3_ca_file() -> str:
    """Path of the PEM file of the throwaway CA that signs every server's certificate."""
    from pop3mock.server.tls import ca_file

    return ca_file()


@pytest.fixture
def pop3_client_ssl_context() -> ssl.SSLContext:
    """A fresh client SSLContext that trusts the throwaway CA (hostname checks on)."""
    from pop3mock.server.tls import client_context

    return client_context()
