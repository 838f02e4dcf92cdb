"""`FileTokenStore`: atomic, owner-only, locked across processes, never lossy."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import stat
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from examples.auth_server import AuthServer
from rx_auth import (
    AuthInterceptor,
    AuthService,
    FileTokenStore,
    HttpClient,
    JsonRefreshEndpoint,
    RefreshUnavailable,
    Tokens,
    TokenStore,
    TokenStoreError,
)
from rx_auth.testing import HttpTestingBackend
from tests.store_children import Child, hold_file_lock, save_file_in_a_loop
from tests.store_support import (
    BOUND,
    FULL,
    OTHER,
    SECRET,
    UNREADABLE,
    all_started,
    clients,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "tokens.json"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


# Round trip and protocol


@pytest.mark.parametrize("tokens", [FULL, Tokens("access-only")], ids=repr)
async def test_saved_tokens_load_back_equal(path: Path, tokens: Tokens) -> None:
    await FileTokenStore(path).save(tokens)

    assert await FileTokenStore(path).load() == tokens


async def test_a_missing_file_loads_as_no_tokens_and_clears_harmlessly(
    tmp_path: Path,
) -> None:
    store = FileTokenStore(tmp_path / "no such folder" / "tokens.json")

    assert await store.load() is None
    await store.clear()


async def test_clear_deletes_the_file_and_a_second_clear_is_harmless(
    path: Path,
) -> None:
    store = FileTokenStore(path)
    await store.save(FULL)

    await store.clear()
    await store.clear()

    assert not await asyncio.to_thread(path.exists)
    assert await store.load() is None


def test_the_store_satisfies_the_token_store_protocol(path: Path) -> None:
    assert isinstance(FileTokenStore(path), TokenStore)


def test_a_wait_timeout_that_is_not_positive_is_refused(path: Path) -> None:
    with pytest.raises(ValueError, match="wait_timeout must be a positive number"):
        FileTokenStore(path, wait_timeout=0)


async def test_the_file_holds_json_with_a_format_version(path: Path) -> None:
    await FileTokenStore(path).save(FULL)

    text = await asyncio.to_thread(path.read_text)
    assert text.startswith('{"version": 1, "tokens": {"access_token": "access-1"')


async def test_repr_names_the_path_and_no_token(path: Path) -> None:
    store = FileTokenStore(path)
    await store.save(Tokens(SECRET, SECRET))

    assert repr(store) == f"FileTokenStore({str(path)!r})"


# Owner-only


async def test_the_file_the_lock_file_and_a_new_folder_are_owner_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "made" / "tokens.json"
    store = FileTokenStore(path)

    with umask(0):  # the most permissive umask: the modes must not rely on it
        await store.save(FULL)
        async with store.lock():
            pass

    assert mode_of(path) == 0o600
    assert mode_of(path.with_name("tokens.json.lock")) == 0o600
    assert mode_of(path.parent) == 0o700


async def test_a_world_readable_file_becomes_owner_only_when_saved(
    path: Path,
) -> None:
    await FileTokenStore(path).save(OTHER)
    await asyncio.to_thread(path.chmod, 0o644)

    await FileTokenStore(path).save(FULL)

    assert mode_of(path) == 0o600


async def test_the_tokens_are_owner_only_and_whole_before_they_get_the_name(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, bytes]] = []
    replace = os.replace

    def spy(source: str, target: os.PathLike[str]) -> None:
        seen.append((mode_of(Path(source)), Path(source).read_bytes()))
        replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    with umask(0):
        await FileTokenStore(path).save(FULL)

    assert seen == [(0o600, await asyncio.to_thread(path.read_bytes))]


# Unreadable files


@pytest.mark.parametrize("content", UNREADABLE.values(), ids=UNREADABLE.keys())
async def test_an_unreadable_file_raises_an_error_naming_the_path_not_the_content(
    path: Path, content: bytes
) -> None:
    await asyncio.to_thread(path.write_bytes, content)

    with pytest.raises(TokenStoreError) as caught:
        await FileTokenStore(path).load()

    assert str(path) in str(caught.value)
    printed = "".join(traceback.format_exception(caught.value))
    assert SECRET not in printed
    assert SECRET not in repr(caught.value)


async def test_a_folder_where_the_file_should_be_is_reported_as_unreadable(
    path: Path,
) -> None:
    await asyncio.to_thread(path.mkdir)

    with pytest.raises(TokenStoreError, match="cannot read the token file") as caught:
        await FileTokenStore(path).load()

    assert str(path) in str(caught.value)


async def test_save_refuses_to_overwrite_an_unreadable_file(path: Path) -> None:
    content = UNREADABLE["a newer version"]
    await asyncio.to_thread(path.write_bytes, content)

    with pytest.raises(TokenStoreError, match=r"refusing to overwrite.*clear\(\)"):
        await FileTokenStore(path).save(FULL)

    assert await asyncio.to_thread(path.read_bytes) == content


async def test_clear_moves_an_unreadable_file_aside_and_save_works_again(
    path: Path,
) -> None:
    content = UNREADABLE["not JSON"]
    await asyncio.to_thread(path.write_bytes, content)
    store = FileTokenStore(path)

    await store.clear()
    await store.save(FULL)

    corrupt = path.with_name("tokens.json.corrupt")
    assert await asyncio.to_thread(corrupt.read_bytes) == content
    assert await store.load() == FULL


# Killed writers


async def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_tokens(
    path: Path,
) -> None:
    await FileTokenStore(path).save(FULL)
    outcomes = await asyncio.to_thread(_kill_savers, path, kills=200, bound=BOUND)

    assert outcomes.damaged == 0, f"damaged after {outcomes.kills} kills"
    assert outcomes.kills == 200, f"only {outcomes.kills} kills within {BOUND} s"
    # Proof that the kills hit the write itself, not only the gaps between.
    assert outcomes.mid_write > 0


async def test_a_save_cancelled_while_writing_finishes_before_the_cancel_is_raised(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A refresh's timeout may cancel it while it saves; the lock must not
    # pass on before the rotated tokens are on disk.
    writing, go_on = threading.Event(), threading.Event()
    write = FileTokenStore._write

    def gated_write(store: FileTokenStore, tokens: Tokens) -> None:
        writing.set()
        go_on.wait(BOUND)
        write(store, tokens)

    monkeypatch.setattr(FileTokenStore, "_write", gated_write)
    saving = asyncio.create_task(FileTokenStore(path).save(FULL))
    await asyncio.to_thread(writing.wait, BOUND)

    saving.cancel()
    try:
        done, _ = await asyncio.wait([saving], timeout=0.2)
    finally:
        go_on.set()
    assert not done  # it waited for the write
    with pytest.raises(asyncio.CancelledError):
        await saving
    assert await FileTokenStore(path).load() == FULL


@dataclass
class KillOutcomes:
    kills: int = 0
    mid_write: int = 0  # killed with a temporary file written but not renamed
    damaged: int = 0  # the file read as anything but the old or new tokens


def _kill_savers(path: Path, *, kills: int, bound: float) -> KillOutcomes:
    """Kill `kills` children, each saving FULL and OTHER in turn, mid-loop."""
    outcomes = KillOutcomes()
    deadline = time.monotonic() + bound
    while outcomes.kills < kills and time.monotonic() < deadline:
        with Child(save_file_in_a_loop, str(path), (OTHER, FULL)) as child:
            for _ in range(random.randint(1, 3)):
                child.receive(BOUND)
            # A random pause picks where in the save the kill lands; no
            # outcome depends on it: every moment must leave whole tokens.
            time.sleep(random.uniform(0, 0.003))
            child.kill()
        outcomes.kills += 1
        outcomes.mid_write += _remove_leftovers(path)
        if _read_whole(path) not in (FULL, OTHER):
            outcomes.damaged += 1
            break  # a damaged file would stop the next saver anyway
    return outcomes


def _remove_leftovers(path: Path) -> int:
    """Remove temporary files a killed writer left; how many there were."""
    leftovers = list(path.parent.glob(f".{path.name}.*.tmp"))
    for leftover in leftovers:
        leftover.unlink()
    return len(leftovers)


def _read_whole(path: Path) -> Tokens | None:
    try:
        return asyncio.run(FileTokenStore(path).load())
    except TokenStoreError:
        return None


# The lock


async def test_a_second_lock_in_the_same_process_waits_for_the_first(
    path: Path,
) -> None:
    async with FileTokenStore(path).lock():
        with pytest.raises(
            TokenStoreError, match=r"could not lock .*tokens\.json\.lock"
        ):
            async with FileTokenStore(path, wait_timeout=0.05).lock():
                pass

    async with FileTokenStore(path, wait_timeout=0.05).lock():
        pass


async def test_a_lock_held_by_a_killed_process_is_freed_by_the_kernel(
    path: Path,
) -> None:
    store = FileTokenStore(path, wait_timeout=BOUND)
    with Child(hold_file_lock, str(path)) as holder, _waiting_logged() as waiting:
        assert await asyncio.to_thread(holder.receive, BOUND) == b"held"
        entered = asyncio.Event()
        waiter = asyncio.create_task(_enter(store, entered))
        await asyncio.wait_for(waiting.wait(), BOUND)

        # The loop ran this test while the waiter waited: it did not block.
        assert not entered.is_set()
        holder.kill()
        killed_at = time.monotonic()
        await asyncio.wait_for(entered.wait(), BOUND)

    await waiter
    assert time.monotonic() - killed_at < 1.0  # no timeout, unlike Redis


async def _enter(store: FileTokenStore, entered: asyncio.Event) -> None:
    async with store.lock():
        entered.set()


@contextmanager
def _waiting_logged() -> Iterator[asyncio.Event]:
    """An event set when the store logs that it waits for a lock."""
    event = asyncio.Event()

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("waiting for the lock"):
                event.set()

    logger = logging.getLogger("rx_auth")
    handler, level = Handler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield event
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_when_the_refreshing_process_dies_one_survivor_refreshes(
    path: Path,
) -> None:
    server = AuthServer()
    await FileTokenStore(path).save(server.issue())

    async with (
        server.running() as base,
        clients(base, partial(FileTokenStore, path), 3) as three,
    ):
        for client in three:  # each reads the store, and needs no refresh
            await client.http.get(f"{base}/api/user")
        with Child(hold_file_lock, str(path)) as holder:
            assert await asyncio.to_thread(holder.receive, BOUND) == b"held"
            server.revoke_access_tokens()
            calls = [c.http.get(f"{base}/api/user") for c in three for _ in range(20)]
            pending = asyncio.gather(*calls, return_exceptions=True)
            await asyncio.wait_for(all_started(three), BOUND)

            assert server.counters.refresh_calls == 0
            holder.kill()
            results = await asyncio.wait_for(pending, BOUND)

    assert [r for r in results if isinstance(r, BaseException)] == []
    assert server.counters.refresh_calls == 1
    assert server.counters.reused_refresh_tokens == 0


def test_a_refresh_started_without_an_event_loop_says_the_store_needs_one(
    tmp_path: Path,
) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    auth = AuthService(JsonRefreshEndpoint("https://auth.example/refresh"), store)
    client = HttpClient(
        HttpTestingBackend(),
        [AuthInterceptor(auth, allowed_origins=["https://api.example"])],
    )
    errors: list[Exception] = []
    client.get("https://api.example/user").subscribe(on_error=errors.append)

    (error,) = errors
    assert isinstance(error, RefreshUnavailable)
    assert "event loop" in str(error)
