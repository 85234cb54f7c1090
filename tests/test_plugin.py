"""The pytest plugin, driven through pytester: inner test suites run as a user would."""

from __future__ import annotations

import os
import re

import pytest

# Imported here, outside the inner runs: pytester unloads modules an inner run imported, and
# cryptography's classes must stay the same objects across runs.
import pop3mock.server.tls  # noqa: F401

# Faker's and Hypothesis' own plugins cost a second per in-process run and play no part here.
QUIET = ("-p", "no:faker", "-p", "no:hypothesispytest")

LOGIN = """
import poplib

def login(server, user="user", password="password"):
    client = poplib.POP3(server.host, server.port, timeout=10)
    client.user(user)
    client.pass_(password)
    return client
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(popclient=LOGIN)
    pytester.syspathinsert()
    pytester.makeini("[pytest]\naddopts = " + " ".join(QUIET))
    return pytester


@pytest.mark.slow
def test_pop3_server_defaults(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        from popclient import login

        def test_fetch(pop3_server):
            pop3_server.mailbox("user").add(b"Subject: hi\\r\\n\\r\\nhello\\r\\n")
            client = login(pop3_server)
            assert client.stat() == (1, 22)
            client.quit()
            pop3_server.journal.assert_commands(["USER user", "PASS", "STAT", "QUIT"])
            assert pop3_server.host == "127.0.0.1" and not pop3_server.strict
        """
    )
    suite.runpytest("--strict-markers").assert_outcomes(passed=1)


@pytest.mark.slow
def test_a_server_error_fails_the_test_that_caused_it(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import poplib
        import pytest
        from pop3mock import LazyMessage
        from popclient import login

        def broken():
            raise RuntimeError("maildrop backend is down")

        @pytest.mark.pop3(messages=[LazyMessage("m1", 10, broken)])
        def test_fetch(pop3_server):
            client = login(pop3_server)
            with pytest.raises(poplib.error_proto, match="SYS/TEMP"):
                client.retr(1)

        @pytest.mark.pop3(messages=[LazyMessage("m1", 10, broken)], check=False)
        def test_unchecked(pop3_server):
            client = login(pop3_server)
            with pytest.raises(poplib.error_proto, match="SYS/TEMP"):
                client.retr(1)
            assert len(pop3_server.errors) == 1
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_fetch*",
            '*raise RuntimeError("maildrop backend is down")',
            "E       RuntimeError: maildrop backend is down",
            "*direct cause of the following exception*",
            "E   *ServerError: the POP3 server failed in session 1, answering 'RETR 1':"
            " RuntimeError: maildrop backend is down",
            "*(traceback of the first failure above)",
        ]
    )
    # The traceback is printed once, as the cause, not again inside the message. Only the
    # report is counted: the one-line summary below it is cut to the terminal's width, except
    # where pytest sees a CI environment and prints it whole.
    report = result.stdout.str().split("short test summary info")[0]
    assert report.count("RuntimeError: maildrop backend is down") == 2
    assert "Traceback (most recent call last)" not in result.stdout.str()
    assert "test_unchecked" not in "\n".join(
        line for line in result.outlines if line.startswith("ERROR")
    )


