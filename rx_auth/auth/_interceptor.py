"""`AuthInterceptor`: attaches the token, and hands 401s to `AuthService`."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import final

from reactivex import Observable
from yarl import URL

from ..http import HttpErrorResponse, HttpEvent, HttpHandler, HttpRequest
from ..http._direct import Deferred
from ..http._operators import catch, flat_map, throw
from ._service import AuthService, Generation
from ._skip import SKIP_AUTH
from ._tokens import authorize

__all__ = ["AuthInterceptor"]


@final
class AuthInterceptor:
    """Sends the access token to the origins you trust, and recovers from 401s.

    ```python
    auth_interceptor = AuthInterceptor(auth, allowed_origins=["https://api.example.com"])
    client = HttpClient(backend, interceptors=[logging, auth_interceptor])
    ```

    A request to an origin (scheme, host and port) in `allowed_origins`
    gets `Authorization: <type> <token>`; any other request, and any with
    `SKIP_AUTH` set in its context, passes through untouched. A 401 goes
    to `auth.handle_401_error`, which refreshes once for all and retries;
    every other error reaches the caller as it was.
    """

    __slots__ = ("_allowed", "_auth")

    def __init__(self, auth: AuthService, *, allowed_origins: Iterable[str]) -> None:
        self._auth = auth
        self._allowed = frozenset(_origin(origin) for origin in allowed_origins)
        if not self._allowed:
            raise ValueError(
                "allowed_origins is empty, so no request would get a token;"
                ' name the API origins, e.g. ["https://api.example.com"]'
            )

    def intercept(
        self, request: HttpRequest, next: HttpHandler
    ) -> Observable[HttpEvent]:
        if request.context.get(SKIP_AUTH) or not self._trusts(request.url):
            return next.handle(request)
        return Deferred(partial(self._send, request, next))

    def _send(self, request: HttpRequest, next: HttpHandler) -> Observable[HttpEvent]:
        sent_with = self._auth.current()
        if sent_with is None:  # store not read yet, or the token is expiring
            return self._auth.ready(request, next).pipe(
                flat_map(partial(self._send_with, request, next))
            )
        return self._send_with(request, next, sent_with)

    def _send_with(
        self, request: HttpRequest, next: HttpHandler, sent_with: Generation
    ) -> Observable[HttpEvent]:
        authorized = authorize(request, sent_with.tokens)

        def on_error(
            error: Exception, _: Observable[HttpEvent]
        ) -> Observable[HttpEvent]:
            if isinstance(error, HttpErrorResponse) and error.status == 401:
                return self._auth.handle_401_error(
                    authorized, next, sent_with=sent_with
                )
            return throw(error)

        return next.handle(authorized).pipe(catch(on_error))

    def _trusts(self, url: str) -> bool:
        try:
            return _origin(url) in self._allowed
        except ValueError:
            return False


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = URL(url)
    if not parsed.absolute or parsed.scheme not in ("http", "https"):
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return (parsed.scheme, parsed.host or "", parsed.explicit_port or parsed.port)
