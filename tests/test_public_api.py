"""The names a user imports are there, and nothing private leaks out."""

from __future__ import annotations

import rx_auth
import rx_auth.testing

HTTP_NAMES = {
    "HttpClient",
    "HttpRequest",
    "HttpResponse",
    "HttpErrorResponse",
    "HttpHeaderResponse",
    "HttpSentEvent",
    "HttpDownloadProgressEvent",
    "HttpEvent",
    "HttpContext",
    "HttpContextToken",
    "HttpHandler",
    "HttpInterceptor",
    "AiohttpBackend",
}

AUTH_NAMES = {
    "AuthInterceptor",
    "AuthService",
    "Tokens",
    "TokenStore",
    "MemoryTokenStore",
    "FileTokenStore",
    "TokenStoreError",
    "Refresher",
    "OAuth2RefreshTokenGrant",
    "JsonRefreshEndpoint",
    "SKIP_AUTH",
    "RefreshError",
    "RefreshRejected",
    "RefreshUnavailable",
    "RefreshTimeout",
    "RefreshStarted",
    "RequestQueued",
    "RefreshSucceeded",
    "RefreshFailed",
    "RequestRetried",
    "LoggedOut",
}


def test_the_package_exports_every_public_name() -> None:
    missing = (HTTP_NAMES | AUTH_NAMES) - set(rx_auth.__all__)
    assert missing == set()
    for name in rx_auth.__all__:
        assert getattr(rx_auth, name) is not None, name


def test_every_exported_name_is_public() -> None:
    assert [name for name in rx_auth.__all__ if name.startswith("_")] == []


def test_the_refresh_errors_form_one_tree() -> None:
    for error in (rx_auth.RefreshRejected, rx_auth.RefreshUnavailable):
        assert issubclass(error, rx_auth.RefreshError)
    assert issubclass(rx_auth.RefreshTimeout, rx_auth.RefreshUnavailable)


def test_the_testing_backend_is_importable() -> None:
    assert "HttpTestingBackend" in rx_auth.testing.__all__
    assert isinstance(rx_auth.testing.HttpTestingBackend(), rx_auth.HttpHandler)


def test_the_redis_store_is_loaded_on_first_use() -> None:
    assert "RedisTokenStore" not in rx_auth.__all__  # import * needs no redis
    store_class = rx_auth.RedisTokenStore
    assert store_class.__name__ == "RedisTokenStore"
