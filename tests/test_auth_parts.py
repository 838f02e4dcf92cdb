"""Tokens, refreshers, error classification and the interceptor's origin rule."""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

import pytest
import reactivex as rx
from reactivex import Observable

from rx_auth import (
    SKIP_AUTH,
    AuthInterceptor,
    AuthService,
    HttpClient,
    HttpErrorResponse,
    HttpHandler,
    HttpRequest,
    JsonRefreshEndpoint,
    MemoryTokenStore,
    OAuth2RefreshTokenGrant,
    RefreshRejected,
    RefreshUnavailable,
    Tokens,
    TokenStore,
    TokenStoreError,
)
from rx_auth.auth._errors import as_refresh_error
from rx_auth.testing import HttpTestingBackend

from .auth_support import API, TOKEN_URL

SECRET_ACCESS = "s3cret-access-value"
SECRET_REFRESH = "s3cret-refresh-value"


# Tokens


def test_tokens_from_a_token_response_count_expiry_from_now() -> None:
    body = {"access_token": "a", "refresh_token": "r", "expires_in": 300}
    tokens = Tokens.from_response(body, now=1000.0)
    assert tokens == Tokens("a", "r", expires_at=1300.0)


def test_a_response_without_refresh_token_keeps_the_previous_one() -> None:
    previous = Tokens("old", "keep-me")
    tokens = Tokens.from_response({"access_token": "new"}, now=0.0, previous=previous)
    assert tokens.refresh_token == "keep-me"
    rotated = Tokens.from_response(
        {"access_token": "new", "refresh_token": "rotated"}, now=0.0, previous=previous
    )
    assert rotated.refresh_token == "rotated"


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ([1, 2], "JSON object"),
        ({}, "no access_token"),
        ({"access_token": 7}, "access_token must be a non-empty string"),
        ({"access_token": ""}, "access_token must be a non-empty string"),
        ({"access_token": "a", "expires_in": -1}, "expires_in must be between"),
        ({"access_token": "a", "expires_in": 1e12}, "expires_in must be between"),
        ({"access_token": "a", "expires_in": math.nan}, "expires_in must be between"),
        ({"access_token": "a", "expires_in": "60"}, "expires_in must be a number"),
        ({"access_token": "a", "expires_in": True}, "expires_in must be a number"),
        ({"access_token": "a", "token_type": "MAC"}, "token_type must be Bearer"),
        ({"access_token": "a", "error": "invalid_grant"}, "carries an error"),
        ({"access_token": "a", "scope": 3}, "scope must be a string"),
    ],
)
def test_a_bad_token_response_is_refused_with_a_reason(
    body: Any, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        Tokens.from_response(body, now=0.0)


def test_token_type_is_matched_without_case() -> None:
    tokens = Tokens.from_response({"access_token": "a", "token_type": "bearer"}, now=0)
    assert tokens.authorization == "Bearer a"


def test_the_repr_of_tokens_shows_no_secret() -> None:
    tokens = Tokens(SECRET_ACCESS, SECRET_REFRESH, expires_at=5.0, scope="read")
    for text in (repr(tokens), str(tokens), f"{tokens}"):
        assert SECRET_ACCESS not in text
        assert SECRET_REFRESH not in text
        assert "refresh_token=<set>" in text


def test_expiry_is_judged_with_the_skew() -> None:
    tokens = Tokens("a", expires_at=100.0)
    assert not tokens.expires_within(30.0, now=69.9)
    assert tokens.expires_within(30.0, now=70.0)
    assert not Tokens("a").expires_within(1e9, now=1e9)


# Refreshers


def test_oauth2_grant_authenticates_a_confidential_client_with_basic() -> None:
    backend = HttpTestingBackend()
    grant = OAuth2RefreshTokenGrant(
        TOKEN_URL, client_id="my app", client_secret="p@ss:word", scope="read"
    )
    results: list[Tokens] = []
    grant(Tokens("a", "r-1"), backend).subscribe(results.append)

    pending = backend.expect_one(TOKEN_URL, "POST")
    request = pending.request
    assert request.data == {
        "grant_type": "refresh_token",
        "refresh_token": "r-1",
        "scope": "read",
    }
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    assert scheme == "Basic"
    assert (unquote_plus(user), unquote_plus(password)) == ("my app", "p@ss:word")
    assert request.context.get(SKIP_AUTH) is True

    pending.flush({"access_token": "b", "expires_in": 60})
    assert [t.refresh_token for t in results] == ["r-1"]


def test_oauth2_grant_sends_a_public_clients_id_in_the_form() -> None:
    backend = HttpTestingBackend()
    OAuth2RefreshTokenGrant(TOKEN_URL, client_id="spa")(
        Tokens("a", "r"), backend
    ).subscribe()
    request = backend.expect_one(TOKEN_URL).request
    assert isinstance(request.data, Mapping)
    assert request.data["client_id"] == "spa"
    assert "Authorization" not in request.headers


def test_oauth2_grant_needs_a_client_id_with_a_secret() -> None:
    with pytest.raises(ValueError, match="client_id"):
        OAuth2RefreshTokenGrant(TOKEN_URL, client_secret="x")


def test_json_endpoint_reads_the_lessons_camel_case_answer() -> None:
    backend = HttpTestingBackend()
    results: list[Tokens] = []
    JsonRefreshEndpoint(TOKEN_URL)(Tokens("a", "r-1"), backend).subscribe(
        results.append
    )
    pending = backend.expect_one(TOKEN_URL, "POST")
    assert pending.request.json == {"refresh_token": "r-1"}

    pending.flush({"accessToken": "b", "refreshToken": "r-2"})
    assert results == [Tokens("b", "r-2")]


def test_a_malformed_answer_fails_the_refresher_as_unavailable() -> None:
    backend = HttpTestingBackend()
    errors: list[Exception] = []
    JsonRefreshEndpoint(TOKEN_URL)(Tokens("a", "r"), backend).subscribe(
        on_error=errors.append
    )
    backend.expect_one(TOKEN_URL).flush({"token": "?"})
    (error,) = errors
    assert isinstance(error, RefreshUnavailable)
    assert "no access_token" in str(error)


# Classification


def _http_error(status: int, body: object = None) -> HttpErrorResponse:
    return HttpErrorResponse(
        HttpRequest("POST", TOKEN_URL), status=status, status_text="x", error=body
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_http_error(400, {"error": "invalid_grant"}), RefreshRejected),
        (_http_error(401), RefreshRejected),
        (_http_error(400, {"error": "invalid_request"}), RefreshUnavailable),
        (_http_error(400, "invalid_grant"), RefreshUnavailable),
        (_http_error(429, {"error": "slow_down"}), RefreshUnavailable),
        (_http_error(500), RefreshUnavailable),
        (_http_error(0), RefreshUnavailable),
        (ValueError("not json"), RefreshUnavailable),
        (TokenStoreError("tokens.json is not valid JSON"), RefreshUnavailable),
    ],
)
def test_failures_are_classified_as_rejected_or_unavailable(
    error: Exception, expected: type[Exception]
) -> None:
    failure = as_refresh_error(error)
    assert type(failure) is expected
    assert failure.__cause__ is error


