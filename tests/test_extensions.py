"""POP3 extensions over sockets: CAPA (RFC 2449), response codes (RFC 2449, RFC 3206),
UTF8 and LANG (RFC 6856), PIPELINING, LOGIN-DELAY, EXPIRE, and RFC 1460's LAST."""

from __future__ import annotations

import poplib
import re

import pytest

from helpers import connect
from pop3mock import ConfigurationError, Mailbox, POP3Server, ServerConfig, Session, __version__
from pop3mock.protocol._session import system_error

MESSAGES = [
    b"Subject: one\r\n\r\nfirst\r\n",
    b"Subject: two\r\n\r\nsecond\r\n",
    b"Subject: three\r\n\r\nthird\r\n",
    b"Subject: four\r\n\r\nfourth\r\n",
]
UTF8_MESSAGE = "Subject: Grüße\r\n\r\nnon-ASCII body: äöü\r\n".encode()
ALL = frozenset(ServerConfig().capabilities)
CODE = re.compile(r"^-ERR \[[!-.0-\\^-~]+(/[!-.0-\\^-~]+)*\] ")  # C-128


pytestmark = pytest.mark.server({"alice": "wonderland"}, maildrops={"alice": MESSAGES})


# -- CAPA (RFC 2449) -------------------------------------------------------------------------


def test_capa_before_and_after_login(server: POP3Server) -> None:
    with connect(server) as client:
        before = client.capa()
        assert client.try_login().startswith(b"+OK")
        after = client.capa()  # C-107
    assert before == [
        "TOP",
        "UIDL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "USER",
        "SASL PLAIN LOGIN CRAM-MD5 XOAUTH2 OAUTHBEARER",
        "UTF8 USER",
        "LANG",
        "IMPLEMENTATION pop3mock " + __version__,
    ]
    assert set(before) <= set(after)  # C-110, C-111
    for line in before + after:
        tag = line.split()[0]
        assert tag == tag.upper() and not tag.startswith((".", "X"))  # C-108, C-109, C-125
        assert len(line) + 2 <= 512
        assert tag != "APOP"  # C-121
    assert len(before) <= 50  # C-126


def test_poplib_capa(server: POP3Server) -> None:
    client = poplib.POP3(server.host, server.port, timeout=10)
    caps = client.capa()
    assert caps["SASL"] == ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER"]
    assert "STLS" not in caps  # no certificate: STLS not offered (C-122)
    client.quit()


SWITCHES = {
    "TOP": ("TOP 1 0", True),
    "UIDL": ("UIDL", True),
    "USER": ("USER alice", False),
    "SASL": ("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=", False),
    "UTF8": ("UTF8", False),
    "LANG": ("LANG", False),
}


@pytest.mark.parametrize("capability", sorted(SWITCHES))
def test_switched_off_capability_is_not_listed_and_its_command_fails(capability: str) -> None:
    command, after_login = SWITCHES[capability]
    with POP3Server(users={"alice": "wonderland"}, capabilities=ALL - {capability}) as server:
        server.mailbox("alice").add(*MESSAGES)
        with connect(server) as client:
            listed = {line.split()[0] for line in client.capa()}
            assert capability not in listed  # C-112, C-113, C-114, C-124
            if after_login:
                assert client.try_login().startswith(b"+OK")
            assert client.cmd(command).startswith(b"-ERR")


@pytest.mark.parametrize("capability", ["PIPELINING", "IMPLEMENTATION", "RESP-CODES"])
def test_tags_without_a_command_can_be_switched_off(capability: str) -> None:
    with (
        POP3Server(users={"alice": "wonderland"}, capabilities=ALL - {capability}) as server,
        connect(server) as client,
    ):
        assert capability not in {line.split()[0] for line in client.capa()}


def test_capa_off_is_the_rfc1939_answer() -> None:
    with POP3Server(users={"alice": "wonderland"}, capabilities={"USER", "TOP", "UIDL"}) as server:
        client = poplib.POP3(server.host, server.port, timeout=10)
        with pytest.raises(poplib.error_proto, match="CAPA not supported"):
            client.capa()  # C-127
        client.user("alice")
        client.pass_("wonderland")
        client.quit()


