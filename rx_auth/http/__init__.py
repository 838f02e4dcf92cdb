"""The HTTP layer: requests, events, interceptors, the client and a backend.

It knows nothing of authentication; `rx_auth.auth` builds on it.
"""

from ._backend import AiohttpBackend
from ._client import HttpClient, Observe
from ._context import HttpContext, HttpContextToken
from ._events import (
    HttpDownloadProgressEvent,
    HttpErrorResponse,
    HttpEvent,
    HttpHeaderResponse,
    HttpResponse,
    HttpSentEvent,
)
from ._handler import (
    HttpHandler,
    HttpInterceptor,
    HttpInterceptorFn,
    chain_interceptors,
)
from ._request import HttpRequest, ResponseType

__all__ = [
    "AiohttpBackend",
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
    "Observe",
    "ResponseType",
    "chain_interceptors",
]