def test_each_waiter_gets_its_own_copy_of_the_error() -> None:
    cause = _http_error(401)
    original = as_refresh_error(cause)
    mine = original.for_request(HttpRequest("GET", API))
    assert mine is not original
    assert type(mine) is type(original)
    assert str(mine) == str(original)
    assert mine.__cause__ is cause
    assert mine.request is not None


# The interceptor's origins


def _client_with_origins(*origins: str) -> tuple[HttpClient, HttpTestingBackend]:
    backend = HttpTestingBackend()
    auth = AuthService(
        JsonRefreshEndpoint(TOKEN_URL), MemoryTokenStore(Tokens(SECRET_ACCESS, "r"))
    )
    interceptor = AuthInterceptor(auth, allowed_origins=origins)
    return HttpClient(backend, [interceptor]), backend


@pytest.mark.parametrize(
    ("url", "gets_token"),
    [
        ("https://api.example.com/user", True),
        ("https://api.example.com:443/user?x=1", True),
        ("http://api.example.com/user", False),
        ("https://api.example.com:8443/user", False),
        ("https://api.example.com.evil.test/user", False),
        ("https://evil.test/?next=https://api.example.com", False),
        ("/relative/path", False),
    ],
)
def test_the_token_goes_only_to_exactly_the_allowed_origins(
    url: str, gets_token: bool
) -> None:
    client, backend = _client_with_origins("https://api.example.com")
    client.get(url).subscribe(on_error=lambda _: None)
    (pending,) = backend.pending
    assert ("Authorization" in pending.request.headers) is gets_token