def test_login_delay_and_expire_advertised_as_configured() -> None:
    with (
        POP3Server(users={"alice": "wonderland"}, login_delay=900, expire=30) as server,
        connect(server) as client,
    ):
        caps = client.capa()
        assert "LOGIN-DELAY 900" in caps and "EXPIRE 30" in caps
    with (
        POP3Server(users={"alice": "wonderland"}, expire="never") as server,
        connect(server) as client,
    ):
        assert "EXPIRE NEVER" in client.capa()


def test_per_user_login_delay_and_expire() -> None:
    options = {
        "login_delay": 60,
        "user_login_delay": {"bob": 600},
        "expire": 30,
        "user_expire": {"bob": 0},
    }
    with POP3Server(users={"alice": "wonderland", "bob": "builder"}, **options) as server:
        with connect(server) as client:
            before = client.capa()
            assert "LOGIN-DELAY 600 USER" in before  # C-117: the maximum, then USER
            assert "EXPIRE 0 USER" in before  # C-119: the minimum, then USER
            client.try_login()
            after = client.capa()
            assert "LOGIN-DELAY 60" in after and "EXPIRE 30" in after
        with connect(server) as client:
            client.try_login("bob", "builder")
            after = client.capa()
            assert "LOGIN-DELAY 600" in after and "EXPIRE 0" in after


def test_implementation_text() -> None:
    with (
        POP3Server(users={"alice": "wonderland"}, implementation="Example POP3 1.0") as server,
        connect(server) as client,
    ):
        assert "IMPLEMENTATION Example POP3 1.0" in client.capa()  # C-120


def test_capa_order_option() -> None:
    order = ["USER", "SASL", "UIDL", "TOP"]
    with (
        POP3Server(users={"alice": "wonderland"}, capa_order=order) as server,
        connect(server) as client,
    ):
        assert [line.split()[0] for line in client.capa()][:4] == order


# -- response codes (RFC 2449 section 8, RFC 3206) ------------------------------------------


def test_in_use(server: POP3Server) -> None:
    with connect(server) as first, connect(server) as second:
        assert first.try_login().startswith(b"+OK")
        reply = second.try_login().decode()
        assert reply == "-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n"  # C-131
        assert CODE.match(reply)


def test_auth_code_on_wrong_password_not_on_user(server: POP3Server) -> None:
    with connect(server) as client:
        assert client.cmd("USER nobody") == b"+OK Send PASS.\r\n"  # C-133: never on USER
        reply = client.cmd("PASS wonderland").decode()
        assert reply == "-ERR [AUTH] Authentication failed.\r\n"
        for word in ("lock", "Lock", "LOCK", "wait"):
            assert word not in reply  # C-135: fetchmail would read LOCKBUSY


def test_login_delay_enforced() -> None:
    with POP3Server(
        users={"alice": "wonderland"}, login_delay=3600, enforce_login_delay=True
    ) as server:
        with connect(server) as client:
            assert client.try_login().startswith(b"+OK")
            client.cmd("QUIT")
        with connect(server) as client:
            reply = client.try_login().decode()
            assert reply.startswith("-ERR [LOGIN-DELAY] ")  # C-130
            assert CODE.match(reply)


def test_utf8_code_and_utf8_mode() -> None:
    with POP3Server(users={"alice": "wonderland"}, utf8_required=True) as server:
        server.mailbox("alice").add(MESSAGES[0], UTF8_MESSAGE)
        with connect(server) as client:
            client.try_login()
            assert client.cmd("RETR 2") == b"-ERR [UTF8] This message needs UTF8 mode.\r\n"
            assert client.cmd("TOP 2 0").startswith(b"-ERR [UTF8]")  # C-134, C-168
            client.send(b"RETR 1\r\n")
            assert client.multiline().startswith(b"+OK")
            # QUIT releases the maildrop before its reply: the next login finds it free.
            assert client.cmd("QUIT").startswith(b"+OK")
        client = poplib.POP3(server.host, server.port, timeout=10)
        assert client.utf8().startswith(b"+OK")  # C-167
        client.user("alice")
        client.pass_("wonderland")
        size = int(client.list(2).split()[2])
        _, lines, octets = client.retr(2)
        assert b"".join(line + b"\r\n" for line in lines) == UTF8_MESSAGE
        assert octets == size  # C-169
        with pytest.raises(poplib.error_proto):
            client.utf8()  # only in AUTHORIZATION
        client.quit()


