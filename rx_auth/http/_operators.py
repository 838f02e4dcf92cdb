"""The few operators on every request's path, as direct observables.

`filter`, `take`, `flat_map`, `catch`, `just` and `throw` behave as their
reactivex namesakes do, and are used the same way (`source.pipe(filter(f),
take(1), flat_map(g))`). They exist because a refresh can hold thousands
of requests waiting at once: reactivex builds each of its operators from
several subscriptions (`flat_map` alone is a `zip`, a `map` and a
`merge_all`), each with its locks and disposables, which came to 16 KB
and a garbage collector busy with their cycles for every waiting request.
Here each operator is one small object per subscription.

Only what this package needs is here: no schedulers, no indexes, one
`flat_map` whose inner observables may finish in any order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, final

from reactivex import Observable, abc

from ._direct import NOTHING_TO_DISPOSE, DirectObservable

__all__ = ["catch", "filter", "flat_map", "just", "take", "throw"]

T = TypeVar("T")
R = TypeVar("R")


def filter(
    predicate: Callable[[T], bool],
) -> Callable[[Observable[T]], Observable[T]]:
    """Only the values for which `predicate` is true."""

    def operator(source: Observable[T]) -> Observable[T]:
        return _Filter(source, predicate)

    return operator


def take(count: int) -> Callable[[Observable[T]], Observable[T]]:
    """The first `count` values; then complete, and leave the source."""
    if count < 1:
        raise ValueError(f"take needs a count of at least 1, got {count}")

    def operator(source: Observable[T]) -> Observable[T]:
        return _Take(source, count)

    return operator


def flat_map(
    mapper: Callable[[T], Observable[R]],
) -> Callable[[Observable[T]], Observable[R]]:
    """Each value's observable, merged; complete when all of them have."""

    def operator(source: Observable[T]) -> Observable[R]:
        return _FlatMap(source, mapper)

    return operator


def catch(
    handler: Callable[[Exception, Observable[T]], Observable[T]],
) -> Callable[[Observable[T]], Observable[T]]:
    """On an error, continue with `handler(error, source)` instead.

    A handler that raises fails with what it raised.
    """

    def operator(source: Observable[T]) -> Observable[T]:
        return _Catch(source, handler)

    return operator


def just(value: T) -> Observable[T]:
    """One value, then completion."""
    return _Just(value)


def throw(error: Exception) -> Observable[Any]:
    """No value; `error` at once."""
    return _Throw(error)


