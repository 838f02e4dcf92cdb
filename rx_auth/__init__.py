"""Angular-style HTTP interceptors on ReactiveX over aiohttp.

The names follow Angular's `@angular/common/http` (`HttpClient`,
`HttpRequest`, `HttpHandler`, `HttpInterceptor`, ...), in snake_case where
Python wants it.
"""

from typing import TYPE_CHECKING

from .auth import (
    SKIP_AUTH,
    AuthEvent,
    AuthInterceptor,
    AuthService,
    FileTokenStore,
    JsonRefreshEndpoint,
    LoggedOut,
    MemoryTokenStore,
    OAuth2RefreshTokenGrant,
    Refresher,
    RefreshError,
    RefreshFailed,
    RefreshRejected,
    RefreshStarted,
    RefreshSucceeded,
    RefreshTimeout,
    RefreshUnavailable,
    RequestQueued,
    RequestRetried,
    Tokens,
    TokenStore,
    TokenStoreError,
)
from .http import (
    AiohttpBackend,
    HttpClient,
    HttpContext,
    HttpContextToken,
    HttpDownloadProgressEvent,
    HttpErrorResponse,
    HttpEvent,
    HttpHandler,
    HttpHeaderResponse,
    HttpInterceptor,
    HttpInterceptorFn,
    HttpRequest,
    HttpResponse,
    HttpSentEvent,
)

__version__ = "0.1.0"

__all__ = [
    "SKIP_AUTH",
    "AiohttpBackend",
    "AuthEvent",
    "AuthInterceptor",
    "AuthService",
    "FileTokenStore",
    "HttpClient",
    "HttpContext",
    "HttpContextToken",
    "HttpDownloadProgressEvent",
    "HttpErrorResponse",
    "HttpEvent",
    "HttpHandler",
    "HttpHeaderResponse",
    "HttpInterceptor",
    "HttpInterceptorFn",
    "HttpRequest",
    "HttpResponse",
    "HttpSentEvent",
    "JsonRefreshEndpoint",
    "LoggedOut",
    "MemoryTokenStore",
    "OAuth2RefreshTokenGrant",
    "RefreshError",
    "RefreshFailed",
    "RefreshRejected",
    "RefreshStarted",
    "RefreshSucceeded",
    "RefreshTimeout",
    "RefreshUnavailable",
    "Refresher",
    "RequestQueued",
    "RequestRetried",
    "TokenStore",
    "TokenStoreError",
    "Tokens",
]

if TYPE_CHECKING:
    from .auth import RedisTokenStore as RedisTokenStore


def __getattr__(name: str) -> object:
    # Loaded on first use: RedisTokenStore needs the optional redis package.
    if name == "RedisTokenStore":
        from .auth import RedisTokenStore

        return RedisTokenStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
