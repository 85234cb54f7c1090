"""The HTTP control API of a running POP3Server: pop3mock for tests in any language.

    from pop3mock import POP3Server
    from pop3mock.admin import AdminServer

    with POP3Server(users={"alice": "secret"}) as pop, AdminServer(pop) as admin:
        print(admin.url)  # GET /health, POST /users/alice/messages, ...

`pop3mock serve --admin-port 0` serves the same API. docs/admin.md describes every route.
"""

from __future__ import annotations

from ._openapi import document as openapi_document
from ._server import DEFAULT_MAX_BODY, AdminServer, is_loopback

__all__ = ["DEFAULT_MAX_BODY", "AdminServer", "is_loopback", "openapi_document"]
