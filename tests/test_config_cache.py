"""Servers with the same options share one ServerConfig; any option that makes a different
config (its value, the type of its value, the personality) gives a config of its own."""

from __future__ import annotations

from typing import Any

import pytest

from pop3mock import ConfigurationError, POP3Server
from pop3mock.protocol import _personality, personality_config


def test_servers_with_the_same_options_share_one_config() -> None:
    assert POP3Server().config is POP3Server(users={"a": "pw"}).config
    one = POP3Server(personality="dovecot", apop=False, greeting="hi", mechanisms=["PLAIN"])
    two = POP3Server(personality="dovecot", greeting="hi", mechanisms=["PLAIN"], apop=False)
    assert one.config is two.config


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"apop": True}, {"apop": False}),
        ({"personality": "dovecot"}, {"personality": "gmail"}),
        ({}, {"personality": "rfc1939"}),
        ({"greeting": "one"}, {"greeting": "two"}),
        ({"texts": {"quit": "bye"}}, {"texts": {"quit": "so long"}}),
        ({"mechanisms": ["PLAIN"]}, {"mechanisms": ["PLAIN", "LOGIN"]}),
        ({"capabilities": ("USER", "CAPA")}, {"capabilities": ("USER", "CAPA", "TOP")}),
        ({"login_delay": 1}, {"login_delay": 2}),
        ({"auth_failure_delay": 0.0}, {"auth_failure_delay": -0.0}),
        ({"stls": False}, {"stls": True}),
        ({"hostname": "a.test"}, {"hostname": "b.test"}),
    ],
)
def test_different_options_never_share_a_config(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    for options in (first, second):  # each order: either one may be in the cache first
        other = second if options is first else first
        a, b = POP3Server(**options).config, POP3Server(**other).config
        assert a is not b
        assert a == POP3Server(**options, check_faults=False).config
        assert repr(a) != repr(b)


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        ({"apop": True}, {"apop": 1}),  # equal, and of the same hash, but not a bool
        ({"apop": False}, {"apop": 0}),
        ({"login_delay": 1}, {"login_delay": 1.0}),  # 1 == 1.0: a whole number is asked for
        ({"max_auth_failures": 3}, {"max_auth_failures": 3.0}),
        ({"strict_arguments": True}, {"strict_arguments": 1.0}),
    ],
)
def test_a_value_equal_to_a_cached_one_is_still_checked(
    good: dict[str, Any], bad: dict[str, Any]
) -> None:
    assert POP3Server(**good).config is POP3Server(**good).config
    with pytest.raises(ConfigurationError):
        POP3Server(**bad)


def test_changing_a_dict_after_giving_it_changes_nothing_given_before() -> None:
    texts = {"quit": "bye"}
    first = POP3Server(texts=texts).config
    texts["quit"] = "so long"
    second = POP3Server(texts=texts).config
    assert (first.text("quit"), second.text("quit")) == ("bye", "so long")


def test_values_of_other_kinds_are_not_cached() -> None:
    # A value whose text changes between two servers: what it says each time is used.
    class Mechanism:
        names = iter(["PLAIN", "LOGIN"])

        def __str__(self) -> str:
            return next(self.names)

    mechanism = Mechanism()
    first = POP3Server(mechanisms=[mechanism]).config
    second = POP3Server(mechanisms=[mechanism]).config
    assert (first.mechanisms, second.mechanisms) == (("PLAIN",), ("LOGIN",))


def test_the_config_cache_is_bounded() -> None:
    for n in range(_personality._CACHED_CONFIGS + 20):
        assert personality_config(texts={"quit": f"bye {n}"}).text("quit") == f"bye {n}"
    assert _personality._cached_config.cache_info().currsize <= _personality._CACHED_CONFIGS