@final
class _Just(DirectObservable[T]):
    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        super().__init__()
        self._value = value

    def _subscribe_core(
        self, observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        observer.on_next(self._value)
        observer.on_completed()
        return NOTHING_TO_DISPOSE


@final
class _Throw(DirectObservable[Any]):
    __slots__ = ("_error",)

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self._error = error

    def _subscribe_core(
        self,
        observer: abc.ObserverBase[Any],
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        observer.on_error(self._error)
        return NOTHING_TO_DISPOSE


@final
class _Filter(DirectObservable[T]):
    __slots__ = ("_predicate", "_source")

    def __init__(self, source: Observable[T], predicate: Callable[[T], bool]) -> None:
        super().__init__()
        self._source = source
        self._predicate = predicate

    def _subscribe_core(
        self, observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        sieve = _Sieve(observer, self._predicate)
        return self._source.subscribe(sieve, scheduler=scheduler)


@final
class _Sieve(abc.ObserverBase[T], Generic[T]):
    __slots__ = ("_downstream", "_predicate")

    def __init__(
        self, downstream: abc.ObserverBase[T], predicate: Callable[[T], bool]
    ) -> None:
        self._downstream = downstream
        self._predicate = predicate

    def on_next(self, value: T) -> None:
        try:
            passes = self._predicate(value)
        except Exception as error:
            self._downstream.on_error(error)
            return
        if passes:
            self._downstream.on_next(value)

    def on_error(self, error: Exception) -> None:
        self._downstream.on_error(error)

    def on_completed(self) -> None:
        self._downstream.on_completed()


@final
class _Take(DirectObservable[T]):
    __slots__ = ("_count", "_source")

    def __init__(self, source: Observable[T], count: int) -> None:
        super().__init__()
        self._source = source
        self._count = count

    def _subscribe_core(
        self, observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        counter = _Counter(observer, self._count)
        counter.attach(self._source.subscribe(counter, scheduler=scheduler))
        return counter


@final
class _Counter(abc.ObserverBase[T], abc.DisposableBase, Generic[T]):
    """Passes on `remaining` values, then completes and leaves the source."""

    __slots__ = ("_done", "_downstream", "_remaining", "_upstream")

    def __init__(self, downstream: abc.ObserverBase[T], remaining: int) -> None:
        self._downstream = downstream
        self._remaining = remaining
        self._done = False
        self._upstream: abc.DisposableBase | None = None

    def attach(self, upstream: abc.DisposableBase) -> None:
        # A BehaviorSubject answers while being subscribed, so the count may
        # be reached before the subscription to leave exists.
        if self._done:
            upstream.dispose()
        else:
            self._upstream = upstream

    def on_next(self, value: T) -> None:
        if self._done:
            return
        self._remaining -= 1
        last = self._remaining == 0
        if last:
            self._done = True
        self._downstream.on_next(value)
        if last:
            self._downstream.on_completed()
            self.dispose()

    def on_error(self, error: Exception) -> None:
        if not self._done:
            self._done = True
            self._downstream.on_error(error)

    def on_completed(self) -> None:
        if not self._done:
            self._done = True
            self._downstream.on_completed()

    def dispose(self) -> None:
        self._done = True
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            upstream.dispose()


@final
class _FlatMap(DirectObservable[R]):
    __slots__ = ("_mapper", "_source")

    def __init__(
        self, source: Observable[T], mapper: Callable[[T], Observable[R]]
    ) -> None:
        super().__init__()
        self._source = source
        self._mapper = mapper

    def _subscribe_core(
        self, observer: abc.ObserverBase[R], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        merge = _Merge(observer, self._mapper, scheduler)
        merge.attach(self._source.subscribe(merge, scheduler=scheduler))
        return merge


@final
class _Merge(abc.ObserverBase[T], abc.DisposableBase, Generic[T, R]):
    """Subscribes to each value's observable and passes on what they emit.

    Inner observables may emit on other threads than the source (a backend
    answers on its loop's thread), so the bookkeeping takes a lock.
    """

    __slots__ = (
        "_downstream",
        "_inners",
        "_lock",
        "_mapper",
        "_scheduler",
        "_source_done",
        "_stopped",
        "_upstream",
    )

    def __init__(
        self,
        downstream: abc.ObserverBase[R],
        mapper: Callable[[T], Observable[R]],
        scheduler: abc.SchedulerBase | None,
    ) -> None:
        self._downstream = downstream
        self._mapper = mapper
        self._scheduler = scheduler
        self._lock = threading.Lock()
        self._inners: list[_Inner[R]] = []  # mostly one
        self._source_done = False
        self._stopped = False
        self._upstream: abc.DisposableBase | None = None

    def attach(self, upstream: abc.DisposableBase) -> None:
        if self._stopped:
            upstream.dispose()
        else:
            self._upstream = upstream

    def on_next(self, value: T) -> None:
        if self._stopped:
            return
        try:
            inner_source = self._mapper(value)
        except Exception as error:
            self.on_error(error)
            return
        inner = _Inner(self)
        with self._lock:
            self._inners.append(inner)
        inner.attach(inner_source.subscribe(inner, scheduler=self._scheduler))

    def on_error(self, error: Exception) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._downstream.on_error(error)
        self.dispose()

    def on_completed(self) -> None:
        with self._lock:
            self._source_done = True
            finished = not self._inners and not self._stopped
            if finished:
                self._stopped = True
        if finished:
            self._downstream.on_completed()

    def inner_completed(self, inner: _Inner[R]) -> None:
        with self._lock:
            if inner in self._inners:
                self._inners.remove(inner)
            finished = self._source_done and not self._inners and not self._stopped
            if finished:
                self._stopped = True
        if finished:
            self._downstream.on_completed()

    def inner_next(self, value: R) -> None:
        if not self._stopped:
            self._downstream.on_next(value)

    def dispose(self) -> None:
        with self._lock:
            self._stopped = True
            inners, self._inners = self._inners, []
            upstream, self._upstream = self._upstream, None
        if upstream is not None:
            upstream.dispose()
        for inner in inners:
            inner.dispose()


@final
class _Inner(abc.ObserverBase[R], abc.DisposableBase, Generic[R]):
    __slots__ = ("_done", "_merge", "_subscription")

    def __init__(self, merge: _Merge[Any, R]) -> None:
        self._merge = merge
        self._done = False
        self._subscription: abc.DisposableBase | None = None

    def attach(self, subscription: abc.DisposableBase) -> None:
        if self._done:
            subscription.dispose()
        else:
            self._subscription = subscription

    def on_next(self, value: R) -> None:
        if not self._done:
            self._merge.inner_next(value)

    def on_error(self, error: Exception) -> None:
        if not self._done:
            self._done = True
            self._subscription = None
            self._merge.on_error(error)

    def on_completed(self) -> None:
        if not self._done:
            self._done = True
            self._subscription = None
            self._merge.inner_completed(self)

    def dispose(self) -> None:
        self._done = True
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.dispose()


@final
class _Catch(DirectObservable[T]):
    __slots__ = ("_handler", "_source")

    def __init__(
        self,
        source: Observable[T],
        handler: Callable[[Exception, Observable[T]], Observable[T]],
    ) -> None:
        super().__init__()
        self._source = source
        self._handler = handler

    def _subscribe_core(
        self, observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        rescue = _Rescue(observer, self._source, self._handler, scheduler)
        rescue.attach_first(self._source.subscribe(rescue, scheduler=scheduler))
        return rescue


@final
class _Rescue(abc.ObserverBase[T], abc.DisposableBase, Generic[T]):
    """Watches the source, and on its error switches to the handler's answer."""

    __slots__ = (
        "_current",
        "_disposed",
        "_downstream",
        "_handler",
        "_scheduler",
        "_source",
        "_switched",
    )

    def __init__(
        self,
        downstream: abc.ObserverBase[T],
        source: Observable[T],
        handler: Callable[[Exception, Observable[T]], Observable[T]],
        scheduler: abc.SchedulerBase | None,
    ) -> None:
        self._downstream = downstream
        self._source = source
        self._handler = handler
        self._scheduler = scheduler
        self._current: abc.DisposableBase | None = None
        self._switched = False
        self._disposed = False

    def attach_first(self, subscription: abc.DisposableBase) -> None:
        # The source may have failed while being subscribed, and the
        # handler's answer taken its place already.
        if self._switched:
            subscription.dispose()
        else:
            self._hold(subscription)

    def on_next(self, value: T) -> None:
        self._downstream.on_next(value)

    def on_completed(self) -> None:
        self._downstream.on_completed()

    def on_error(self, error: Exception) -> None:
        self._switched = True
        if self._disposed:
            return
        try:
            fallback = self._handler(error, self._source)
        except Exception as failure:
            self._downstream.on_error(failure)
            return
        self._hold(fallback.subscribe(self._downstream, scheduler=self._scheduler))

    def dispose(self) -> None:
        self._disposed = True
        current, self._current = self._current, None
        if current is not None:
            current.dispose()

    def _hold(self, subscription: abc.DisposableBase) -> None:
        # Set, then look: a dispose from another thread either sees this
        # subscription or is seen here.
        self._current = subscription
        if self._disposed:
            self.dispose()
