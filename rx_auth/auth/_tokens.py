"""`Tokens`: an access token, the refresh token that renews it, and expiry."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..http import HttpRequest

__all__ = ["Tokens", "authorize"]

# Longer than any access token lives; a larger `expires_in` is a bad answer.
_MAX_EXPIRES_IN: Final = 10 * 365 * 24 * 3600.0


@dataclass(frozen=True, slots=True, repr=False)
class Tokens:
    """What an authorization server issued.

    `expires_at` is a time as the service's clock gives it (by default
    `time.time()`), or `None` when the server did not say. The `repr`
    never shows a token:

    >>> Tokens("secret-access", "secret-refresh", expires_at=1700000000.0)
    Tokens(token_type='Bearer', expires_at=1700000000.0, refresh_token=<set>)
    """

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    token_type: str = "Bearer"
    scope: str | None = None

    @classmethod
    def from_response(
        cls,
        body: object,
        *,
        now: float,
        previous: Tokens | None = None,
    ) -> Tokens:
        """Tokens from an OAuth2 token response (RFC 6749 section 5.1).

        `expires_in` becomes an absolute `expires_at` counted from `now`.
        A response without a refresh token keeps `previous`'s, as section 6
        allows; a new one replaces it (rotation). Raises `ValueError` naming
        what is wrong, never quoting a token.
        """
        if not isinstance(body, Mapping):
            raise ValueError(
                f"a token response must be a JSON object, got {type(body).__name__}"
            )
        if "error" in body:
            raise ValueError(f"the token response carries an error: {body['error']!r}")
        return cls(
            access_token=_required_token(body, "access_token"),
            refresh_token=_optional_token(body, "refresh_token")
            or (previous.refresh_token if previous else None),
            expires_at=_expires_at(body.get("expires_in"), now),
            token_type=_token_type(body.get("token_type", "Bearer")),
            scope=_optional_text(body, "scope"),
        )

    @property
    def authorization(self) -> str:
        """The `Authorization` header value, e.g. `Bearer <access token>`."""
        return f"{self.token_type} {self.access_token}"

    def expires_within(self, seconds: float, *, now: float) -> bool:
        """Whether the access token expires less than `seconds` after `now`."""
        return self.expires_at is not None and self.expires_at - seconds <= now

    def __repr__(self) -> str:
        parts = [f"token_type={self.token_type!r}", f"expires_at={self.expires_at!r}"]
        if self.scope is not None:
            parts.append(f"scope={self.scope!r}")
        if self.refresh_token is not None:
            parts.append("refresh_token=<set>")
        return f"Tokens({', '.join(parts)})"


def authorize(request: HttpRequest, tokens: Tokens | None) -> HttpRequest:
    """`request` carrying `tokens`' access token, or as it is without tokens."""
    if tokens is None:
        return request
    return request.clone(set_headers={"Authorization": tokens.authorization})


def _required_token(body: Mapping[str, Any], key: str) -> str:
    if key not in body:
        raise ValueError(f"the token response has no {key}")
    value = body[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f"{key} must be a non-empty string, got {type(value).__name__}"
        )
    return value


def _optional_token(body: Mapping[str, Any], key: str) -> str | None:
    if body.get(key) is None:
        return None
    return _required_token(body, key)


def _optional_text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {type(value).__name__}")
    return value


def _expires_at(expires_in: object, now: float) -> float | None:
    if expires_in is None:
        return None
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        raise ValueError(
            f"expires_in must be a number of seconds, got {type(expires_in).__name__}"
        )
    if not math.isfinite(expires_in) or not 0 <= expires_in <= _MAX_EXPIRES_IN:
        raise ValueError(
            f"expires_in must be between 0 and {_MAX_EXPIRES_IN:.0f} seconds,"
            f" got {expires_in!r}"
        )
    return now + float(expires_in)


def _token_type(value: object) -> str:
    # Section 7.1: a client must not use a token whose type it does not
    # understand. This library sends bearer tokens (RFC 6750) only.
    if not isinstance(value, str) or value.lower() != "bearer":
        raise ValueError(f"token_type must be Bearer, got {value!r}")
    return "Bearer"
