"""`HttpRequest`: an immutable description of one HTTP call."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, TypeAlias, final

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from ._context import HttpContext

__all__ = ["HeadersLike", "HttpRequest", "ParamsLike", "ResponseType"]

ResponseType: TypeAlias = Literal["json", "text", "bytes"]
HeadersLike: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]
ParamsLike: TypeAlias = Mapping[str, str | int | float] | Iterable[tuple[str, str]]
FormData: TypeAlias = Mapping[str, str]

_RESPONSE_TYPES: Final = ("json", "text", "bytes")
_EMPTY_CONTEXT: Final = HttpContext()
_request_ids = itertools.count(1)


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Final = _Unset()


@final
class HttpRequest:
    """One HTTP call, described but not sent.

    A request never changes; `clone` returns a changed copy. That is what
    lets an interceptor attach a header without surprising the code that
    built the request, and what lets a retry start again from the original:

    ```python
    request = HttpRequest("GET", "https://api.example.com/user")
    authorized = request.clone(set_headers={"Authorization": "Bearer ..."})
    assert "Authorization" not in request.headers
    ```

    Headers are case-insensitive. The body is `json` (any JSON value but
    `None`) or `data` (form fields or raw bytes), never both. `id` is a
    number that stays with the request across clones, for logs and events.
    """

    __slots__ = (
        "context",
        "data",
        "headers",
        "id",
        "json",
        "method",
        "params",
        "report_progress",
        "response_type",
        "url",
    )

    method: str
    url: str
    headers: CIMultiDictProxy[str]
    params: tuple[tuple[str, str], ...]
    json: Any
    data: bytes | FormData | None
    context: HttpContext
    response_type: ResponseType
    report_progress: bool
    id: int

    def __init__(
        self,
        method: str,
        url: str | URL,
        *,
        headers: HeadersLike | None = None,
        params: ParamsLike | None = None,
        json: Any = None,
        data: bytes | FormData | None = None,
        context: HttpContext | None = None,
        response_type: ResponseType = "json",
        report_progress: bool = False,
    ) -> None:
        if not isinstance(method, str) or not method:
            raise ValueError(f"method must be a non-empty string, got {method!r}")
        if json is not None and data is not None:
            raise ValueError("a request has one body: pass json or data, not both")
        if response_type not in _RESPONSE_TYPES:
            raise ValueError(
                f"response_type must be one of {_RESPONSE_TYPES}, got {response_type!r}"
            )

        setattr_ = object.__setattr__
        setattr_(self, "method", method.upper())
        setattr_(self, "url", str(url))
        setattr_(self, "headers", _freeze_headers(headers))
        setattr_(self, "params", _freeze_params(params))
        setattr_(self, "json", json)
        setattr_(self, "data", _freeze_data(data))
        setattr_(self, "context", context if context is not None else _EMPTY_CONTEXT)
        setattr_(self, "response_type", response_type)
        setattr_(self, "report_progress", report_progress)
        setattr_(self, "id", next(_request_ids))

    def clone(
        self,
        *,
        method: str | _Unset = _UNSET,
        url: str | URL | _Unset = _UNSET,
        headers: HeadersLike | _Unset = _UNSET,
        set_headers: Mapping[str, str] | None = None,
        params: ParamsLike | _Unset = _UNSET,
        json: Any = _UNSET,
        data: bytes | FormData | _Unset | None = _UNSET,
        context: HttpContext | _Unset = _UNSET,
        response_type: ResponseType | _Unset = _UNSET,
        report_progress: bool | _Unset = _UNSET,
    ) -> HttpRequest:
        """A copy with the given parts changed; the copy keeps this `id`.

        `headers` replaces every header; `set_headers` sets (or replaces)
        only the headers it names and keeps the rest.
        """
        if isinstance(method, _Unset) and isinstance(url, _Unset):
            changed = self._copy()
        else:
            changed = HttpRequest(
                self.method if isinstance(method, _Unset) else method,
                self.url if isinstance(url, _Unset) else url,
            )
            changed._take_from(self)

        setattr_ = object.__setattr__
        if not isinstance(headers, _Unset):
            setattr_(changed, "headers", _freeze_headers(headers))
        if set_headers:
            merged = CIMultiDict(changed.headers)
            merged.update(set_headers)
            setattr_(changed, "headers", CIMultiDictProxy(merged))
        if not isinstance(params, _Unset):
            setattr_(changed, "params", _freeze_params(params))
        if json is not _UNSET or not isinstance(data, _Unset):
            json_given = json is not _UNSET and json is not None
            data_given = not isinstance(data, _Unset) and data is not None
            if json_given and data_given:
                raise ValueError("a request has one body: pass json or data, not both")
            new_json = changed.json if json is _UNSET else json
            new_data = changed.data if isinstance(data, _Unset) else _freeze_data(data)
            if json_given:
                new_data = None
            elif data_given:
                new_json = None
            setattr_(changed, "json", new_json)
            setattr_(changed, "data", new_data)
        if not isinstance(context, _Unset):
            setattr_(changed, "context", context)
        if not isinstance(response_type, _Unset):
            if response_type not in _RESPONSE_TYPES:
                raise ValueError(f"response_type must be one of {_RESPONSE_TYPES}")
            setattr_(changed, "response_type", response_type)
        if not isinstance(report_progress, _Unset):
            setattr_(changed, "report_progress", report_progress)
        return changed

    @property
    def url_with_params(self) -> str:
        """The URL with `params` appended to its query string."""
        if not self.params:
            return self.url
        return str(URL(self.url).extend_query(self.params))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"HttpRequest is immutable; use clone({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("HttpRequest is immutable")

    def __repr__(self) -> str:
        # Header names only: an Authorization or Cookie value is a secret.
        names = sorted({name.lower() for name in self.headers})
        return (
            f"<HttpRequest #{self.id} {self.method} {self.url}"
            f" headers={names} context={self.context!r}>"
        )

    def _copy(self) -> HttpRequest:
        copy = object.__new__(HttpRequest)
        for name in HttpRequest.__slots__:
            object.__setattr__(copy, name, getattr(self, name))
        return copy

    def _take_from(self, other: HttpRequest) -> None:
        for name in HttpRequest.__slots__:
            if name not in ("method", "url"):
                object.__setattr__(self, name, getattr(other, name))


def _freeze_headers(headers: HeadersLike | None) -> CIMultiDictProxy[str]:
    if headers is None:
        return _NO_HEADERS
    # Copied even when given a proxy: a proxy shows every later change to
    # the dict behind it, and the caller may still hold that dict.
    if isinstance(headers, Mapping):
        return CIMultiDictProxy(CIMultiDict(headers))
    return CIMultiDictProxy(CIMultiDict(list(headers)))


def _freeze_data(data: bytes | FormData | None) -> bytes | FormData | None:
    if data is None or isinstance(data, bytes):
        return data
    if not isinstance(data, Mapping):
        raise TypeError(
            f"data must be bytes or a mapping of form fields, got {type(data)}"
        )
    # A read-only copy that aiohttp still encodes as form fields, which it
    # does not do for every `Mapping` (a `MappingProxyType`, say).
    return MultiDictProxy(MultiDict(data))


def _freeze_params(params: ParamsLike | None) -> tuple[tuple[str, str], ...]:
    if params is None:
        return ()
    pairs = params.items() if isinstance(params, Mapping) else params
    return tuple((str(key), str(value)) for key, value in pairs)


_NO_HEADERS: Final = CIMultiDictProxy(CIMultiDict[str]())
