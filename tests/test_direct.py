"""The direct observables keep reactivex's promises without its ceremony."""

from __future__ import annotations

import asyncio
import threading

import pytest
import reactivex as rx
from reactivex import Observable, abc
from reactivex.disposable import Disposable
from reactivex.internal.exceptions import SequenceContainsNoElementsError

from rx_auth.http._direct import Deferred, DirectObservable
from rx_auth.http._operators import catch


class Manual(DirectObservable[int]):
    """A source the test drives by hand through the observer it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.observer: abc.ObserverBase[int] | None = None
        self.disposed = False
        self.subscribed = asyncio.Event()

    def _subscribe_core(
        self,
        observer: abc.ObserverBase[int],
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        self.observer = observer
        self.subscribed.set()
        return Disposable(self._dispose)

    def _dispose(self) -> None:
        self.disposed = True

    def emit(self, *values: int) -> None:
        assert self.observer is not None
        for value in values:
            self.observer.on_next(value)


class Failing(DirectObservable[int]):
    def _subscribe_core(
        self,
        observer: abc.ObserverBase[int],
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        raise LookupError("cannot subscribe")


def test_nothing_is_delivered_after_completion() -> None:
    source = Manual()
    seen: list[object] = []
    source.subscribe(seen.append, seen.append, lambda: seen.append("done"))
    source.emit(1)
    assert source.observer is not None
    source.observer.on_completed()
    source.emit(2)
    source.observer.on_error(ValueError("late"))

    assert seen == [1, "done"]


def test_nothing_is_delivered_after_dispose_and_the_source_is_disposed() -> None:
    source = Manual()
    seen: list[int] = []
    subscription = source.subscribe(seen.append)
    source.emit(1)
    subscription.dispose()
    source.emit(2)

    assert seen == [1]
    assert source.disposed


def test_an_error_while_subscribing_reaches_on_error() -> None:
    errors: list[Exception] = []
    Failing().subscribe(on_error=errors.append)
    assert [type(e) for e in errors] == [LookupError]


def test_an_observer_object_is_accepted() -> None:
    source = Manual()
    seen: list[int] = []
    source.subscribe(rx.Observer(seen.append))
    source.emit(3)
    assert seen == [3]


def test_deferred_builds_its_source_at_each_subscription() -> None:
    built: list[int] = []

    def factory() -> Observable[int]:
        built.append(len(built))
        return rx.of(len(built))

    deferred = Deferred(factory)
    assert built == []
    results: list[int] = []
    deferred.subscribe(results.append)
    deferred.subscribe(results.append)
    assert results == [1, 2]


def test_catch_switches_to_the_handlers_observable() -> None:
    source = Manual()
    seen: list[object] = []

    def handler(error: Exception, _: Observable[int]) -> Observable[int]:
        seen.append(type(error).__name__)
        return rx.of(10)

    source.pipe(catch(handler)).subscribe(seen.append)
    assert source.observer is not None
    source.observer.on_error(KeyError("x"))

    assert seen == ["KeyError", 10]


def test_catch_handles_a_source_that_fails_while_subscribing() -> None:
    seen: list[object] = []

    def handler(error: Exception, _: Observable[int]) -> Observable[int]:
        return rx.of(7)

    Failing().pipe(catch(handler)).subscribe(seen.append, seen.append)
    assert seen == [7]


def test_a_handler_that_raises_fails_with_what_it_raised() -> None:
    source = Manual()
    errors: list[Exception] = []

    def handler(error: Exception, _: Observable[int]) -> Observable[int]:
        raise RuntimeError("handler broke")

    source.pipe(catch(handler)).subscribe(on_error=errors.append)
    assert source.observer is not None
    source.observer.on_error(KeyError("x"))
    assert [str(e) for e in errors] == ["handler broke"]


async def test_await_gives_the_last_value() -> None:
    source = Manual()
    waiting = asyncio.ensure_future(_await(source))
    await asyncio.wait_for(source.subscribed.wait(), 5)
    source.emit(1, 2)
    assert source.observer is not None
    source.observer.on_completed()
    assert await asyncio.wait_for(waiting, 5) == 2


async def test_await_of_an_empty_sequence_raises() -> None:
    source = Manual()
    waiting = asyncio.ensure_future(_await(source))
    await asyncio.wait_for(source.subscribed.wait(), 5)
    assert source.observer is not None
    source.observer.on_completed()
    with pytest.raises(SequenceContainsNoElementsError):
        await asyncio.wait_for(waiting, 5)


async def test_await_settles_on_its_own_loop_when_values_come_from_a_thread() -> None:
    source = Manual()
    waiting = asyncio.ensure_future(_await(source))
    await asyncio.wait_for(source.subscribed.wait(), 5)

    def finish() -> None:
        source.emit(5)
        assert source.observer is not None
        source.observer.on_completed()

    thread = threading.Thread(target=finish)
    thread.start()
    assert await asyncio.wait_for(waiting, 5) == 5
    thread.join(5)


async def test_cancelling_the_await_disposes_the_subscription() -> None:
    source = Manual()
    waiting = asyncio.ensure_future(_await(source))
    await asyncio.wait_for(source.subscribed.wait(), 5)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert source.disposed


async def _await(source: Observable[int]) -> int:
    return await source
