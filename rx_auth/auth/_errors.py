"""Why a refresh failed: rejected for good, or not possible right now."""

from __future__ import annotations

from collections.abc import Mapping

from ..http import HttpErrorResponse, HttpRequest
from ._persisted import TokenStoreError

__all__ = [
    "RefreshError",
    "RefreshRejected",
    "RefreshTimeout",
    "RefreshUnavailable",
    "as_refresh_error",
]


class RefreshError(Exception):
    """The tokens could not be refreshed, so the request could not be retried.

    `request` is the caller's request that waited on the refresh (each
    waiter gets its own copy of the error); `response` is the token
    endpoint's error response, when there was one. The message says what
    went wrong and never quotes a token.
    """

    def __init__(
        self,
        message: str,
        *,
        request: HttpRequest | None = None,
        response: HttpErrorResponse | None = None,
    ) -> None:
        super().__init__(message)
        self.request = request
        self.response = response

    def for_request(self, request: HttpRequest) -> RefreshError:
        """The same failure, as told to the caller of `request`."""
        copy = type(self)(str(self), request=request, response=self.response)
        copy.__cause__ = self.__cause__
        return copy


class RefreshRejected(RefreshError):
    """The authorization server refused the refresh token: sign in again.

    Definitive: the stored tokens are cleared and `LoggedOut` is emitted.
    """


class RefreshUnavailable(RefreshError):
    """The refresh could not be done now: network, 5xx, or a bad answer.

    The tokens are kept; a later 401 tries again.
    """


class RefreshTimeout(RefreshUnavailable):
    """The refresh did not finish within the service's `refresh_timeout`."""


def as_refresh_error(error: BaseException) -> RefreshError:
    """Classify whatever a refresher failed with.

    A 401 from the token endpoint, or a 400 whose OAuth2 error is
    `invalid_grant` (RFC 6749 section 5.2), means the refresh token is no
    good: `RefreshRejected`. Anything else, a network failure, a 5xx, a
    429, a body that is not a token response or a store that cannot be
    read, leaves the tokens as they were: `RefreshUnavailable`.
    """
    if isinstance(error, RefreshError):
        return error
    if isinstance(error, HttpErrorResponse):
        return _from_response(error)
    if isinstance(error, TokenStoreError):
        failure = RefreshUnavailable(f"the token store failed: {error}")
        failure.__cause__ = error
        return failure
    failure = RefreshUnavailable(f"the refresh failed: {type(error).__name__}: {error}")
    failure.__cause__ = error
    return failure


def _from_response(response: HttpErrorResponse) -> RefreshError:
    failure: RefreshError
    if _rejects_the_grant(response):
        failure = RefreshRejected(
            f"the token endpoint rejected the refresh token: {_detail(response)}",
            response=response,
        )
    else:
        failure = RefreshUnavailable(_why_unavailable(response), response=response)
    failure.__cause__ = response
    return failure


def _rejects_the_grant(response: HttpErrorResponse) -> bool:
    code = _oauth_error_code(response.error)
    return response.status == 401 or (
        response.status == 400 and code == "invalid_grant"
    )


def _why_unavailable(response: HttpErrorResponse) -> str:
    if response.status == 0:
        return f"the token endpoint could not be reached: {response}"
    if 200 <= response.status < 300:
        return f"the token endpoint answered {response.status} with a body not JSON"
    reason = f"the token endpoint failed: {_detail(response)}"
    retry_after = response.headers.get("Retry-After")
    if retry_after is not None and retry_after.strip().isdigit():
        reason += f"; it asks to retry after {int(retry_after)} s"
    return reason


def _detail(response: HttpErrorResponse) -> str:
    detail = f"{response.status} {response.status_text}".strip()
    code = _oauth_error_code(response.error)
    return f"{detail} ({code})" if code else detail


def _oauth_error_code(body: object) -> str | None:
    if isinstance(body, Mapping):
        code = body.get("error")
        if isinstance(code, str):
            return code
    return None
