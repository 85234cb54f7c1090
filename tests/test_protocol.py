"""The sans-IO session: no sockets, one Response per command line."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pop3mock import Mailbox, Response, ServerConfig, Session, State
from pop3mock.protocol._auth import apop_digest, cram_md5_digest
from pop3mock.protocol._config import ALL_CAPABILITIES

TS = "<1896.697170952@dbc.mtview.ca.us>"
MESSAGES = [
    b"Subject: one\r\n\r\nfirst\r\n",
    b"Subject: two\r\n\r\n.dot line\r\n.\r\n",
    b"Subject: three\r\n\r\n" + b"".join(b"line %d\r\n" % i for i in range(25)),
]


def make(config: ServerConfig | None = None, **mailboxes: Mailbox) -> Session:
    users = mailboxes or {"alice": Mailbox("alice", "wonderland", MESSAGES)}
    return Session(config or ServerConfig(), users, timestamp=TS)


def send(session: Session, line: str) -> str:
    response = session.handle(line.encode())
    return response.encode().decode("utf-8", "replace")


def login(session: Session) -> None:
    assert send(session, "USER alice").startswith("+OK")
    assert send(session, "PASS wonderland").startswith("+OK")


def test_pending_user_is_the_user_name_waiting_for_its_password() -> None:
    s = make()
    assert s.pending_user is None
    assert send(s, "USER alice").startswith("+OK")
    assert s.pending_user == "alice" and s.user is None
    assert send(s, "PASS wrong").startswith("-ERR")
    assert s.pending_user is None  # a failed PASS needs a new USER
    login(s)
    assert s.pending_user is None and s.user == "alice"


def test_greeting_has_apop_timestamp_last() -> None:
    greeting = make().greeting().encode()
    assert re.fullmatch(rb"\+OK .*<[^<>@\s]+@[^<>@\s]+>\r\n", greeting)


def test_greeting_without_apop_has_no_timestamp() -> None:
    assert b"<" not in make(ServerConfig(apop=False)).greeting().encode()


def test_commands_are_case_insensitive() -> None:
    s = make()
    assert send(s, "user alice").startswith("+OK")
    assert send(s, "Pass wonderland").startswith("+OK")
    assert send(s, "stat") == f"+OK 3 {sum(len(m) for m in MESSAGES)}\r\n"


@pytest.mark.parametrize(
    "verb", ["STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 0", "UIDL", "LAST"]
)
def test_transaction_commands_refused_before_login(verb: str) -> None:
    response = make().handle(verb.encode())
    assert response.status == "-ERR"
    assert response.violation


@pytest.mark.parametrize(
    "verb", ["USER alice", "PASS x", "APOP alice d", "AUTH PLAIN", "STLS", "UTF8"]
)
def test_authorization_commands_refused_after_login(verb: str) -> None:
    s = make()
    login(s)
    assert send(s, verb).startswith("-ERR")
    assert s.state is State.TRANSACTION


def test_unknown_user_fails_at_pass_not_user() -> None:
    s = make()
    assert send(s, "USER nobody").startswith("+OK")
    assert send(s, "PASS x") == "-ERR [AUTH] Authentication failed.\r\n"


def test_pass_needs_user_and_failed_pass_needs_new_user() -> None:
    s = make()
    assert send(s, "PASS wonderland").startswith("-ERR")
    send(s, "USER alice")
    assert send(s, "PASS wrong").startswith("-ERR [AUTH]")
    assert send(s, "PASS wonderland").startswith("-ERR")
    login(s)
    assert s.state is State.TRANSACTION


@pytest.mark.parametrize(
    "between",
    ["USER", "USER alice extra", "APOP alice 0123", "AUTH PLAIN AGFsaWNlAGJhZA==", "CAPA",
     "NOOP", "STAT", "X" * 300],
)  # fmt: skip
def test_pass_counts_only_right_after_a_successful_user(between: str) -> None:
    """C-034: any line between USER and PASS, accepted or refused, forgets the name."""
    s = make()
    assert send(s, "USER alice").startswith("+OK")
    send(s, between)
    assert s.pending_user is None
    assert send(s, "PASS wonderland") == "-ERR No user name given (send USER first).\r\n"
    assert s.state is State.AUTHORIZATION
    login(s)  # and USER then PASS still works after it


def test_apop_only_users_cannot_send_their_password_in_the_clear() -> None:
    """C-045: per user, PASS and AUTH PLAIN / LOGIN are refused; APOP and CRAM-MD5 work."""
    config = ServerConfig(apop_only_users={"alice"})
    users = {"alice": Mailbox("alice", "wonderland"), "bob": Mailbox("bob", "pw")}
    refused = "-ERR [AUTH] This mailbox takes APOP only.\r\n"

    def fresh() -> Session:
        return Session(config, users, timestamp=TS)

    s = fresh()
    send(s, "USER alice")
    assert send(s, "PASS wrong") == "-ERR [AUTH] Authentication failed.\r\n"
    send(s, "USER alice")
    assert send(s, "PASS wonderland") == refused
    assert send(s, "AUTH PLAIN " + b64(b"\0alice\0wonderland")) == refused
    assert send(s, "AUTH LOGIN " + b64(b"alice")).startswith("+ ")
    assert send(s, b64(b"wonderland")) == refused
    assert s.state is State.AUTHORIZATION
    assert send(s, f"APOP alice {apop_digest(TS, 'wonderland')}") == "+OK Logged in.\r\n"
    send(s, "QUIT")  # releases the maildrop for the next session
    s = fresh()
    challenge = base64.b64decode(send(s, "AUTH CRAM-MD5")[2:])
    assert send(s, b64(f"alice {cram_md5_digest(challenge, 'wonderland')}".encode())).startswith(
        "+OK"
    )
    s = fresh()  # everybody else keeps every way in
    send(s, "USER bob")
    assert send(s, "PASS pw") == "+OK Logged in.\r\n"


def test_password_with_spaces() -> None:
    s = make(alice=Mailbox("alice", "a b c"))
    send(s, "USER alice")
    assert send(s, "PASS a b c").startswith("+OK")


def test_user_without_argument() -> None:
    assert send(make(), "USER").startswith("-ERR")


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("LIST 0", "There is no message 0."),
        ("LIST +1", "Invalid message number."),
        ("LIST -1", "Invalid message number."),
        ("LIST abc", "Invalid message number."),
        ("LIST 99999999999999999999", "There is no message 99999999999999999999."),
        ("LIST 4", "There is no message 4."),
        ("LIST 1 2", "LIST takes a single message number."),
        ("RETR 1 2", "RETR takes a single message number."),
        ("DELE 1 2", "DELE takes a single message number."),
        ("UIDL 1 2", "UIDL takes a single message number."),
        ("RETR", "RETR needs a message number."),
        ("TOP 1", "TOP needs a message number and a line count."),
        ("TOP 1 -1", "Invalid line count."),
        ("TOP 1 abc", "Invalid line count."),
        ("TOP x 1", "Invalid message number."),
        ("DELE", "DELE needs a message number."),
        ("UIDL 9", "There is no message 9."),
        ("STAT x", "STAT takes no arguments."),
    ],
)
def test_bad_arguments_get_a_clear_err_and_session_goes_on(line: str, reply: str) -> None:
    s = make()
    login(s)
    response = s.handle(line.encode())
    assert response.encode().decode() == f"-ERR {reply}\r\n"
    assert response.body is None
    assert send(s, "NOOP") == "+OK\r\n"


def test_user_with_more_than_one_name() -> None:
    assert send(make(), "USER alice bob") == "-ERR USER takes exactly one user name.\r\n"


def test_leading_zeros_accepted() -> None:
    s = make()
    login(s)
    assert send(s, "LIST 01") == f"+OK 1 {len(MESSAGES[0])}\r\n"


def test_list_uidl_and_numbering_after_dele() -> None:
    s = make()
    login(s)
    assert send(s, "DELE 1").startswith("+OK")
    listing = send(s, "LIST")
    assert listing.split("\r\n")[1:-1] == [f"2 {len(MESSAGES[1])}", f"3 {len(MESSAGES[2])}", "."]
    assert send(s, "LIST 1") == "-ERR Message 1 is deleted.\r\n"
    for cmd in ("RETR 1", "TOP 1 0", "DELE 1", "UIDL 1"):
        assert send(s, cmd).startswith("-ERR")
    assert send(s, "STAT") == f"+OK 2 {len(MESSAGES[1]) + len(MESSAGES[2])}\r\n"
    assert send(s, "RETR 2").startswith("+OK")  # still message 2, no renumbering
    uidl = send(s, "UIDL").split("\r\n")
    assert [line.split()[0] for line in uidl[1:-2]] == ["2", "3"]


def test_retr_stuffs_and_terminates() -> None:
    s = make()
    login(s)
    assert send(s, "RETR 2").endswith("\r\nSubject: two\r\n\r\n..dot line\r\n..\r\n.\r\n")


def test_a_retr_reply_keeps_its_parts_and_is_sent_whole() -> None:
    s = make()
    login(s)
    response = s.handle(b"RETR 2")
    message = s.view.retrieved(2)  # type: ignore[union-attr]
    assert response.status == "+OK"
    assert response.body is message.wire  # the parts are still there to read
    assert response.first_line == b"+OK %d octets\r\n" % message.size
    assert response.parts() == (response.first_line + message.wire + b".\r\n",)
    assert response.encode() == b"".join((response.first_line, response.body, b".\r\n"))


def test_a_message_retrieved_in_two_sessions_is_sent_from_one_reply() -> None:
    box = Mailbox("alice", "wonderland", MESSAGES)
    replies = []
    for _ in range(2):
        s = make(alice=box)
        login(s)
        replies.append(s.handle(b"RETR 2").encode())
        s.handle(b"QUIT")
    assert replies[0] is replies[1]


def test_sessions_with_different_retr_texts_share_a_message_and_get_their_own_reply() -> None:
    box = Mailbox("alice", "wonderland", MESSAGES)
    plain = ServerConfig()
    custom = ServerConfig(texts={"retr": "message follows ({size} octets)"})
    size = len(MESSAGES[1])
    for config, first in [
        (plain, b"+OK %d octets\r\n" % size),
        (custom, b"+OK message follows (%d octets)\r\n" % size),
        (plain, b"+OK %d octets\r\n" % size),
    ]:
        s = make(config, alice=box)
        login(s)
        response = s.handle(b"RETR 2")
        assert response.first_line == first
        assert response.text == first[4:-2].decode()
        assert response.encode() == first + b"Subject: two\r\n\r\n..dot line\r\n..\r\n.\r\n"
        s.handle(b"QUIT")


def test_top() -> None:
    s = make()
    login(s)
    assert send(s, "TOP 3 0") == "+OK Top of message follows.\r\nSubject: three\r\n\r\n.\r\n"
    top5 = send(s, "TOP 3 5").split("\r\n")
    assert top5[3:8] == [f"line {i}" for i in range(5)]
    assert top5[8] == "."
    assert send(s, "TOP 3 99999999").endswith("line 24\r\n.\r\n")


def test_rset_unmarks() -> None:
    s = make()
    login(s)
    before = send(s, "STAT")
    send(s, "DELE 1")
    send(s, "DELE 2")
    assert send(s, "RSET").startswith("+OK")
    assert send(s, "STAT") == before


def test_quit_commits_only_from_transaction() -> None:
    box = Mailbox("alice", "wonderland", MESSAGES)
    s = make(alice=box)
    login(s)
    send(s, "DELE 1")
    response = s.handle(b"QUIT")
    assert response.close and response.status == "+OK"
    assert s.state is State.UPDATE
    assert len(box) == 2 and len(box.deleted) == 1
    assert not box.locked


def test_connection_lost_deletes_nothing_and_releases_lock() -> None:
    box = Mailbox("alice", "wonderland", MESSAGES)
    s = make(alice=box)
    login(s)
    send(s, "DELE 1")
    s.connection_lost()
    assert len(box) == 3 and not box.deleted and not box.locked


def test_second_login_is_in_use() -> None:
    box = Mailbox("alice", "wonderland", MESSAGES)
    first = make(alice=box)
    login(first)
    second = make(alice=box)
    send(second, "USER alice")
    assert send(second, "PASS wonderland").startswith("-ERR [IN-USE]")
    assert second.state is State.AUTHORIZATION


def test_new_mail_is_not_seen_by_open_session() -> None:
    box = Mailbox("alice", "wonderland", MESSAGES)
    s = make(alice=box)
    login(s)
    box.add(b"Subject: new\r\n\r\nnew\r\n")
    assert send(s, "STAT").startswith("+OK 3 ")
    send(s, "QUIT")
    s2 = make(alice=box)
    login(s2)
    assert send(s2, "STAT").startswith("+OK 4 ")


def test_line_too_long_then_session_goes_on() -> None:
    s = make()
    ok_line = "USER " + "a" * 248  # 255 octets with CRLF
    assert send(s, ok_line).startswith("+OK")
    response = s.handle(b"USER " + b"a" * 249)
    assert response.status == "-ERR" and response.violation
    assert send(s, "QUIT").startswith("+OK")


def test_error_line_is_at_most_512_octets() -> None:
    s = make(ServerConfig(texts={"unknown": "x" * 1000}))
    assert len(s.handle(b"FOO").encode()) == 512


def test_capa_per_state() -> None:
    s = make()
    before = send(s, "CAPA")
    assert "USER\r\n" in before and "SASL PLAIN" in before and "STLS" not in before
    login(s)
    after = send(s, "CAPA")
    assert "USER\r\n" in after and "SASL " in after
    assert "APOP" not in after


def test_utf8_promises_user_only_while_user_is_offered() -> None:
    assert "UTF8 USER" in make().capabilities()
    no_user = ServerConfig(capabilities=ALL_CAPABILITIES - {"USER"})
    assert "UTF8" in make(no_user).capabilities()
    assert "UTF8 USER" not in make(no_user).capabilities()
    tls_first = Session(ServerConfig(stls_available=True, require_tls=True), {}, timestamp=TS)
    assert "UTF8" in tls_first.capabilities() and "USER" not in tls_first.capabilities()
    tls_first.handle(b"STLS")
    tls_first.tls_started()
    assert "UTF8 USER" in tls_first.capabilities()


def test_stls_is_listed_only_while_it_would_be_accepted() -> None:
    """C-122: STLS leaves CAPA once TLS is active, after UTF8 and after login."""
    stls = ServerConfig(stls_available=True)
    s = make(stls)
    assert "\r\nSTLS\r\n" in send(s, "CAPA")
    assert send(s, "UTF8").startswith("+OK")
    assert "STLS" not in send(s, "CAPA")
    assert send(s, "STLS") == "-ERR STLS is not allowed after UTF8.\r\n"
    s = make(stls)
    assert send(s, "STLS").startswith("+OK")
    s.tls_started()
    assert "STLS" not in send(s, "CAPA")
    s = make(stls)
    login(s)
    assert "STLS" not in send(s, "CAPA")


def test_capabilities_switched_off_answer_err() -> None:
    s = make(ServerConfig(capabilities={"USER"}))
    assert send(s, "CAPA").startswith("-ERR")
    login(s)
    assert send(s, "TOP 1 0").startswith("-ERR")
    assert send(s, "UIDL").startswith("-ERR")


def test_resp_codes_off_means_no_codes() -> None:
    s = make(ServerConfig(capabilities={"USER", "CAPA"}))
    send(s, "USER alice")
    assert send(s, "PASS wrong") == "-ERR Authentication failed.\r\n"


def test_apop_rfc_vector_and_replay() -> None:
    assert apop_digest(TS, "tanstaaf") == "c4c9334bac560ecc979e58001b3e22fb"
    s = make(alice=Mailbox("alice", "tanstaaf"))
    assert send(s, "APOP alice 0000").startswith("-ERR [AUTH]")
    assert send(s, "APOP alice").startswith("-ERR")
    assert send(s, "APOP alice c4c9334bac560ecc979e58001b3e22fb").startswith("+OK")
    other = Session(ServerConfig(), {"alice": Mailbox("alice", "tanstaaf")}, timestamp="<2.2@x>")
    assert send(other, "APOP alice c4c9334bac560ecc979e58001b3e22fb").startswith("-ERR")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_auth_plain_with_and_without_initial_response() -> None:
    s = make()
    assert send(s, "AUTH PLAIN " + b64(b"\0alice\0wonderland")).startswith("+OK")
    s = make()
    assert send(s, "AUTH PLAIN") == "+ \r\n"
    assert send(s, b64(b"\0alice\0wonderland")).startswith("+OK")


def test_auth_plain_wrong_authzid_and_cancel_and_bad_base64() -> None:
    s = make()
    assert send(s, "AUTH PLAIN " + b64(b"bob\0alice\0wonderland")).startswith("-ERR")
    assert send(s, "AUTH PLAIN") == "+ \r\n"
    assert send(s, "*").startswith("-ERR")
    assert send(s, "AUTH PLAIN !!!notbase64!!!").startswith("-ERR")
    assert send(s, "AUTH PLAIN") == "+ \r\n"
    assert send(s, "=AAA").startswith("-ERR")
    login(s)  # a failed AUTH leaves USER/PASS usable


def test_auth_login_and_cram_md5() -> None:
    s = make()
    assert send(s, "AUTH LOGIN") == "+ VXNlcm5hbWU6\r\n"
    assert send(s, b64(b"alice")) == "+ UGFzc3dvcmQ6\r\n"
    assert send(s, b64(b"wonderland")).startswith("+OK")
    s = make()
    challenge_line = send(s, "AUTH CRAM-MD5")
    assert re.fullmatch(r"\+ [A-Za-z0-9+/]*={0,2}\r\n", challenge_line)
    challenge = base64.b64decode(challenge_line[2:])
    answer = f"alice {cram_md5_digest(challenge, 'wonderland')}".encode()
    assert send(s, b64(answer)).startswith("+OK")
    assert send(make(), "AUTH CRAM-MD5 Zm9v").startswith("-ERR")


def test_cram_md5_rfc_vector() -> None:
    challenge = b"<1896.697170952@postoffice.reston.mci.net>"
    assert cram_md5_digest(challenge, "tanstaaftanstaaf") == "b913a602c7eda7a495b4e6e7334d3890"


def test_a_long_cram_md5_challenge_is_sent_whole() -> None:
    """C-151: a SASL challenge is outside the 512-octet line limit (RFC 5034 section 4)."""
    host = "h" * 253
    users = {"alice": Mailbox("alice", "wonderland")}
    s = Session(ServerConfig(hostname=host), users, timestamp=f"<1.2.3@{host}>")
    challenge = send(s, "AUTH CRAM-MD5")
    assert challenge.startswith("+ ") and challenge.endswith("\r\n")
    raw = base64.b64decode(challenge[2:])
    assert raw.endswith(b"@" + b"h" * 253 + b">")
    answer = b64(f"alice {cram_md5_digest(raw, 'wonderland')}".encode())
    assert send(s, answer) == "+OK Logged in.\r\n"
    # Longer than a status line may be, and still sent whole.
    assert Response("+", "A" * 600).encode() == b"+ " + b"A" * 600 + b"\r\n"
    assert len(Response("-ERR", "A" * 600).encode()) == 512


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"texts": {"greeting": "x" * 600}}, "the greeting text is 600 octets"),
        ({"hostname": "h" * 254}, "at most 253 characters"),
        ({"hostname": "mail host"}, "invalid hostname"),
        ({"hostname": "m\u00e4il"}, "invalid hostname"),
        ({"languages": [("[AUTH]", "x")]}, "invalid language tag"),
    ],
)
def test_configuration_that_would_break_a_line_limit_is_refused(
    kwargs: dict[str, object], problem: str
) -> None:
    """C-010, C-021, C-116: the greeting keeps its timestamp; tags read as no code."""
    from pop3mock import ConfigurationError

    with pytest.raises(ConfigurationError, match=re.escape(problem)):
        ServerConfig(**kwargs)  # type: ignore[arg-type]


def test_the_longest_greeting_allowed_keeps_its_timestamp() -> None:
    from pop3mock import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"at most (\d+) octets") as refused:
        ServerConfig(texts={"greeting": "x" * 600})
    limit = int(re.search(r"at most (\d+) octets", str(refused.value)).group(1))  # type: ignore[union-attr]
    config = ServerConfig(texts={"greeting": "x" * limit})
    s = Session(config, {}, timestamp=f"<{'9' * 7}.{'9' * 20}.{'9' * 11}@{config.hostname}>")
    line = s.greeting().encode()
    assert len(line) == 512 and line.endswith(b"@pop3mock.localhost>\r\n")
    # Without APOP there is no timestamp to keep.
    assert ServerConfig(texts={"greeting": "x" * 600}, apop=False).apop is False


def test_xoauth2_and_oauthbearer() -> None:
    box = Mailbox("alice", "pw", token="tok123")
    s = make(alice=box)
    assert send(s, "AUTH XOAUTH2 " + b64(b"user=alice\x01auth=Bearer tok123\x01\x01")).startswith(
        "+OK"
    )
    s = make(alice=Mailbox("alice", "pw", token="tok123"))
    challenge = send(s, "AUTH XOAUTH2 " + b64(b"user=alice\x01auth=Bearer nope\x01\x01"))
    assert challenge.startswith("+ ")
    assert b"invalid_token" in base64.b64decode(challenge[2:])
    assert send(s, "").startswith("-ERR [AUTH]")
    s = make(alice=Mailbox("alice", "pw", token="tok123"))
    msg = b"n,a=alice,\x01host=127.0.0.1\x01port=110\x01auth=Bearer tok123\x01\x01"
    assert send(s, "AUTH OAUTHBEARER " + b64(msg)).startswith("+OK")


def test_bare_auth_lists_mechanisms_and_unknown_mechanism() -> None:
    s = make()
    assert send(s, "AUTH") == (
        "+OK Mechanisms follow.\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\nXOAUTH2\r\nOAUTHBEARER\r\n.\r\n"
    )
    assert send(s, "AUTH FOOBAR").startswith("-ERR")


def test_require_tls_refuses_plaintext_until_tls() -> None:
    s = make(ServerConfig(require_tls=True, stls_available=True))
    capa = send(s, "CAPA")
    assert "STLS\r\n" in capa and "\r\nUSER\r\n" not in capa and "PLAIN" not in capa
    assert send(s, "USER alice").startswith("-ERR")
    response = s.handle(b"STLS")
    assert response.start_tls
    s.tls_started()
    assert "STLS" not in send(s, "CAPA")
    assert send(s, "STLS").startswith("-ERR")
    login(s)


def test_utf8_lang_last() -> None:
    s = make()
    assert send(s, "LANG") == "+OK Languages follow.\r\nen English\r\n.\r\n"
    assert send(s, "LANG en").startswith("+OK en ")
    assert send(s, "LANG xx-bogus").startswith("-ERR")
    assert send(s, "UTF8").startswith("+OK")
    login(s)
    assert send(s, "UTF8").startswith("-ERR")
    assert send(s, "LAST") == "+OK 0\r\n"
    send(s, "RETR 2")
    assert send(s, "LAST") == "+OK 2\r\n"


def test_expire_zero_deletes_retrieved_at_update() -> None:
    box = Mailbox("alice", "wonderland", MESSAGES)
    s = make(ServerConfig(expire="0"), alice=box)
    login(s)
    send(s, "RETR 1")
    send(s, "QUIT")
    assert len(box) == 2


def test_bad_command_limit_closes() -> None:
    s = make(ServerConfig(bad_command_limit=2))
    assert not s.handle(b"FOO").close
    assert s.handle(b"BAR").close


@pytest.mark.parametrize(
    "kwargs",
    [
        {"capabilities": {"NOPE"}},
        {"mechanisms": ["SCRAM"]},
        {"expire": "soon"},
        {"texts": {"nokey": "x"}},
        {"capabilities": {"CAPA"}, "apop": False},
    ],
)
def test_config_errors_name_the_problem(kwargs: dict[str, object]) -> None:
    from pop3mock import ConfigurationError

    with pytest.raises(ConfigurationError):
        ServerConfig(**kwargs)  # type: ignore[arg-type]


VERBS = [
    "USER",
    "PASS",
    "APOP",
    "AUTH",
    "STAT",
    "LIST",
    "RETR",
    "DELE",
    "NOOP",
    "RSET",
    "TOP",
    "UIDL",
    "QUIT",
    "CAPA",
    "STLS",
    "UTF8",
    "LANG",
    "LAST",
    "FOO",
    "",
]
ARGS = st.lists(
    st.one_of(
        st.sampled_from(
            ["alice", "wonderland", "1", "2", "3", "0", "-1", "99", "x", "PLAIN", "*", "="]
        ),
        st.text(max_size=5),
    ),
    max_size=3,
)
LINES = st.one_of(
    st.builds(lambda v, a: " ".join([v, *a]), st.sampled_from(VERBS), ARGS),
    st.text(max_size=30),
).map(lambda t: t.encode("utf-8").replace(b"\r", b"").replace(b"\n", b""))


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, max_size=30))
def test_any_command_stream_gets_one_well_formed_response_each(lines: list[bytes]) -> None:
    box = Mailbox("alice", "wonderland", MESSAGES)
    s = Session(ServerConfig(stls_available=True), {"alice": box}, timestamp=TS)
    assert send(s, "USER alice").startswith("+OK")
    for line in lines:
        if s.closed:
            break
        response = s.handle(line)
        wire = response.encode()
        first, _, rest = wire.partition(b"\r\n")
        assert re.match(rb"^(\+OK|-ERR|\+ )", first + b" ") or first == b"+ "
        assert len(first) + 2 <= 512
        if response.body is None:
            assert rest == b""
        else:
            assert wire.endswith(b"\r\n.\r\n") or wire == first + b"\r\n.\r\n"
        if response.start_tls:
            s.tls_started()
        # Invariants of the view: STAT agrees with LIST.
        if s.state is State.TRANSACTION and s.view is not None:
            count, size = s.view.stat()
            listing = s.view.scan_listing().split(b"\r\n")[:-1]
            assert count == len(listing)
            assert size == sum(int(x.split()[1]) for x in listing)
    if not s.closed:
        s.connection_lost()
        assert len(box) == len(MESSAGES)
    assert not box.locked


def test_trying_an_optional_command_without_capa_is_no_violation() -> None:
    s = make(ServerConfig(capabilities={"USER"}, apop=False))
    login(s)
    for line in (b"UIDL", b"TOP 1 0"):
        response = s.handle(line)
        assert response.status == "-ERR"
        assert response.violation is None
    with_capa = make(ServerConfig(capabilities={"USER", "CAPA"}))
    login(with_capa)
    assert with_capa.handle(b"UIDL").violation == "UIDL sent but not advertised"


_LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "USER alice",
                "PASS wonderland",
                "STAT",
                "LIST",
                "LIST 2",
                "RETR 1",
                "TOP 3 2",
                "DELE 1",
                "RSET",
                "UIDL",
                "NOOP",
                "CAPA",
                "LAST",
                "QUIT",
                "retr 2",
                "pass x",
            ]
        ),
        st.text(max_size=20),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(_LINES)
def test_a_line_split_by_the_caller_is_answered_as_one_split_by_the_session(
    lines: list[str],
) -> None:
    # The server hands the session the split it records (`split=`): the answers, and the
    # state they leave, must be those of a session that splits each line itself.
    mine, theirs = make(), make()
    for text in lines:
        if mine.closed:
            break
        line = text.encode("utf-8", "surrogatepass")
        split = None if mine.in_sasl else Session.verb_of(line)
        ours = mine.handle(line, split=split)
        assert ours == theirs.handle(line)
        assert (mine.state, mine.user, mine.pending_user) == (
            theirs.state,
            theirs.user,
            theirs.pending_user,
        )
