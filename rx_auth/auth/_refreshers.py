"""Refreshers: how to trade a refresh token for new tokens.

A refresher is any callable `(tokens, next) -> Observable[Tokens]`. It sends
its request through `next`, the rest of the interceptor chain, so the
interceptors inside auth (logging, say) see the refresh call too. Two come
with the library: the OAuth2 grant and the JSON endpoint of the lesson.
"""

from __future__ import annotations

import json
import time
from base64 import b64encode
from collections.abc import Callable, Mapping
from typing import Any, Protocol, final
from urllib.parse import quote_plus

from reactivex import Observable
from reactivex import operators as ops

from ..http import HttpEvent, HttpHandler, HttpRequest, HttpResponse
from ._errors import RefreshRejected, RefreshUnavailable
from ._skip import SKIPPING_AUTH
from ._tokens import Tokens

__all__ = ["JsonRefreshEndpoint", "OAuth2RefreshTokenGrant", "Refresher"]

Clock = Callable[[], float]

# Token responses are a few hundred bytes; anything this large is not one.
_MAX_RESPONSE = 64 * 1024


class Refresher(Protocol):
    """Sends the refresh request through `next` and emits the new tokens.

    Fail with `RefreshRejected` when the refresh token is refused for good;
    any other failure is taken as `RefreshUnavailable` (see
    `as_refresh_error` for how HTTP errors are classified).
    """

    def __call__(self, tokens: Tokens, next: HttpHandler) -> Observable[Tokens]: ...


@final
class OAuth2RefreshTokenGrant:
    """The refresh token grant of RFC 6749 section 6.

    Posts `grant_type=refresh_token` form-encoded to `token_url`. A client
    with a secret authenticates with HTTP Basic (section 2.3.1); a public
    client sends its `client_id` in the form. A response without a new
    refresh token keeps the old one; a new one replaces it (rotation).

    ```python
    refresher = OAuth2RefreshTokenGrant(
        "https://auth.example.com/oauth/token", client_id="app", client_secret=s
    )
    ```
    """

    def __init__(
        self,
        token_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        scope: str | None = None,
        clock: Clock = time.time,
    ) -> None:
        if client_secret is not None and client_id is None:
            raise ValueError("client_secret needs a client_id to go with it")
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._clock = clock

    def __call__(self, tokens: Tokens, next: HttpHandler) -> Observable[Tokens]:
        if tokens.refresh_token is None:
            raise RefreshRejected("there is no refresh token to refresh with")
        request = HttpRequest(
            "POST",
            self.token_url,
            headers=self._headers(),
            data=self._form(tokens.refresh_token),
            context=SKIPPING_AUTH,
        )
        return _exchange(request, next, tokens, self._clock)

    def _form(self, refresh_token: str) -> dict[str, str]:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if self._scope is not None:
            form["scope"] = self._scope
        if self._client_id is not None and self._client_secret is None:
            form["client_id"] = self._client_id
        return form

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._client_id is not None and self._client_secret is not None:
            # Section 2.3.1: both parts are form-encoded before Basic encoding.
            pair = f"{quote_plus(self._client_id)}:{quote_plus(self._client_secret)}"
            headers["Authorization"] = "Basic " + b64encode(pair.encode()).decode(
                "ascii"
            )
        return headers

    def __repr__(self) -> str:
        client = f"client_id={self._client_id!r}"
        return f"OAuth2RefreshTokenGrant({self.token_url!r}, {client})"


@final
class JsonRefreshEndpoint:
    """A `POST` with a JSON body, as in the lesson's `/api/auth/refresh`.

    Sends `{"refresh_token": ...}` (or under `body_key`), and reads either
    `access_token`/`refresh_token` or `accessToken`/`refreshToken` back,
    with an optional `expires_in` in seconds.
    """

    def __init__(
        self, url: str, *, body_key: str = "refresh_token", clock: Clock = time.time
    ) -> None:
        self.url = url
        self._body_key = body_key
        self._clock = clock

    def __call__(self, tokens: Tokens, next: HttpHandler) -> Observable[Tokens]:
        if tokens.refresh_token is None:
            raise RefreshRejected("there is no refresh token to refresh with")
        request = HttpRequest(
            "POST",
            self.url,
            json={self._body_key: tokens.refresh_token},
            context=SKIPPING_AUTH,
        )
        return _exchange(request, next, tokens, self._clock, _from_camel_case)

    def __repr__(self) -> str:
        return f"JsonRefreshEndpoint({self.url!r})"


def _exchange(
    request: HttpRequest,
    next: HttpHandler,
    previous: Tokens,
    clock: Clock,
    rename: Callable[[Any], Any] | None = None,
) -> Observable[Tokens]:
    """Send `request` and read its answer as a token response."""

    def to_tokens(event: HttpEvent) -> Tokens:
        assert isinstance(event, HttpResponse)
        try:
            body = _parse(event.body)
            if rename is not None:
                body = rename(body)
            return Tokens.from_response(body, now=clock(), previous=previous)
        except ValueError as error:
            raise RefreshUnavailable(f"bad token response: {error}") from error

    # Read as text and parse here, so that an oversized or non-JSON answer
    # is told apart from a JSON one of the wrong shape.
    as_text = request.clone(response_type="text")
    return next.handle(as_text).pipe(
        ops.filter(_is_response),
        ops.map(to_tokens),
    )


def _parse(text: str) -> Any:
    if len(text) > _MAX_RESPONSE:
        raise ValueError(
            f"the answer is too large ({len(text)} characters;"
            f" a token response is under {_MAX_RESPONSE})"
        )
    if not text.strip():
        raise ValueError("the answer is empty")
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError("the answer is not JSON") from None


def _is_response(event: HttpEvent) -> bool:
    return isinstance(event, HttpResponse)


def _from_camel_case(body: Any) -> Any:
    if not isinstance(body, Mapping):
        return body
    renamed = dict(body)
    for camel, snake in (
        ("accessToken", "access_token"),
        ("refreshToken", "refresh_token"),
    ):
        if camel in renamed and snake not in renamed:
            renamed[snake] = renamed.pop(camel)
    return renamed
