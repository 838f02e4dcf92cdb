"""The lean operators behave as their reactivex namesakes do."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import reactivex as rx
from reactivex import Observable, abc
from reactivex.subject import BehaviorSubject, Subject

from rx_auth.http._operators import catch, filter, flat_map, just, take, throw


class Seen(abc.ObserverBase[Any]):
    """Everything one subscription received, in order."""

    def __init__(self) -> None:
        self.items: list[object] = []

    def on_next(self, value: Any) -> None:
        self.items.append(value)

    def on_error(self, error: Exception) -> None:
        self.items.append(("error", type(error).__name__))

    def on_completed(self) -> None:
        self.items.append("completed")


def is_even(value: int) -> bool:
    return value % 2 == 0


def test_filter_passes_only_what_the_predicate_accepts() -> None:
    seen = Seen()
    rx.from_iterable([1, 2, 3, 4]).pipe(filter(is_even)).subscribe(seen)
    assert seen.items == [2, 4, "completed"]


def test_a_predicate_that_raises_fails_the_sequence() -> None:
    def broken(value: int) -> bool:
        raise KeyError(value)

    seen = Seen()
    just(1).pipe(filter(broken)).subscribe(seen)
    assert seen.items == [("error", "KeyError")]


def test_take_completes_after_its_count_and_leaves_the_source() -> None:
    subject: Subject[int] = Subject()
    seen = Seen()
    subject.pipe(take(2)).subscribe(seen)
    for value in (1, 2, 3):
        subject.on_next(value)

    assert seen.items == [1, 2, "completed"]
    assert subject.observers == []


def test_take_leaves_a_subject_that_answered_while_being_subscribed() -> None:
    subject = BehaviorSubject(7)
    seen = Seen()
    subject.pipe(take(1)).subscribe(seen)

    assert seen.items == [7, "completed"]
    assert subject.observers == []


def test_take_refuses_a_count_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        take(0)


def test_disposing_a_take_leaves_the_source() -> None:
    subject: Subject[int] = Subject()
    subscription = subject.pipe(take(5)).subscribe(Seen())
    subscription.dispose()
    assert subject.observers == []


def test_flat_map_merges_inner_sequences_and_completes_after_all() -> None:
    outer: Subject[int] = Subject()
    inners: dict[int, Subject[str]] = {1: Subject(), 2: Subject()}
    seen = Seen()
    outer.pipe(flat_map(inners.__getitem__)).subscribe(seen)

    outer.on_next(1)
    outer.on_next(2)
    inners[2].on_next("b")
    inners[1].on_next("a")
    outer.on_completed()
    inners[1].on_completed()
    assert "completed" not in seen.items
    inners[2].on_completed()

    assert seen.items == ["b", "a", "completed"]


def test_flat_map_fails_with_an_inner_error_and_leaves_the_rest() -> None:
    outer: Subject[int] = Subject()
    inners: dict[int, Subject[str]] = {1: Subject(), 2: Subject()}
    seen = Seen()
    outer.pipe(flat_map(inners.__getitem__)).subscribe(seen)
    outer.on_next(1)
    outer.on_next(2)

    inners[1].on_error(LookupError("inner"))

    assert seen.items == [("error", "LookupError")]
    assert inners[2].observers == []
    assert outer.observers == []


def test_flat_map_fails_when_the_mapper_raises() -> None:
    def broken(value: int) -> Observable[int]:
        raise ValueError(value)

    seen = Seen()
    just(1).pipe(flat_map(broken)).subscribe(seen)
    assert seen.items == [("error", "ValueError")]


def test_flat_map_accepts_inner_values_from_another_thread() -> None:
    inner: Subject[str] = Subject()
    seen = Seen()
    just(1).pipe(flat_map(lambda _: inner)).subscribe(seen)

    def answer() -> None:
        inner.on_next("from a thread")
        inner.on_completed()

    thread = threading.Thread(target=answer)
    thread.start()
    thread.join(5)
    assert seen.items == ["from a thread", "completed"]


def test_the_waiting_shape_takes_the_first_settled_state() -> None:
    subject = BehaviorSubject("refreshing")
    seen = Seen()

    def settled(state: str) -> bool:
        return state != "refreshing"

    subject.pipe(
        filter(settled),
        take(1),
        flat_map(lambda state: just(f"retry after {state}")),
    ).subscribe(seen)
    assert seen.items == []
    subject.on_next("ready")
    subject.on_next("failed")

    assert seen.items == ["retry after ready", "completed"]
    assert subject.observers == []


def test_catch_continues_with_the_handlers_sequence() -> None:
    def handler(error: Exception, source: Observable[int]) -> Observable[int]:
        return just(len(str(error)))

    seen = Seen()
    throw(RuntimeError("four")).pipe(catch(handler)).subscribe(seen)
    assert seen.items == [4, "completed"]