@pytest.mark.slow
def test_marker_faults_as_spec_strings_and_callables(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import poplib
        import pytest
        from popclient import login

        def slow_list(faults):
            faults.on("LIST").once().error("[IN-USE] busy")

        @pytest.mark.pop3(
            fake=2, faults=["RETR 2 once: error [SYS/TEMP] try later", slow_list]
        )
        def test_faults(pop3_server):
            client = login(pop3_server)
            with pytest.raises(poplib.error_proto, match="IN-USE"):
                client.list()
            with pytest.raises(poplib.error_proto, match="SYS/TEMP"):
                client.retr(2)
            client.retr(2)
            client.quit()

        @pytest.mark.pop3(faults="RETR: explode")
        def test_bad_spec(pop3_server):
            pass

        @pytest.mark.pop3(faults=[42])
        def test_bad_item(pop3_server):
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines_random(
        ["*ConfigurationError*explode*", "*faults: 42 is neither a spec string*"]
    )


@pytest.mark.slow
def test_an_unfired_counted_fault_fails_the_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest
        from popclient import login

        @pytest.mark.pop3(faults=[lambda faults: faults.on("RETR").once().error("[SYS/TEMP] x")])
        def test_never_retrieves(pop3_server):
            login(pop3_server).quit()
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*UnfiredFaultError: fault rules that did not fire*", "*RETR*"])


@pytest.mark.slow
def test_marker_levels_merge_and_the_closest_wins(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.pop3(personality="dovecot", users={"mod": "pw"}, fake=2)

        def test_module_level(pop3_server):
            assert pop3_server.config.personality == "dovecot"
            assert list(pop3_server.users) == ["mod"]
            assert len(pop3_server.mailbox("mod").messages) == 2

        @pytest.mark.pop3(users={"fn": "pw"}, strict=True)
        def test_function_level(pop3_server):
            assert pop3_server.config.personality == "dovecot"
            assert list(pop3_server.users) == ["fn"] and pop3_server.strict

        @pytest.mark.pop3(personality="rfc1939", fake=1)
        class TestClassLevel:
            def test_class(self, pop3_server):
                assert pop3_server.config.personality == "rfc1939"
                assert len(pop3_server.mailbox("mod").messages) == 1

            @pytest.mark.pop3(fake=3, seed=7)
            def test_method(self, pop3_server):
                from pop3mock.fake._factory import fake_messages

                assert pop3_server.config.personality == "rfc1939"
                expected = [m.data for m in fake_messages(3, seed=7)]
                assert [m.data for m in pop3_server.mailbox("mod").messages] == expected
        """
    )
    suite.runpytest("--strict-markers").assert_outcomes(passed=4)


@pytest.mark.slow
def test_marker_messages_users_and_options(suite: pytest.Pytester) -> None:
    folder = suite.mkdir("eml")
    (folder / "1.eml").write_bytes(b"Subject: one\n\nfirst\n")
    (folder / "2.eml").write_bytes(b"Subject: two\n\nsecond\n")
    suite.makepyfile(
        """
        import pytest
        from pop3mock import Mailbox

        A = b"Subject: a\\r\\n\\r\\na\\r\\n"

        @pytest.mark.pop3(users={"a": "1", "b": "2"}, messages={"a": [A]})
        def test_per_user_messages(pop3_server):
            assert len(pop3_server.mailbox("a").messages) == 1
            assert len(pop3_server.mailbox("b").messages) == 0

        @pytest.mark.pop3(messages="eml", capabilities={"USER", "CAPA"}, apop=False)
        def test_folder_and_server_options(pop3_server):
            assert [m.data[:12] for m in pop3_server.mailbox("user").messages] == [
                b"Subject: one", b"Subject: two"
            ]
            assert pop3_server.config.capabilities == {"USER", "CAPA"}

        @pytest.mark.pop3(users={"m": Mailbox("m", "pw", [A])}, messages=[A])
        def test_mailbox_objects(pop3_server):
            assert len(pop3_server.mailbox("m").messages) == 2

        @pytest.mark.pop3(no_such_option=1)
        def test_bad_option(pop3_server):
            pass

        @pytest.mark.pop3({"users": {}})
        def test_positional(pop3_server):
            pass

        @pytest.mark.pop3(tls=True)
        def test_bad_tls(pop3_server):
            pass

        @pytest.mark.pop3(messages={"carol": [A]})
        def test_messages_for_nobody(pop3_server):
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=3, errors=4)
    result.stdout.fnmatch_lines_random(
        [
            "*ConfigurationError: messages for unknown users ?'carol'?: the users are ?'user'?",
            "*ConfigurationError: unknown @pytest.mark.pop3 option no_such_option*",
            "*ConfigurationError: @pytest.mark.pop3 takes keyword arguments only*",
            "*ConfigurationError: tls=True: choose 'implicit', 'stls' or 'both'",
        ]
    )


@pytest.mark.slow
def test_ini_and_command_line_defaults(suite: pytest.Pytester) -> None:
    suite.makeini(
        f"""
        [pytest]
        addopts = {" ".join(QUIET)}
        pop3_strict = true
        pop3_personality = dovecot
        pop3_fault_seed = 42
        """
    )
    suite.makepyfile(
        """
        import pytest

        def test_defaults(pop3_server, pop3_server_factory, request):
            strict = request.config.getoption("pop3_strict")
            expected = True if strict is None else strict
            for server in (pop3_server, pop3_server_factory()):
                assert server.strict is expected
                assert server.config.personality == "dovecot"
                assert server.faults.seed == 42

        @pytest.mark.pop3(strict=False, personality="default")
        def test_marker_beats_ini(pop3_server):
            assert not pop3_server.strict
            assert pop3_server.config.personality == "default"
        """
    )
    suite.runpytest().assert_outcomes(passed=2)
    suite.runpytest("--pop3-no-strict").assert_outcomes(passed=2)
    result = suite.runpytest("--pop3-personality", "nosuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown pop3 personality 'nosuch'*"])


