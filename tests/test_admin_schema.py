"""Schemathesis against the live control API: generated requests from the OpenAPI document,
valid and not, must never get a 5xx nor a reply the document does not describe.

Two bounds of the document are narrowed for the run, so that it stays fast: the long-poll's
timeout (up to 60 s) and the count of generated messages one call may add (up to 1,000,000).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pop3mock import POP3Server
from pop3mock.admin import AdminServer, openapi_document


def _narrowed() -> dict[str, Any]:
    document = openapi_document()
    wait = document["paths"]["/journal/wait"]["get"]["parameters"]
    next(p for p in wait if p["name"] == "timeout")["schema"]["maximum"] = 0.05
    for name in ("NewUser", "NewMessages"):
        document["components"]["schemas"][name]["properties"]["fake"]["maximum"] = 20
    return document


@schemathesis.serializer("message/rfc822")
def _raw_message(context: Any, value: Any) -> bytes | None:
    # A generated string becomes the message's bytes, as a client would send them.
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")


schema = schemathesis.openapi.from_dict(_narrowed())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def live() -> Iterator[str]:
    # Generated requests add, remove and reset rules at random: whether one fired says
    # nothing here; a failure inside the server does (server.errors).
    server = POP3Server(users={"alice": "secret"}, check_faults=False)
    server.mailbox("alice").add(b"Subject: one\r\n\r\n1\r\n")
    server.faults.add_spec("NOOP once: error configured")
    with server, AdminServer(server) as admin:
        yield admin.url
    server.check()


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_generated_requests_get_documented_replies(case: Any, live: str) -> None:
    case.call_and_validate(base_url=live, checks=CHECKS, timeout=10)
