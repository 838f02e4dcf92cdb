"""Typed per-request values: `HttpContextToken` keys in an immutable `HttpContext`."""

from __future__ import annotations

from collections.abc import Iterator
from types import MappingProxyType
from typing import Any, Generic, TypeVar, final

__all__ = ["HttpContext", "HttpContextToken"]

T = TypeVar("T")


@final
class HttpContextToken(Generic[T]):
    """A typed key for `HttpContext`, with the value a request has by default.

    Tokens compare by identity, so two tokens with the same name never clash:

    ```python
    RETRIED = HttpContextToken(False, name="RETRIED")
    context = HttpContext().set(RETRIED, True)
    assert context.get(RETRIED) is True
    ```
    """

    __slots__ = ("default", "name")

    def __init__(self, default: T, *, name: str = "") -> None:
        self.default = default
        self.name = name

    def __repr__(self) -> str:
        label = self.name or hex(id(self))
        return f"HttpContextToken({label}, default={self.default!r})"


@final
class HttpContext:
    """Per-request values, read with `get` and changed with `set`.

    A context never changes once made: `set` returns a new context, so a
    request cloned with a new context leaves the original request as it was.
    """

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: MappingProxyType[HttpContextToken[Any], Any] = MappingProxyType(
            {}
        )

    def get(self, token: HttpContextToken[T]) -> T:
        """The value set for `token`, or the token's default."""
        value: T = self._values.get(token, token.default)
        return value

    def set(self, token: HttpContextToken[T], value: T) -> HttpContext:
        """A copy of this context with `token` set to `value`."""
        changed = HttpContext()
        changed._values = MappingProxyType({**self._values, token: value})
        return changed

    def delete(self, token: HttpContextToken[Any]) -> HttpContext:
        """A copy of this context in which `token` has its default again."""
        changed = HttpContext()
        changed._values = MappingProxyType(
            {key: value for key, value in self._values.items() if key is not token}
        )
        return changed

    def has(self, token: HttpContextToken[Any]) -> bool:
        """Whether `token` was set, even to its default value."""
        return token in self._values

    def keys(self) -> Iterator[HttpContextToken[Any]]:
        return iter(self._values)

    def __repr__(self) -> str:
        names = ", ".join(token.name or "?" for token in self._values)
        return f"HttpContext({names})"
