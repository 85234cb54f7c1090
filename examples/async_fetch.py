"""An asyncio POP3 client on the standard library's streams: fetch several accounts at once.

python async_fetch.py HOST PORT USER:PASSWORD [USER:PASSWORD...]
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections.abc import Sequence

__all__ = ["POP3Error", "fetch_all", "fetch_many"]


class POP3Error(Exception):
    """The server answered -ERR (the reply is the message)."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def status(self) -> str:
        line = await self.reader.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text.startswith("+OK"):
            raise POP3Error(text)
        return text

    async def command(self, line: str) -> str:
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()
        return await self.status()

    async def multiline(self, line: str) -> bytes:
        await self.command(line)
        body = bytearray()
        while True:
            raw = await self.reader.readline()
            if not raw:
                raise ConnectionError("the connection closed inside a multi-line reply")
            if raw == b".\r\n":
                return bytes(body)
            body += raw[1:] if raw.startswith(b"..") else raw  # undo byte-stuffing


async def fetch_all(
    host: str,
    port: int,
    user: str,
    password: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> list[bytes]:
    """Every message of one mailbox, without deleting anything."""
    reader, writer = await asyncio.open_connection(host, port, ssl=ssl_context)
    pop = _Connection(reader, writer)
    try:
        await pop.status()  # the greeting
        await pop.command(f"USER {user}")
        await pop.command(f"PASS {password}")
        count = int((await pop.command("STAT")).split()[1])
        messages = [await pop.multiline(f"RETR {n}") for n in range(1, count + 1)]
        await pop.command("QUIT")
        return messages
    except POP3Error:
        with contextlib.suppress(POP3Error, ConnectionError):
            await pop.command("QUIT")  # leave politely; nothing was deleted anyway
        raise
    finally:
        writer.close()
        await writer.wait_closed()


async def fetch_many(
    host: str,
    port: int,
    accounts: Sequence[tuple[str, str]],
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, list[bytes]]:
    """Fetch several mailboxes concurrently, one connection each."""
    results = await asyncio.gather(
        *(fetch_all(host, port, u, p, ssl_context=ssl_context) for u, p in accounts)
    )
    return {user: messages for (user, _), messages in zip(accounts, results, strict=True)}


def main(argv: list[str]) -> int:
    host, port, *pairs = argv
    accounts = [(user, password) for user, _, password in (p.partition(":") for p in pairs)]
    results = asyncio.run(fetch_many(host, int(port), accounts))
    for user, messages in results.items():
        print(f"{user}: {len(messages)} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
