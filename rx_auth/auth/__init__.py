"""The auth layer: tokens, refreshers, stores, the service and the interceptor.

It speaks to the HTTP layer only through `HttpHandler`; the refresh call
goes through the same chain as every other request, marked `SKIP_AUTH`.
"""

from typing import TYPE_CHECKING

from ._errors import RefreshError, RefreshRejected, RefreshTimeout, RefreshUnavailable
from ._events import (
    AuthEvent,
    LoggedOut,
    RefreshFailed,
    RefreshStarted,
    RefreshSucceeded,
    RequestQueued,
    RequestRetried,
)
from ._file_store import FileTokenStore
from ._interceptor import AuthInterceptor
from ._persisted import TokenStoreError
from ._refreshers import JsonRefreshEndpoint, OAuth2RefreshTokenGrant, Refresher
from ._service import AuthService, Generation
from ._skip import SKIP_AUTH
from ._store import MemoryTokenStore, TokenStore
from ._tokens import Tokens

__all__ = [
    "SKIP_AUTH",
    "AuthEvent",
    "AuthInterceptor",
    "AuthService",
    "FileTokenStore",
    "Generation",
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
    from ._redis_store import RedisTokenStore as RedisTokenStore


def __getattr__(name: str) -> object:
    # RedisTokenStore is imported when first asked for, so that rx_auth
    # works without the optional redis package. It stays out of __all__
    # for the same reason: `import *` must not need redis.
    if name == "RedisTokenStore":
        from ._redis_store import RedisTokenStore

        return RedisTokenStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
