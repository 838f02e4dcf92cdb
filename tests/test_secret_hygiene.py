"""No token value in any log record, repr, str, error message or event.

A whole story is played with logging at DEBUG: requests sent with a token,
401s, a refresh that succeeds, one that fails, one that is rejected, and
requests after logout. Everything that could be printed is collected and
searched for every token value that existed.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from rx_auth import AuthEvent, HttpErrorResponse, RefreshError, Tokens

from .auth_support import TOKEN_URL, USER, Harness, Outcome

SECRETS = [
    "first-access-7f3a",
    "first-refresh-91c2",
    "second-access-5d8e",
    "second-refresh-4b6f",
]


def play_the_story(h: Harness) -> list[Outcome]:
    outcomes = [h.get(), h.get()]
    h.answer_401()
    h.refresh_request().flush(
        {"access_token": SECRETS[2], "refresh_token": SECRETS[3], "expires_in": 60}
    )
    h.answer_ok()

    outcomes += [h.get()]
    h.answer_401()
    h.refresh_request().flush({"error": "temporarily_unavailable"}, status=503)

    outcomes += [h.get()]
    h.answer_401()
    h.refresh_request().flush({"error": "invalid_grant"}, status=400)

    outcomes += [h.get()]
    h.answer_401()
    return outcomes


def printable(value: Any) -> list[str]:
    texts = [repr(value), str(value)]
    if isinstance(value, BaseException):
        texts += [repr(arg) for arg in value.args]
        for linked in (value.__cause__, value.__context__):
            if linked is not None:
                texts += printable(linked)
    if isinstance(value, HttpErrorResponse | RefreshError):
        texts += [repr(value.request)]
    return texts


def test_nothing_printable_from_a_whole_story_contains_a_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    h = Harness(Tokens(SECRETS[0], SECRETS[1]))
    events: list[AuthEvent] = []
    h.auth.events.subscribe(events.append)

    outcomes = play_the_story(h)

    texts: list[str] = []
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.args)]
    for event in events:
        texts += printable(event)
    for outcome in outcomes:  # values are what the test server echoed back
        if outcome.error is not None:
            texts += printable(outcome.error)
    for request in h.backend.requests:
        texts += printable(request)
    texts += printable(h.auth.tokens) + printable(h.store)

    assert any("Authorization" in r.headers for r in h.backend.requests)
    assert len(h.refresh_calls()) == 3
    assert any(isinstance(o.error, RefreshError) for o in outcomes)
    assert len(caplog.records) > 5
    leaks = [(secret, text) for text in texts for secret in SECRETS if secret in text]
    assert leaks == []


def test_the_refresh_request_repr_hides_the_refresh_token() -> None:
    h = Harness(Tokens(SECRETS[0], SECRETS[1]))
    h.get()
    h.answer_401()
    refresh = h.backend.expect_one(TOKEN_URL)
    assert SECRETS[1] not in repr(refresh.request)
    assert SECRETS[1] not in repr(refresh)
    assert USER not in repr(refresh.request)
