"""The capabilities pop3mock can advertise, their default order, and the CAPA reply lines
for a session's state (RFC 2449 section 5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pop3mock.protocol._config import ServerConfig

__all__ = ["ALL_CAPABILITIES", "DEFAULT_CAPA_ORDER", "capability_lines"]

#: Every capability pop3mock can advertise and switch off. CAPA itself is one: without it
#: the server is a bare RFC 1939 server that answers CAPA with -ERR.
ALL_CAPABILITIES = frozenset(
    {
        "CAPA",
        "TOP",
        "UIDL",
        "USER",
        "SASL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "LOGIN-DELAY",
        "EXPIRE",
        "IMPLEMENTATION",
        "STLS",
        "UTF8",
        "LANG",
    }
)

#: The order of the CAPA reply lines unless a personality says otherwise. "CAPA" is in the
#: order table only so that a personality can list it (Dovecot does); it is never listed by
#: default.
DEFAULT_CAPA_ORDER: tuple[str, ...] = (
    "TOP",
    "UIDL",
    "RESP-CODES",
    "AUTH-RESP-CODE",
    "PIPELINING",
    "STLS",
    "USER",
    "SASL",
    "LOGIN-DELAY",
    "EXPIRE",
    "UTF8",
    "LANG",
    "IMPLEMENTATION",
)


def capability_lines(
    config: ServerConfig,
    *,
    logged_in: bool,
    user: str | None,
    tls: bool,
    utf8: bool,
    login_allowed: bool,
    mechanisms: tuple[str, ...],
) -> list[str]:
    """The CAPA lines for a session's state, in the configured order.

    What is listed is exactly what works now: STLS only before TLS, UTF8 and login
    (RFC 2595 section 4), USER and SASL only while a login is allowed (SASL stays listed
    after login, RFC 5034 section 3), per-user LOGIN-DELAY / EXPIRE as RFC 2449 section 6
    says (`user`: the logged-in one, None before login). CAPA itself is listed only by a
    personality that puts it in `capa_order`.
    """
    lines: dict[str, str] = {
        tag: tag for tag in ("CAPA", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE")
    }
    lines["PIPELINING"] = "PIPELINING"
    # STLS is refused after UTF8 (RFC 6856 section 2).
    if config.stls_available and not tls and not utf8 and not logged_in:
        lines["STLS"] = "STLS"
    if login_allowed:
        lines["USER"] = "USER"
    if mechanisms:
        lines["SASL"] = "SASL " + " ".join(mechanisms)
    delay = config.login_delay_capability(user)
    if delay is not None:
        lines["LOGIN-DELAY"] = f"LOGIN-DELAY {delay}"
    expire = config.expire_capability(user)
    if expire is not None:
        lines["EXPIRE"] = f"EXPIRE {expire}"
    # The USER argument promises UTF-8 in USER/PASS (RFC 6856 section 2): only while
    # they are offered.
    lines["UTF8"] = "UTF8 USER" if "USER" in lines and config.has("USER") else "UTF8"
    lines["LANG"] = "LANG"
    if config.implementation:
        lines["IMPLEMENTATION"] = f"IMPLEMENTATION {config.implementation}"
    if logged_in and config.capa_after_login is not None:
        order = list(config.capa_after_login)
    else:
        order = list(config.capa_order)
        if config.capa_after_login is None:
            order += [tag for tag in DEFAULT_CAPA_ORDER if tag not in order]
        # else: the two lists are given in full; one offered only after login is not
        # listed before it.
    return [lines[tag] for tag in order if tag in lines and config.has(tag)]
