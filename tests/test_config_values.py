"""ServerConfig is a value: deeply frozen, hashable, and independent of the containers it
was given."""

from __future__ import annotations

import poplib
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pop3mock import ConfigurationError, POP3Server, ServerConfig
from pop3mock.protocol import ALL_CAPABILITIES, DEFAULT_CAPA_ORDER


def test_changing_the_callers_containers_afterwards_changes_nothing() -> None:
    texts = {"greeting": "Hello.", "noop": "Fine."}
    expire = {"bob": 3}
    delay = {"bob": 60}
    order = ["UIDL", "TOP"]
    config = ServerConfig(
        texts=texts,
        user_expire=expire,
        user_login_delay=delay,
        capa_order=order,
        login_delay=10,
    )
    texts["greeting"] = "Changed\r\n[with a line end]"
    expire["bob"] = 99
    delay["carol"] = 1
    order.append("USER")
    assert config.text("greeting") == "Hello."
    assert config.texts == {"greeting": "Hello.", "noop": "Fine."}
    assert config.user_expire == {"bob": "3"}
    assert config.user_login_delay == {"bob": 60}
    assert config.capa_order == ("UIDL", "TOP")


def test_the_containers_of_a_config_cannot_be_changed() -> None:
    config = ServerConfig(texts={"greeting": "Hello."}, user_expire={"bob": 3})
    with pytest.raises(TypeError):
        config.texts["greeting"] = "Changed."  # type: ignore[index]
    with pytest.raises(TypeError):
        config.user_expire["bob"] = "1"  # type: ignore[index]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.texts = {}  # type: ignore[misc]


def test_a_live_servers_greeting_does_not_follow_the_callers_dict() -> None:
    texts = {"greeting": "Hello from the config."}
    with POP3Server(config=ServerConfig(texts=texts), users={"alice": "pw"}) as server:
        texts["greeting"] = "Changed afterwards."
        for _ in range(2):
            client = poplib.POP3(server.host, server.port, timeout=10)
            try:
                assert b"Hello from the config." in client.getwelcome()
            finally:
                client.quit()
    server.check()


def test_hash_works_and_equal_configs_hash_equal() -> None:
    assert hash(ServerConfig()) == hash(ServerConfig())
    a = ServerConfig(texts={"greeting": "Hi."}, user_expire={"bob": "3"}, user_login_delay={})
    b = ServerConfig(texts=[("greeting", "Hi.")], user_expire=[("bob", 3)])
    assert a == b and hash(a) == hash(b)
    assert a != ServerConfig(texts={"greeting": "Hello."})
    assert len({a, b, ServerConfig()}) == 2


def test_the_texts_are_shown_and_compared_as_a_dict() -> None:
    config = ServerConfig(texts={"greeting": "Hi."})
    assert "texts={'greeting': 'Hi.'}" in repr(config)
    assert config.texts == {"greeting": "Hi."}
    assert dict(config.texts) == {"greeting": "Hi."}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"texts": ["greeting"]}, "texts must be a mapping"),
        ({"texts": {"greeting": 5}}, "reply text 'greeting' must be a string"),
        ({"user_expire": 7}, "user_expire must be a mapping"),
    ],
)
def test_containers_of_the_wrong_kind_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ServerConfig(**options)


_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n["), max_size=20).filter(
    lambda t: not t.startswith("[")
)
_USERS = st.text("abcxyz", min_size=1, max_size=4)


@st.composite
def _configs(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(
        st.lists(st.sampled_from(["greeting", "noop", "quit", "retr", "uidl"]), unique=True)
    )
    capabilities = draw(st.sets(st.sampled_from(sorted(ALL_CAPABILITIES)))) | {"USER"}
    return {
        "texts": {key: draw(_TEXT) for key in keys},
        "user_expire": draw(st.dictionaries(_USERS, st.integers(0, 400) | st.just("NEVER"))),
        "user_login_delay": draw(st.dictionaries(_USERS, st.integers(0, 3600))),
        "capa_order": draw(st.permutations(DEFAULT_CAPA_ORDER)),
        "capabilities": sorted(capabilities - {"STLS"}),
        "apop_only_users": draw(st.sets(_USERS, max_size=3)),
        "languages": [("en", "English"), ("de", draw(_TEXT))],
    }


@settings(max_examples=60, deadline=None)
@given(_configs())
def test_round_trip_through_the_field_values(options: dict[str, Any]) -> None:
    config = ServerConfig(**options)
    again = ServerConfig(**{f.name: getattr(config, f.name) for f in attrs.fields(ServerConfig)})
    assert again == config
    assert hash(again) == hash(config)
    assert attrs.evolve(config) == config
    assert config.texts == options["texts"]
    # The values are immutable all the way down.
    for field in attrs.fields(ServerConfig):
        hash(getattr(config, field.name))