@pytest.mark.slow
def test_personality_file_for_the_whole_run(suite: pytest.Pytester) -> None:
    suite.path.joinpath("mine.toml").write_text('[greeting]\ntext = "mine"\napop = false\n')
    suite.path.joinpath("bad.toml").write_text('[greeting]\ntxt = "mine"\n')
    suite.makepyfile(
        """
        import poplib

        def test_greeting(pop3_server):
            client = poplib.POP3(pop3_server.host, pop3_server.port, timeout=10)
            assert client.getwelcome() == b"+OK mine"
            client.quit()
        """
    )
    suite.runpytest("--pop3-personality", "mine.toml").assert_outcomes(passed=1)
    result = suite.runpytest("--pop3-personality", "bad.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*bad.toml: unknown key in ?greeting? 'txt'*"])


@pytest.mark.slow
def test_host_and_fault_seed_from_the_command_line(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        def test_host(pop3_server, pop3_server_factory):
            assert pop3_server.host == "::1"
            assert pop3_server_factory().host == "::1"
            assert pop3_server.faults.seed == 7
        """
    )
    suite.runpytest("--pop3-host", "::1", "--pop3-fault-seed", "7").assert_outcomes(passed=1)
    result = suite.runpytest("-o", "pop3_fault_seed=abc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pop3_fault_seed: expected an integer, got 'abc'*"])
    result = suite.runpytest("--pop3-fault-seed", "abc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--pop3-fault-seed: expected an integer, got 'abc'*"])


@pytest.mark.slow
def test_a_failed_test_shows_the_fault_seed_to_replay_it(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.pop3(faults=["NOOP p=0.5: error [SYS/TEMP] flaky"], check=False)
        def test_flaky(pop3_server):
            assert False, "the client gave up"

        @pytest.mark.pop3(faults=["NOOP p=0.5: error [SYS/TEMP] flaky"], check=False)
        def test_fine(pop3_server):
            pass

        def test_no_faults(pop3_server):
            assert False
        """
    )
    result = suite.runpytest("--pop3-fault-seed", "1234")
    result.assert_outcomes(passed=1, failed=2)
    output = result.stdout.str()
    assert output.count("pop3mock fault seeds") == 1  # test_flaky only
    result.stdout.fnmatch_lines(["*fault seed 1234; replay with --pop3-fault-seed 1234*"])


