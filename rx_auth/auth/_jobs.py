"""Running the refresh job: a coroutine, with or without an event loop.

The refresh job reads as plain async code (take the store's lock, re-read,
call the refresher, save), but it must also run where no event loop exists:
in tests stepped by hand under `TestScheduler`, or in a program that
subscribes from a thread of its own. So the job is started one of two ways:

- on a thread whose event loop is running, as an `asyncio.Task`;
- elsewhere, by `_Stepper`, which advances the coroutine itself. It can
  wait on observables (the refresher's answer), and on nothing else: a
  store that waits on the event loop needs the job started on that loop.

The job awaits an observable through `first_value`, which suits both.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar, final

from reactivex import Observable, abc
from reactivex.disposable import Disposable
from reactivex.internal.exceptions import SequenceContainsNoElementsError

__all__ = ["first_value", "start_job"]

T = TypeVar("T")
Done = Callable[[Any, BaseException | None], None]


@final
class _ObservableWait(Generic[T]):
    """An awaitable for the last value of an observable."""

    __slots__ = ("source",)

    def __init__(self, source: Observable[T]) -> None:
        self.source = source

    def __await__(self) -> Generator[Any, Any, T]:
        if _in_task():
            return (yield from _wait_in_task(self.source).__await__())
        # `_Stepper` subscribes to the source and sends back its value.
        value: T = yield self
        return value


def first_value(source: Observable[T]) -> _ObservableWait[T]:
    """Await the value of a one-value observable, inside a job."""
    return _ObservableWait(source)


def start_job(job: Coroutine[Any, Any, Any], done: Done) -> abc.DisposableBase:
    """Run `job`, then call `done(result, None)` or `done(None, error)`.

    Disposing the result cancels the job; `done` then sees the
    `CancelledError`.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        stepper = _Stepper(job, done)
        stepper.step(None, None)
        return Disposable(stepper.cancel)

    task = loop.create_task(job)
    task.add_done_callback(_report_to(done))
    return Disposable(lambda: _cancel_task(loop, task))


def _report_to(done: Done) -> Callable[[asyncio.Task[Any]], None]:
    def report(task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            done(None, asyncio.CancelledError())
        elif (error := task.exception()) is not None:
            done(None, error)
        else:
            done(task.result(), None)

    return report


def _cancel_task(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
    try:
        same_loop = asyncio.get_running_loop() is loop
    except RuntimeError:
        same_loop = False
    if same_loop:
        task.cancel()
    elif not loop.is_closed():
        loop.call_soon_threadsafe(task.cancel)


def _in_task() -> bool:
    try:
        return asyncio.current_task() is not None
    except RuntimeError:
        return False


async def _wait_in_task(source: Observable[T]) -> T:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    last: list[T] = []

    def settle(value: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def resolve(value: T | None, error: BaseException | None) -> None:
        # Events may arrive on another thread (an HttpTestingBackend driven
        # by the test's thread, say); the future belongs to this loop.
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:
            here = False
        if here:
            settle(value, error)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(settle, value, error)

    def on_completed() -> None:
        if last:
            resolve(last[-1], None)
        else:
            resolve(None, SequenceContainsNoElementsError())

    subscription = source.subscribe(
        last.append, lambda error: resolve(None, error), on_completed
    )
    try:
        return await future
    finally:
        subscription.dispose()


@final
class _Stepper:
    """Advances a coroutine by hand, waiting on observables between steps."""

    def __init__(self, job: Coroutine[Any, Any, Any], done: Done) -> None:
        self._job = job
        self._done = done
        self._finished = False
        self._subscription: abc.DisposableBase | None = None
        # The answer may come on the loop's thread while a timeout cancels
        # the job from a timer's thread: one step at a time.
        self._lock = threading.RLock()

    def step(self, value: Any, error: BaseException | None) -> None:
        with self._lock:
            self._step(value, error)

    def _step(self, value: Any, error: BaseException | None) -> None:
        # A loop, not recursion: an observable that answers while being
        # subscribed hands its value to the next turn of this loop.
        while not self._finished:
            try:
                if error is not None:
                    waited = self._job.throw(error)
                else:
                    waited = self._job.send(value)
            except StopIteration as stop:
                self._finish(stop.value, None)
                return
            except BaseException as failure:
                self._finish(None, failure)
                return

            if not isinstance(waited, _ObservableWait):
                value, error = (
                    None,
                    RuntimeError(
                        "the token store awaited the event loop, but this refresh was"
                        " started on a thread without one; use the store from a"
                        " thread that runs its event loop"
                    ),
                )
                continue

            outcome = self._wait_on(waited.source)
            if outcome is None:
                return  # the observable answers later, through _resume
            value, error = outcome

    def cancel(self) -> None:
        with self._lock:
            if self._subscription is not None:
                self._subscription.dispose()
            if not self._finished:
                self._step(None, asyncio.CancelledError())

    def _wait_on(self, source: Observable[Any]) -> tuple[Any, Any] | None:
        """Subscribe; the outcome if it came at once, else None."""
        values: list[Any] = []
        outcome: list[tuple[Any, BaseException | None]] = []
        subscribing = True

        def answer(value: Any, error: BaseException | None) -> None:
            if subscribing:
                outcome.append((value, error))
            else:
                self._subscription = None
                self.step(value, error)

        def on_completed() -> None:
            if values:
                answer(values[-1], None)
            else:
                answer(None, SequenceContainsNoElementsError())

        self._subscription = source.subscribe(
            values.append, lambda error: answer(None, error), on_completed
        )
        subscribing = False
        return outcome[0] if outcome else None

    def _finish(self, result: Any, error: BaseException | None) -> None:
        self._finished = True
        self._done(result, error)
