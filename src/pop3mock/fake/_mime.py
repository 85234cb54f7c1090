"""The MIME tree of a generated message: parts with their content budgets, rendering to
bytes, leaves, multipart boundaries in the styles real mailers use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from random import Random

import attrs

# Used by pop3mock.fake._factory and its fake_* modules only.
__all__ = ["CRLF", "Part", "leaf_parts", "new_boundary", "render_body"]

CRLF = b"\r\n"


@attrs.define(eq=False)
class Part:
    headers: list[str]
    parts: list[Part] | None = None
    boundary: str = ""
    preamble: bytes = b""
    terminated: bool = True
    body: bytes = b""
    fill: Callable[[int], bytes] | None = None
    # Leaves share the content budget: the "text" group (body text) and the "attachment"
    # group, each split by weight; `minimum` is what a leaf always gets.
    group: str = "text"
    weight: int = 1
    minimum: int = 0
    budget: int = 0
    flex: bool = False


def render_body(part: Part, out: list[bytes]) -> None:
    if part.parts is None:
        out.append(part.body)
        return
    delimiter = b"--" + part.boundary.encode("ascii")
    if part.preamble:
        out.append(part.preamble + CRLF)
    for n, child in enumerate(part.parts):
        out.append((CRLF if n else b"") + delimiter + CRLF)
        out.append("\r\n".join(child.headers).encode("utf-8") + CRLF + CRLF)
        render_body(child, out)
    if part.terminated:
        out.append(CRLF + delimiter + b"--" + CRLF)


def leaf_parts(part: Part) -> Iterator[Part]:
    if part.parts is None:
        yield part
    else:
        for child in part.parts:
            yield from leaf_parts(child)


def new_boundary(rng: Random) -> str:
    style = rng.randrange(4)
    if style == 0:
        return f"----=_Part_{rng.randrange(10**6)}_{rng.getrandbits(31)}.{rng.getrandbits(40)}"
    if style == 1:
        return f"000000000000{rng.getrandbits(64):016x}"
    if style == 2:
        return "Apple-Mail=_" + "-".join(f"{rng.getrandbits(b):0{b // 4}X}" for b in (32, 16, 64))
    return f"=_{rng.getrandbits(96):024x}"
