"""The soak run, short: every request ends, and nothing is left behind."""

from __future__ import annotations

from reliability.soak import Settings, soak


async def test_a_short_soak_ends_every_request_and_leaves_nothing_behind() -> None:
    settings = Settings(
        requests=2000,
        concurrency=100,
        ttl=0.3,
        fail_every_nth_refresh=3,
        hang_bound=20.0,
        time_limit=120.0,
    )
    report = await soak(settings)

    assert report.sent == settings.requests
    assert sum(report.endings.values()) == report.sent
    assert report.hangs == 0
    assert report.untyped_errors == []
    assert report.endings["left"] == settings.requests // settings.cancel_every
    assert report.tasks_after == report.tasks_before
    assert report.waiters_after == report.waiters_before == 0
    assert report.reused_refresh_tokens == 0
    assert report.refresh_calls >= 1
    unexpected = set(report.endings) - {
        "ok",
        "left",
        "RefreshUnavailable",
        "HttpErrorResponse 401",
    }
    assert unexpected == set()
