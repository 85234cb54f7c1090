"""A read-only, hashable mapping for the values of frozen configuration."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from pop3mock.errors import ConfigurationError

__all__ = ["FrozenMap", "as_dict"]

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V], Generic[K, V]):
    """A copy of a mapping that cannot change: equal to any mapping with the same items,
    hashable when its values are, shown as a dict.

    Configuration keeps these instead of the caller's dict, so that changing that dict
    afterwards changes nothing (and skips no check).
    """

    __slots__ = ("_data", "_hash", "get")

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._data: dict[K, V] = dict(items)
        self._hash: int | None = None
        # The dict's own get, not Mapping.get (through __getitem__ and an exception for a
        # missing key) nor a method calling it: reply texts are looked up for every reply.
        self.get = self._data.get  # type: ignore[method-assign]

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return repr(self._data)


def as_dict(value: object, name: str) -> dict[Any, Any]:
    """A dict of the items of `value` (a mapping or pairs), or a ConfigurationError."""
    try:
        items: dict[Any, Any] = dict(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a mapping, not {value!r}") from None
    return items