def test_no_codes_without_resp_codes() -> None:
    caps = ALL - {"RESP-CODES", "AUTH-RESP-CODE"}
    with (
        POP3Server(users={"alice": "wonderland"}, capabilities=caps) as server,
        connect(server) as first,
        connect(server) as second,
    ):
        assert first.try_login(password="wrong") == b"-ERR Authentication failed.\r\n"  # C-129
        first.try_login()
        assert second.try_login() == b"-ERR Mailbox is locked by another POP3 session.\r\n"


def test_auth_resp_code_alone_keeps_only_auth() -> None:
    caps = ALL - {"RESP-CODES"}
    with (
        POP3Server(users={"alice": "wonderland"}, capabilities=caps) as server,
        connect(server) as first,
        connect(server) as second,
    ):
        assert first.try_login(password="wrong").startswith(b"-ERR [AUTH] ")  # C-123
        first.try_login()
        assert second.try_login().startswith(b"-ERR Mailbox")


def test_system_error_codes() -> None:
    config = ServerConfig()
    assert system_error(config).encode() == b"-ERR [SYS/TEMP] Internal error.\r\n"  # C-132
    assert system_error(config, permanent=True).code == "SYS/PERM"
    quiet = ServerConfig(capabilities=ALL - {"RESP-CODES"})
    assert system_error(quiet).encode() == b"-ERR Internal error.\r\n"


def test_texts_cannot_start_with_a_bracket() -> None:
    with pytest.raises(ConfigurationError, match="response code"):
        POP3Server(texts={"auth_failed": "[nope] text"})  # C-116


@pytest.mark.parametrize("key", ["stat", "last"])
def test_stat_and_last_have_no_text_to_configure(key: str) -> None:
    with pytest.raises(ConfigurationError, match="STAT and LAST replies have no free text"):
        POP3Server(texts={key: "anything"})
    with pytest.raises(ConfigurationError, match="unknown reply text keys"):
        POP3Server(texts={"nonsense": "x"})


def test_top_without_its_line_count_says_what_is_missing(server: POP3Server) -> None:
    with connect(server) as client:
        client.try_login()
        assert client.cmd("TOP 1") == b"-ERR TOP needs a message number and a line count.\r\n"


# -- UTF8 and LANG (RFC 6856) -----------------------------------------------------------------


def test_poplib_utf8_and_utf8_user(server: POP3Server) -> None:
    with POP3Server(users={"jürgen": "pässword"}) as utf8_server:
        client = poplib.POP3(utf8_server.host, utf8_server.port, timeout=10)
        assert client.utf8() == b"+OK UTF8 enabled."
        client.user("jürgen")  # poplib sends UTF-8
        client.pass_("pässword")
        client.quit()
    with connect(server) as client:
        client.send(b"USER \xff\xfe\r\n")
        assert client.line().startswith(b"-ERR")  # C-171
        assert client.cmd("UTF8").startswith(b"+OK")
        assert client.cmd("STLS").startswith(b"-ERR")  # C-170


def test_utf8_off_answers_err() -> None:
    caps = ALL - {"UTF8", "LANG"}
    with POP3Server(users={"alice": "wonderland"}, capabilities=caps) as server:
        client = poplib.POP3(server.host, server.port, timeout=10)
        with pytest.raises(poplib.error_proto):
            client.utf8()  # C-174
        client.quit()


def test_lang(server: POP3Server) -> None:
    with connect(server) as client:
        client.send(b"LANG\r\n")
        assert client.multiline() == b"+OK Languages follow.\r\nen English\r\n.\r\n"  # C-173
        assert client.cmd("LANG EN") == b"+OK en Language changed.\r\n"  # C-172
        assert client.cmd("LANG xx-bogus") == b"-ERR Unsupported language.\r\n"
        client.try_login()
        assert client.cmd("LANG *") == b"+OK en Language changed.\r\n"