@pytest.mark.slow
def test_marker_fake_is_lazy_and_seed_needs_it(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest
        from popclient import login

        from pop3mock import lazy_fake_messages
        from pop3mock.fake._factory import MessageFactory

        # Count the messages whose bytes are made (this inner run is its own process).
        built = []
        _make = MessageFactory.message
        MessageFactory.message = lambda self, n: built.append(n) or _make(self, n)

        @pytest.mark.pop3(fake=100_000, seed=3)
        def test_big(pop3_server):
            client = login(pop3_server)
            assert client.stat() == (100_000, lazy_fake_messages(100_000, seed=3).total_size)
            assert built == []  # sizes and uids only, no body
            client.retr(5)
            assert built == [4]
            client.quit()

        @pytest.mark.pop3(seed=5)
        def test_seed_alone(pop3_server):
            pass
        """
    )
    result = suite.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*seed sets the seed of generated messages, and none are generated here*"]
    )


def test_options_are_listed_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "pop3mock: POP3 test server:",
            "*--pop3-strict*",
            "*--pop3-no-strict*",
            "*--pop3-personality=NAME*",
            "*--pop3-host=HOST*",
            "*--pop3-fault-seed=N*",
            "*pop3_strict (bool):*",
        ]
    )


@pytest.mark.slow
def test_factory_makes_several_servers_and_checks_them_all(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest
        from popclient import login

        SEEN = []

        def test_two_servers(pop3_server_factory):
            plain = pop3_server_factory(users={"bob": "pw"}, fake=1)
            strict = pop3_server_factory(strict=True)
            assert plain.port != strict.port
            login(plain, "bob", "pw").quit()
            login(strict).close()  # no QUIT: a strict-mode violation
            strict.journal.wait_for(sessions_ended=1)
            SEEN.extend(pop3_server_factory.servers)

        def test_all_were_stopped():
            assert len(SEEN) == 2 and not any(s.running for s in SEEN)

        @pytest.mark.pop3(check=False)
        def test_unchecked(pop3_server_factory):
            login(pop3_server_factory(strict=True)).close()

        def test_two_failures(pop3_server_factory):
            for _ in range(2):
                pop3_server_factory().faults.on("DELE").once().error("x")
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "*ClientViolationError: the client broke the POP3 protocol (strict mode), 1 violation:",
            "*session 1, after command 2: connection closed without QUIT",
            "*UnfiredFaultError: 2 pop3mock servers failed their check:",
        ]
    )


@pytest.mark.slow
def test_teardown_with_connections_still_open(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import socket
        import pytest
        from popclient import login

        SERVERS = []
        CLIENTS = []

        @pytest.mark.pop3(strict=True, fake=3)
        def test_leaves_connections_open(pop3_server):
            SERVERS.append(pop3_server)
            CLIENTS.append(login(pop3_server))
            half = socket.create_connection((pop3_server.host, pop3_server.port))
            assert half.recv(100).startswith(b"+OK")  # the greeting: its session is open
            half.sendall(b"RETR 1")  # half a command, never finished
            CLIENTS.append(half)
            pop3_server.journal.wait_for("PASS")

        def test_after():
            server = SERVERS[0]
            assert not server.running
            assert [s.end_reason for s in server.journal.sessions] == ["server stopped"] * 2
            assert server.mailbox("user").locked is False
            assert len(server.mailbox("user").messages) == 3
            for client in CLIENTS:
                client.close()
        """
    )
    suite.runpytest().assert_outcomes(passed=2)


@pytest.mark.slow
def test_tls_fixtures(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import poplib
        import ssl
        import pytest

        @pytest.mark.pop3(tls="implicit")
        def test_implicit(pop3_server, pop3_client_ssl_context):
            client = poplib.POP3_SSL(
                pop3_server.host, pop3_server.tls_port, context=pop3_client_ssl_context
            )
            client.user("user")
            client.pass_("password")
            client.quit()
            assert pop3_server.journal.sessions[0].tls

        @pytest.mark.pop3(tls="stls", strict=True)
        def test_stls(pop3_server, pop3_ca_file):
            context = ssl.create_default_context(cafile=pop3_ca_file)
            client = poplib.POP3(pop3_server.host, pop3_server.port, timeout=10)
            client.stls(context)
            client.user("user")
            client.pass_("password")
            client.quit()
            pop3_server.journal.assert_commands(["STLS", "USER user", "PASS", "QUIT"])
        """
    )
    suite.runpytest().assert_outcomes(passed=2)


@pytest.mark.slow
def test_ipv6_opt_in(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import poplib
        import pytest

        @pytest.mark.pop3(host="::1")
        def test_v6(pop3_server):
            assert pop3_server.url.startswith("pop3://[::1]:")
            client = poplib.POP3("::1", pop3_server.port, timeout=10)
            client.user("user")
            client.pass_("password")
            client.quit()
            assert pop3_server.journal.sessions[0].peer.startswith("::1:")
        """
    )
    suite.runpytest().assert_outcomes(passed=1)


