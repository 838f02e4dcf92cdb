"""`DirectObservable`: the base of this package's own observables.

Every request passes through several observables (the client's, each
interceptor's, the backend's), so what one subscription costs is paid many
times over. reactivex's `Observable.subscribe` wraps each observer in an
`AutoDetachObserver` with its locks and disposables, and runs the outermost
subscription of a thread on a trampoline, in case a source subscribes
itself again on the same stack: about 10 µs a layer here. The observables
in this package never subscribe themselves recursively, so they subscribe
their observer directly, keeping the two promises that matter:

- nothing is delivered after `on_error`, `on_completed` or `dispose`;
- an exception raised while subscribing reaches `on_error`.

`await` on one of them resolves a future from the observer itself, rather
than through `to_future` and a scheduler.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator
from typing import Any, Final, Generic, TypeVar, cast, final

from reactivex import Observable, abc
from reactivex.internal import default_error, noop
from reactivex.internal.exceptions import SequenceContainsNoElementsError

__all__ = [
    "NOTHING_TO_DISPOSE",
    "Call",
    "Deferred",
    "DirectObservable",
    "subscribe_directly",
]

T = TypeVar("T")


class DirectObservable(Observable[T]):
    """An observable whose `subscribe` calls `_subscribe_core` directly."""

    def __init__(self) -> None:
        # Not Observable.__init__: it gives every observable a lock that only
        # a few operators (delay, amb) ever take. `lock` makes it on demand.
        pass

    @property
    def lock(self) -> threading.RLock:  # type: ignore[override]
        lock: threading.RLock = self.__dict__.setdefault("_lock", threading.RLock())
        return lock

    def subscribe(
        self,
        on_next: abc.ObserverBase[T] | abc.OnNext[T] | None = None,
        on_error: abc.OnError | None = None,
        on_completed: abc.OnCompleted | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        return subscribe_directly(self, on_next, on_error, on_completed, scheduler)

    def __await__(self) -> Generator[Any, None, T]:
        """The last value, as `await` gives for any observable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        subscription = self.subscribe(_Settle(future, loop))
        future.add_done_callback(lambda _: subscription.dispose())
        return (yield from future)


def subscribe_directly(
    source: Observable[T],
    on_next: abc.ObserverBase[T] | abc.OnNext[T] | None,
    on_error: abc.OnError | None,
    on_completed: abc.OnCompleted | None,
    scheduler: abc.SchedulerBase | None,
) -> abc.DisposableBase:
    """Subscribe to `source` through its `_subscribe_core`, guarded.

    For `DirectObservable`s, and for a subject whose subscription is on
    every waiting request's path.
    """
    guard: _Guard[T] = _Guard(on_next, on_error, on_completed)
    try:
        guard.attach(source._subscribe_core(guard, scheduler))
    except Exception as error:
        guard.on_error(error)
    return guard


@final
class Call(abc.DisposableBase):
    """A subscription whose `dispose` calls `action` once."""

    __slots__ = ("_action",)

    def __init__(self, action: Callable[[], object] | None = None) -> None:
        self._action = action

    def dispose(self) -> None:
        action, self._action = self._action, None
        if action is not None:
            action()


NOTHING_TO_DISPOSE: Final = Call()


@final
class Deferred(DirectObservable[T]):
    """Builds its source afresh at each subscription, like `reactivex.defer`."""

    __slots__ = ("_factory",)

    def __init__(self, factory: Callable[[], Observable[T]]) -> None:
        super().__init__()
        self._factory = factory

    def _subscribe_core(
        self,
        observer: abc.ObserverBase[T],
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        return self._factory().subscribe(observer, scheduler=scheduler)


@final
class _Guard(abc.ObserverBase[T], abc.DisposableBase, Generic[T]):
    """The observer a source sees, and the subscription its caller holds."""

    __slots__ = ("_disposed", "_inner", "_observer")

    def __init__(
        self,
        on_next: abc.ObserverBase[T] | abc.OnNext[T] | None,
        on_error: abc.OnError | None,
        on_completed: abc.OnCompleted | None,
    ) -> None:
        observer: abc.ObserverBase[T] | None
        if isinstance(on_next, abc.ObserverBase) or hasattr(on_next, "on_next"):
            observer = cast("abc.ObserverBase[T]", on_next)
        else:
            observer = _Callbacks(on_next, on_error, on_completed)
        self._observer: abc.ObserverBase[T] | None = observer  # None once stopped
        self._disposed = False
        self._inner: abc.DisposableBase | None = None

    def on_next(self, value: T) -> None:
        observer = self._observer
        if observer is not None:
            observer.on_next(value)

    def on_error(self, error: Exception) -> None:
        # Let go of the observer and the source's subscription first: nothing
        # more will be delivered, and the cycles they may close through a
        # source made by reactivex then need no collector.
        observer, self._observer = self._observer, None
        self._inner = None
        if observer is not None:
            observer.on_error(error)

    def on_completed(self) -> None:
        observer, self._observer = self._observer, None
        self._inner = None
        if observer is not None:
            observer.on_completed()

    def attach(self, inner: abc.DisposableBase) -> None:
        if self._disposed:
            inner.dispose()  # disposed while the source was still subscribing
        elif self._observer is not None:  # not ended while subscribing
            self._inner = inner

    def dispose(self) -> None:
        self._observer = None
        self._disposed = True
        inner, self._inner = self._inner, None
        if inner is not None:
            inner.dispose()


@final
class _Callbacks(abc.ObserverBase[T], Generic[T]):
    """An observer made of the callbacks given to `subscribe`."""

    __slots__ = ("_on_completed", "_on_error", "_on_next")

    def __init__(
        self,
        on_next: abc.OnNext[T] | None,
        on_error: abc.OnError | None,
        on_completed: abc.OnCompleted | None,
    ) -> None:
        self._on_next: abc.OnNext[T] = on_next or noop
        self._on_error: abc.OnError = on_error or default_error
        self._on_completed: abc.OnCompleted = on_completed or noop

    def on_next(self, value: T) -> None:
        self._on_next(value)

    def on_error(self, error: Exception) -> None:
        self._on_error(error)

    def on_completed(self) -> None:
        self._on_completed()


@final
class _Settle(abc.ObserverBase[T], Generic[T]):
    """Resolves a future with the last value, on the future's own loop."""

    __slots__ = ("_future", "_has_value", "_last", "_loop")

    def __init__(self, future: asyncio.Future[T], loop: asyncio.AbstractEventLoop):
        self._future = future
        self._loop = loop
        self._has_value = False
        self._last: T | None = None

    def on_next(self, value: T) -> None:
        self._last = value
        self._has_value = True

    def on_error(self, error: Exception) -> None:
        self._call(self._fail, error)

    def on_completed(self) -> None:
        if self._has_value:
            self._call(self._succeed, self._last)
        else:
            self._call(self._fail, SequenceContainsNoElementsError())

    def _call(self, settle: Callable[[Any], None], argument: Any) -> None:
        try:
            here = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            here = False
        if here:
            settle(argument)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(settle, argument)

    def _succeed(self, value: T) -> None:
        if not self._future.done():
            self._future.set_result(value)

    def _fail(self, error: BaseException) -> None:
        if not self._future.done():
            self._future.set_exception(error)
