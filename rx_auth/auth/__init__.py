"""The auth layer: tokens, refreshers, stores, the service and the interceptor.

It speaks to the HTTP layer only through `HttpHandler`; the refresh call
goes through the same chain as every other request, marked `SKIP_AUTH`.
"""

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
from ._interceptor import AuthInterceptor
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
    "Tokens",
]