def test_an_empty_allowed_origins_is_refused_at_construction() -> None:
    auth = AuthService(JsonRefreshEndpoint(TOKEN_URL), MemoryTokenStore())
    with pytest.raises(ValueError, match="allowed_origins is empty"):
        AuthInterceptor(auth, allowed_origins=[])


def test_an_allowed_origin_that_is_not_a_url_is_refused() -> None:
    auth = AuthService(JsonRefreshEndpoint(TOKEN_URL), MemoryTokenStore())
    with pytest.raises(ValueError, match="absolute http"):
        AuthInterceptor(auth, allowed_origins=["api.example.com"])


def test_non_401_errors_pass_through_unchanged() -> None:
    client, backend = _client_with_origins(API)
    errors: list[Exception] = []
    client.get(f"{API}/user").subscribe(on_error=errors.append)
    backend.expect_one(f"{API}/user").flush({"error": "nope"}, status=403)

    (error,) = errors
    assert isinstance(error, HttpErrorResponse)
    assert error.status == 403
    assert backend.match(TOKEN_URL) == []


# The service's arguments and the store


@pytest.mark.parametrize(
    ("skew", "refresh_timeout", "complaint"),
    [(-1.0, 10.0, "skew"), (0.0, 0.0, "refresh_timeout")],
)
def test_the_service_refuses_bad_settings(
    skew: float, refresh_timeout: float, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        AuthService(
            JsonRefreshEndpoint(TOKEN_URL),
            MemoryTokenStore(),
            skew=skew,
            refresh_timeout=refresh_timeout,
        )


def test_the_service_exposes_its_store() -> None:
    store = MemoryTokenStore()
    auth = AuthService(JsonRefreshEndpoint(TOKEN_URL), store)
    assert auth.store is store
    assert isinstance(store, TokenStore)


def test_the_memory_store_keeps_saves_and_clears() -> None:
    async def scenario() -> list[Tokens | None]:
        store = MemoryTokenStore(Tokens("a"))
        seen = [await store.load()]
        async with store.lock():
            await store.save(Tokens("b"))
        seen.append(await store.load())
        await store.clear()
        seen.append(await store.load())
        return seen

    assert asyncio.run(scenario()) == [Tokens("a"), Tokens("b"), None]
    assert SECRET_ACCESS not in repr(MemoryTokenStore(Tokens(SECRET_ACCESS)))


def test_a_plain_function_serves_as_the_refresher() -> None:
    calls: list[Tokens] = []

    def refresh(tokens: Tokens, next: HttpHandler) -> Observable[Tokens]:
        calls.append(tokens)
        return rx.of(Tokens("fresh", "r-2"))

    backend = HttpTestingBackend()
    auth = AuthService(refresh, MemoryTokenStore(Tokens("stale", "r-1")))
    client = HttpClient(backend, [AuthInterceptor(auth, allowed_origins=[API])])
    results: list[Any] = []
    client.get(f"{API}/user").subscribe(results.append)
    backend.expect_one(f"{API}/user").flush(None, status=401)
    retry = backend.expect_one(f"{API}/user")
    assert retry.request.headers["Authorization"] == "Bearer fresh"
    retry.flush({"ok": True})

    assert results == [{"ok": True}]
    assert calls == [Tokens("stale", "r-1")]