@pytest.mark.slow
def test_the_password_never_appears_in_the_output(suite: pytest.Pytester) -> None:
    secret = "Tr0ub4dor-and-3"
    suite.makepyfile(credentials=f"PASSWORD = {secret!r}\n")
    suite.makepyfile(
        """
        import base64
        import pytest
        from credentials import PASSWORD
        from popclient import login

        pytestmark = pytest.mark.pop3(users={"alice": PASSWORD}, strict=True)

        def test_assertion(pop3_server):
            client = login(pop3_server, "alice", PASSWORD)
            client.quit()
            print(pop3_server.journal.transcript())
            print(pop3_server.journal.commands)
            pop3_server.journal.assert_command("PASS", "not it")

        def test_sequence(pop3_server):
            client = login(pop3_server, "alice", PASSWORD)
            client.quit()
            pop3_server.journal.assert_commands(["USER alice", "PASS", "RETR 1"])

        def test_sasl_and_strict_report(pop3_server):
            import poplib
            client = poplib.POP3(pop3_server.host, pop3_server.port, timeout=10)
            client._shortcmd(
                "AUTH PLAIN " + base64.b64encode(b"\\0alice\\0" + PASSWORD.encode()).decode()
            )
            with pytest.raises(poplib.error_proto):
                client._shortcmd("PASS " + PASSWORD)  # after login: a violation
            client.quit()
        """
    )
    result = suite.runpytest("-vv", "-l", "-rA", "--tb=long")
    result.assert_outcomes(failed=2, passed=1, errors=1)
    output = "\n".join(result.outlines + result.errlines)
    token = __import__("base64").b64encode(b"\0alice\0" + secret.encode()).decode()
    assert secret not in output
    assert token not in output
    assert "C: PASS ***" in output


@pytest.mark.slow
def test_the_plugin_never_touches_the_environment(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.pop3(tls="both", strict=True, fake=1)
        def test_env(pop3_server, pop3_server_factory, pop3_ca_file, pop3_client_ssl_context):
            pop3_server_factory(tls="stls")
        """
    )
    # pytest itself sets PYTEST_CURRENT_TEST while a test runs; everything else must stay.
    before = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    suite.runpytest().assert_outcomes(passed=1)
    assert {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"} == before


@pytest.mark.slow
def test_under_xdist(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest
        from popclient import login

        @pytest.mark.parametrize("n", range(6))
        @pytest.mark.pop3(messages=[b"Subject: a\\r\\n\\r\\na\\r\\n"] * 2, strict=True)
        def test_parallel(pop3_server, n):
            client = login(pop3_server)
            assert client.stat()[0] == 2
            client.retr(1)
            client.quit()
            pop3_server.journal.wait_for(sessions_ended=1)
            pop3_server.journal.assert_command_once("RETR", 1)

        @pytest.mark.pop3(strict=True)
        def test_violation_on_a_worker(pop3_server):
            login(pop3_server).close()
            pop3_server.journal.wait_for(sessions_ended=1)
        """
    )
    result = suite.runpytest("-n", "2")
    result.assert_outcomes(passed=7, errors=1)
    result.stdout.fnmatch_lines(
        ["*created: 2/2 workers*", "*connection closed without QUIT*"], consecutive=False
    )


