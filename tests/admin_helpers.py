"""A small client of the HTTP control API for the tests (http.client over loopback)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any

__all__ = ["ApiClient", "Reply"]


class Reply:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.body[:200]!r}>"


class ApiClient:
    """One keep-alive connection to the API; `call` sends JSON (a dict) or raw bytes."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 20.0) -> None:
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        self.host, self.port = parts.hostname, parts.port
        self.token = token
        self.timeout = timeout
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        data: bytes | None = None
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        elif isinstance(body, (bytes, str)):
            data = body.encode() if isinstance(body, str) else body
        if content_type is not None:
            sent["Content-Type"] = content_type
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        try:
            self.conn.request(method, path, body=data, headers=sent)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
            # The server closed a kept-alive connection (after a refused body): once more.
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.request(method, path, body=data, headers=sent)
            response = self.conn.getresponse()
        reply = Reply(response.status, response.headers, response.read())
        if response.will_close:
            self.conn.close()
        return reply

    def get(self, path: str) -> Any:
        reply = self.call("GET", path)
        assert reply.status == 200, reply
        return reply.json()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