def test_languages_option() -> None:
    languages = [("en", "English"), ("de", "Deutsch"), "fr"]
    with (
        POP3Server(users={"alice": "wonderland"}, languages=languages) as server,
        connect(server) as client,
    ):
        client.send(b"LANG\r\n")
        assert client.multiline() == (
            b"+OK Languages follow.\r\nen English\r\nde Deutsch\r\nfr \r\n.\r\n"
        )
        assert client.cmd("LANG de").startswith(b"+OK de ")
        assert client.cmd("LANG *").startswith(b"+OK en ")
    with pytest.raises(ConfigurationError, match="language tag"):
        POP3Server(languages=[("e n", "bad")])


# -- PIPELINING -------------------------------------------------------------------------------


def test_pipelined_burst_answered_in_order(server: POP3Server) -> None:
    with connect(server) as client:
        client.send(b"USER alice\r\nPASS wonderland\r\nSTAT\r\nLIST 1\r\nUIDL 1\r\nNOOP\r\n")
        replies = [client.line() for _ in range(6)]
        assert [r.split()[0] for r in replies] == [b"+OK"] * 6
        assert replies[2].startswith(b"+OK 4 ")
        assert replies[3].startswith(b"+OK 1 ")
        # mpop style: RETR 2..4 and DELE 2..4 in one write each (C-118).
        client.send(b"".join(b"RETR %d\r\n" % n for n in (2, 3, 4)))
        bodies = [client.multiline() for _ in range(3)]
        for body, message in zip(bodies, MESSAGES[1:], strict=True):
            assert body.endswith(message + b".\r\n")
        client.send(b"".join(b"DELE %d\r\n" % n for n in (2, 3, 4)))
        assert [client.line() for _ in range(3)] == [
            b"+OK Message %d deleted.\r\n" % n for n in (2, 3, 4)
        ]
        assert client.cmd("QUIT").startswith(b"+OK")
    assert server.mailbox("alice").messages[0].data == MESSAGES[0]
    assert len(server.mailbox("alice")) == 1


# -- EXPIRE 0 and LAST ------------------------------------------------------------------------


def test_expire_zero_deletes_what_was_retrieved() -> None:
    with POP3Server(users={"alice": "wonderland"}, expire=0) as server:
        server.mailbox("alice").add(*MESSAGES)
        client = poplib.POP3(server.host, server.port, timeout=10)
        client.user("alice")
        client.pass_("wonderland")
        client.retr(1)
        client.top(2, 0)  # TOP is not a retrieval
        client.quit()
        assert server.mailbox("alice").messages[0].data == MESSAGES[1]
        assert len(server.mailbox("alice")) == 3  # C-119


def test_last_as_rfc1460_describes(server: POP3Server) -> None:
    with connect(server) as client:
        client.try_login()
        assert client.cmd("LAST") == b"+OK 0\r\n"
        client.send(b"RETR 1\r\n")
        client.multiline()
        assert client.cmd("LAST") == b"+OK 1\r\n"
        client.cmd("QUIT")
    # RFC 1460 section 5, example: accessed in earlier sessions counts.
    with connect(server) as client:
        client.try_login()
        assert client.cmd("LAST") == b"+OK 1\r\n"
        client.send(b"RETR 3\r\n")
        client.multiline()
        assert client.cmd("LAST") == b"+OK 3\r\n"
        assert client.cmd("DELE 2").startswith(b"+OK")
        assert client.cmd("LAST") == b"+OK 3\r\n"
        client.send(b"TOP 4 0\r\n")
        client.multiline()
        assert client.cmd("LAST") == b"+OK 3\r\n"
        assert client.cmd("DELE 4").startswith(b"+OK")
        assert client.cmd("LAST") == b"+OK 4\r\n"
        client.cmd("RSET")
        assert client.cmd("LAST") == b"+OK 0\r\n"  # C-175: always a bare number


def test_last_off() -> None:
    with (
        POP3Server(users={"alice": "wonderland"}, last=False) as server,
        connect(server) as client,
    ):
        client.try_login()
        assert client.cmd("LAST") == b"-ERR Unknown command.\r\n"