@pytest.mark.slow
def test_marker_messages_from_a_path_with_a_size_limit(
    suite: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("mail")
    (folder / "1.eml").write_bytes(b"")
    (folder / "2.eml").write_bytes(b"Subject: x\r\n\r\n" + b"y" * 100 + b"\r\n")
    suite.makepyfile(
        f"""
        import pytest
        from popclient import login

        @pytest.mark.pop3(messages={str(folder)!r})
        def test_served(pop3_server):
            box = pop3_server.mailbox("user")
            assert [m.notes for m in box.messages] == [("empty",), ()]
            client = login(pop3_server)
            assert client.retr(1)[1] == []
            client.quit()

        @pytest.mark.pop3(messages={str(folder)!r}, max_message_size=100)
        def test_too_big(pop3_server):
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*2.eml: 116 octets, more than the limit of 100 octets*"])


# -- a failed test shows what the server saw -------------------------------------------------

FAILING = """
import pytest
from popclient import login

@pytest.mark.pop3(
    users={"alice": "s3cret-pw"},
    messages=[b"Subject: one\\r\\n\\r\\nbody\\r\\n"],
    faults=["RETR|TOP 1: error [SYS/TEMP] storage offline"],
)
def test_body_fails(pop3_server):
    client = login(pop3_server, "alice", "s3cret-pw")
    try:
        client.retr(1)
    except Exception:
        pass
    client.quit()
    assert False, "the client did not get message 1"

@pytest.mark.pop3(faults=["RETR 5 once: error never sent"])
def test_teardown_fails(pop3_server):
    login(pop3_server).quit()

@pytest.fixture
def broken(pop3_server):
    login(pop3_server).noop()
    raise RuntimeError("set-up broke")

def test_setup_fails(broken):
    pass

def test_factory_body_fails(pop3_server_factory):
    server = pop3_server_factory(users={"bob": "pw"})
    login(server, "bob", "pw").quit()
    assert False

def test_passes(pop3_server):
    login(pop3_server).quit()

def test_no_server():
    assert False
"""


def sections(report: str, name: str = "pop3mock sessions") -> list[str]:
    """The text of every report section whose title holds `name`, as pytest prints them:
    a title line of dashes, then the text up to the next title or separator line."""
    out: list[list[str]] = []
    inside = False
    for line in report.splitlines():
        if re.fullmatch(r"[-_=]{10,}( .* [-_=]+)?", line):
            inside = line.startswith("-") and name in line
            if inside:
                out.append([])
        elif inside:
            out[-1].append(line)
    return ["\n".join(lines) for lines in out]


@pytest.mark.slow
def test_a_failed_test_report_has_the_sessions(suite: pytest.Pytester) -> None:
    suite.makepyfile(FAILING)
    result = suite.runpytest("-rA")
    result.assert_outcomes(passed=2, failed=3, errors=2)
    output = result.stdout.str()
    shown = (
        output.split("= FAILURES =")[0].split("= ERRORS =")[-1] + output.split("= FAILURES =")[1]
    )
    found = sections(shown)
    assert "s3cret-pw" not in "".join(found)  # (the test's source in the traceback holds it)
    # test_setup_fails, test_teardown_fails (errors), test_body_fails, test_factory_body_fails
    assert len(found) == 4, output
    teardown, setup, body, factory = found  # errors first, in the order they happened
    # The client may be gone or not when the set-up fails: either way the report says.
    assert setup.splitlines()[-2:][0] == "S: +OK" and setup.splitlines()[-1].startswith("-- ")
    assert "C: NOOP" in setup
    assert "-- ended: quit" in teardown
    assert body.splitlines()[0].startswith("<POP3Server pop3://127.0.0.1:")
    assert body.splitlines()[0].endswith(">: 1 session")
    lines = body.splitlines()
    assert lines[1].startswith("session 1 from 127.0.0.1:")
    assert lines[3:11] == [
        "C: USER alice",
        "S: +OK Send PASS.",
        "C: PASS ***",
        "S: +OK Logged in.",
        "C: RETR 1",
        "S: -ERR [SYS/TEMP] storage offline",
        "-- fault: RETR|TOP 1 -> error [SYS/TEMP] storage offline",
        "C: QUIT",
    ]
    # The report is made as the test fails, while the server still runs: the session ends
    # when the server thread has seen the client close, which may come just after.
    assert lines[12] in ("-- ended: quit", "-- still open when the report was made")
    assert lines[-1] == "-- faults fired: RETR|TOP 1 -> error [SYS/TEMP] storage offline"
    assert "C: USER bob" in factory
    assert "test_passes" not in "".join(sections(output.split("PASSES")[-1]))
    assert output.count("(pop3mock sessions)") == 4


@pytest.mark.slow
def test_the_sessions_reach_the_junit_xml_report(suite: pytest.Pytester) -> None:
    import xml.etree.ElementTree as ET

    suite.makepyfile(FAILING)
    for passing_logged in ("true", "false"):
        xml = suite.path / f"junit-{passing_logged}.xml"
        result = suite.runpytest(
            f"--junitxml={xml}",
            "-o",
            "junit_logging=system-out",
            "-o",
            f"junit_log_passing_tests={passing_logged}",
        )
        result.assert_outcomes(passed=2, failed=3, errors=2)
        cases = {case.get("name"): case for case in ET.parse(xml).getroot().iter("testcase")}
        out = {
            name: "".join(e.text or "" for e in case.iter("system-out"))
            for name, case in cases.items()
        }
        assert "PASS s3cret-pw" not in "".join(out.values())
        assert "-- fault: RETR|TOP 1 -> error [SYS/TEMP] storage offline" in out["test_body_fails"]
        assert "C: PASS ***" in out["test_body_fails"]
        assert "-- ended: quit" in out["test_teardown_fails"]
        if passing_logged == "true":
            # Written from the teardown report: the servers have stopped, every session ended.
            assert "-- ended: quit" in out["test_body_fails"]
        assert "C: USER bob" in out["test_factory_body_fails"]
        assert "pop3mock" not in out["test_passes"] + out["test_no_server"]


@pytest.mark.slow
def test_the_sessions_section_is_bounded_and_can_be_switched_off(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        from popclient import login

        def test_many_commands(pop3_server):
            client = login(pop3_server)
            for _ in range(30):
                client.noop()
            client.quit()
            assert False
        """
    )
    suite.makeini("[pytest]\naddopts = -p no:faker -p no:hypothesispytest\npop3_report_lines = 6")
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    (body,) = sections(result.stdout.str())
    lines = body.strip("\n").splitlines()
    # 1 server line, the session's head and greeting (2), 2 x 33 commands and their replies,
    # and one line for the session's end (or that it is still open): 70, the last 6 kept.
    assert lines[0] == "[... 64 earlier lines cut (pop3_report_lines = 6)]"
    assert lines[1:6] == [
        "S: +OK",
        "C: NOOP",
        "S: +OK",
        "C: QUIT",
        "S: +OK Logging out, 0 messages deleted.",
    ]
    assert lines[6].startswith("-- ")
    assert len(lines) == 7
    suite.makeini(
        "[pytest]\naddopts = -p no:faker -p no:hypothesispytest\npop3_report_sessions = false"
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    assert "pop3mock sessions" not in result.stdout.str()
    suite.makeini("[pytest]\naddopts = -p no:faker -p no:hypothesispytest\npop3_report_lines = x")
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pop3_report_lines: expected an integer >= 1, got 'x'*"])


@pytest.mark.slow
def test_a_test_server_is_released_after_its_test(suite: pytest.Pytester) -> None:
    # Kept until the end of the run, a suite's servers (with their maildrops) add up.
    suite.makepyfile(
        """
        import gc
        import weakref

        made = []

        def test_one(pop3_server):
            made.append(weakref.ref(pop3_server))

        def test_two(pop3_server_factory):
            made.append(weakref.ref(pop3_server_factory(users={"bob": "pw"})))

        def test_after():
            gc.collect()
            assert [ref() for ref in made] == [None, None]
        """
    )
    suite.runpytest().assert_outcomes(passed=3)