# -- obsolete and unknown commands (section N) -------------------------------------------------


@pytest.mark.parametrize(
    "command", ["RPOP x", "XTND XLST Message-Id", "XSENDER 1", "*ENV 1", "MBOX x", "MSG"]
)
def test_obsolete_and_unknown_commands(server: POP3Server, command: str) -> None:
    with connect(server) as client:
        assert client.cmd(command).startswith(b"-ERR")  # C-176, C-177, C-178
        assert client.cmd("USER alice").startswith(b"+OK")
        assert client.cmd("PASS wonderland").startswith(b"+OK")
        assert client.cmd(command).startswith(b"-ERR")
        assert client.cmd("NOOP") == b"+OK\r\n"


# -- URLs (RFC 2384, section O) ---------------------------------------------------------------


def test_urls_carry_no_credentials() -> None:
    with POP3Server(users={"alice": "wonderland"}, implicit_tls=True) as server:
        assert server.url == f"pop3://127.0.0.1:{server.port}"  # C-179, C-182
        assert server.tls_url == f"pop3s://127.0.0.1:{server.tls_port}"
        assert "wonderland" not in server.url + str(server.tls_url)
    with POP3Server() as plain:
        assert plain.tls_url is None


# -- configuration values (pure logic) --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire"), [(0, "0"), ("0", "0"), (30, "30"), ("never", "NEVER"), ("007", "7")]
)
def test_expire_values(value: object, wire: str) -> None:
    assert ServerConfig(expire=value).expire == wire  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"expire": "soon"},
        {"expire": -1},
        {"expire": True},
        {"user_expire": {"bob": "later"}},
        {"user_login_delay": {"bob": -5}},
        {"login_delay": -1},
        {"capa_order": ["NOPE"]},
        {"uid_format": "imap"},
        {"utf8_required": True, "capabilities": {"USER", "CAPA"}},
        {"languages": [], "capabilities": {"USER", "LANG"}},
        {"implementation": "two\r\nlines"},
        {"hostname": "a@b"},
    ],
)
def test_configuration_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        ServerConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"max_line": 0}, "max_line must be a whole number of octets >= 1, not 0"),
        ({"max_line": "big"}, "max_line must be a whole number of octets >= 1, not 'big'"),
        ({"users": ["alice"]}, "users must map names to passwords"),
        ({"users": {"alice": 123}}, "the name and the password must be strings"),
        ({"login_delay": True}, "login_delay must be a whole number of seconds >= 0"),
        ({"login_delay": 1.5}, "login_delay must be a whole number of seconds >= 0"),
        ({"apop": "no"}, "apop must be True or False, not 'no'"),
        ({"enforce_login_delay": True}, "enforce_login_delay=True has nothing to enforce"),
        (
            {"enforce_login_delay": True, "login_delay": 60, "capabilities": {"USER"}},
            "enforce_login_delay=True has nothing to enforce",
        ),
        ({"max_line_length": "300"}, "max_line_length must be a whole number of octets >= 8"),
        ({"max_line_length": 7}, "max_line_length must be a whole number of octets >= 8"),
        ({"mechanisms": None}, "invalid value for mechanisms: None"),
        ({"texts": 5}, "texts must map reply keys to texts, not 5"),
        ({"capabilitys": ["USER"]}, "unknown POP3Server option capabilitys (did you mean"),
        ({"bad_command_limit": 0}, "bad_command_limit must be a whole number >= 1"),
        ({"journal_keep": 0}, "journal_keep must be a whole number >= 1 or None"),
    ],
)
def test_server_options_of_the_wrong_kind_are_named(
    kwargs: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(problem)):
        POP3Server(**kwargs)  # type: ignore[arg-type]


def test_capa_is_listed_only_where_the_order_names_it() -> None:
    config = ServerConfig(capa_order=["CAPA", "USER"])
    session = Session(config, {"alice": Mailbox("alice", "pw")})
    assert session.capabilities()[:2] == ["CAPA", "USER"]
    assert "CAPA" not in Session(ServerConfig(), {}).capabilities()
