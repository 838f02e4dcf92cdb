"""`FileTokenStore`: tokens in a file, shared by the processes of one machine.

When a refresh token rotates, every process that holds it must agree on one
refresh, or the server sees the old token presented twice and logs all but
one of them out. `AuthService` takes the store's lock, reads the file again
and refreshes only if nobody else has; this module makes that lock and that
file safe to share.

The lock is `fcntl.flock` on a separate file, `<name>.lock`, rather than the
`filelock` package, because:

- the kernel drops a flock when its holder dies, however it dies (SIGKILL
  included), so a crashed refresh never leaves the others locked out;
- a flock belongs to an open file description, so two `lock()`s in one
  process exclude each other just as two processes do; `filelock`'s locks
  are re-entrant per object and thread, which would let two asyncio tasks
  of one thread in at once;
- POSIX record locks (`fcntl.lockf`) are worse: closing any descriptor of
  the file drops every lock the process holds on it (POSIX `fcntl()`,
  "all locks associated with a file for a given process shall be removed").

The lock lives in its own file because every save replaces the token file
by rename, and a lock on the replaced file would guard a name that has
moved on. The lock file is never deleted: a waiter could then lock the old
inode while a newcomer locks a fresh one. `flock` cannot be interrupted once
it blocks, and a thread left blocked in it would take the lock later for a
caller that has gone, so `lock()` tries without blocking and waits between
tries with `asyncio.sleep`, which cancels cleanly, for at most
`wait_timeout` seconds.

A file that cannot be read (not JSON, an unknown format version, a missing
field) raises `TokenStoreError` naming the path and the fault, never the
content. `save()` refuses to replace such a file, since it may hold the only
copy of a refresh token, or a newer format this version cannot read.
`clear()`, the explicit logout, moves it aside to `<name>.corrupt`, and
`save()` works again.

A writer killed halfway through a save may leave its temporary file,
`.<name>.<random>.tmp`, behind: owner-only like the rest, and never read.

TODO(windows): `fcntl` is POSIX only; a Windows port needs `msvcrt.locking`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    asynccontextmanager,
    contextmanager,
    suppress,
)
from pathlib import Path
from typing import Final, TypeVar, final

from ._persisted import (
    TokenStoreError,
    decode_tokens,
    encode_tokens,
    finish_despite_cancel,
)
from ._tokens import Tokens

if sys.platform != "win32":
    import fcntl

__all__ = ["FileTokenStore"]

logger = logging.getLogger("rx_auth")

T = TypeVar("T")

_FILE_MODE: Final = 0o600
_FOLDER_MODE: Final = 0o700

# Waits between tries of a contended lock: short at first, since a refresh
# takes milliseconds, then no longer than this.
_FIRST_PAUSE: Final = 0.001
_LONGEST_PAUSE: Final = 0.05


@final
class FileTokenStore:
    """Tokens in a JSON file, locked across the processes of this machine.

    ```python
    store = FileTokenStore(Path.home() / ".config" / "app" / "tokens.json")
    auth = AuthService(JsonRefreshEndpoint(f"{api}/auth/refresh"), store)
    ```

    Saves are atomic (a reader sees the old tokens or the new ones, even if
    the writer is killed halfway) and owner-only (mode 0o600). `lock()`
    waits up to `wait_timeout` seconds for another holder, then raises
    `TokenStoreError`. A missing folder is made with mode 0o700.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, wait_timeout: float = 30.0
    ) -> None:
        if sys.platform == "win32":
            raise NotImplementedError(
                "FileTokenStore needs fcntl.flock, which Windows lacks;"
                " use MemoryTokenStore or RedisTokenStore there"
            )
        if not wait_timeout > 0:
            raise ValueError(
                f"wait_timeout must be a positive number, got {wait_timeout!r}"
            )
        self.path = Path(path).absolute()
        self.wait_timeout = wait_timeout
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._corrupt_path = self.path.with_name(self.path.name + ".corrupt")

    async def load(self) -> Tokens | None:
        """The stored tokens; `None` if there is no file."""
        return await asyncio.to_thread(self._read)

    async def save(self, tokens: Tokens) -> None:
        """Replace the file atomically; refuse if the old one is unreadable.

        A save that has begun finishes even if the caller is cancelled.
        """
        await finish_despite_cancel(asyncio.to_thread(self._write, tokens))

    async def clear(self) -> None:
        """Delete the file, or move it aside to `<name>.corrupt` if unreadable."""
        await asyncio.to_thread(self._remove)

    def lock(self) -> AbstractAsyncContextManager[object]:
        """An exclusive flock on `<name>.lock`, for every process and task."""
        return self._locked()

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    def _read(self) -> Tokens | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise TokenStoreError(
                f"cannot read the token file {self.path}: {error.strerror}"
            ) from error
        return decode_tokens(data, where=f"the token file {self.path}")

    def _write(self, tokens: Tokens) -> None:
        self._refuse_if_unreadable()
        data = encode_tokens(tokens)
        with _os_errors_as(f"cannot write the token file {self.path}"):
            self._make_folder()
            _replace_atomically(self.path, data)

    def _refuse_if_unreadable(self) -> None:
        try:
            self._read()
        except TokenStoreError as error:
            raise TokenStoreError(
                f"{error}; refusing to overwrite it, as it may hold the only copy"
                f" of a refresh token: call clear() to move it aside to"
                f" {self._corrupt_path.name}, then save again"
            ) from error

    def _remove(self) -> None:
        try:
            self._read()
        except TokenStoreError:
            self._set_aside()
            return
        with _os_errors_as(f"cannot remove the token file {self.path}"):
            try:
                self.path.unlink()
            except FileNotFoundError:
                return  # nothing stored, so nothing to forget
            _fsync_folder(self.path.parent)

    def _set_aside(self) -> None:
        with _os_errors_as(f"cannot move the token file {self.path} aside"):
            os.replace(self.path, self._corrupt_path)
            _fsync_folder(self.path.parent)
        logger.warning(
            "moved the unreadable token file %s aside to %s",
            self.path,
            self._corrupt_path,
        )

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        descriptor = self._open_lock_file()
        try:
            await self._acquire(descriptor)
            try:
                yield
            finally:
                # Unlock before closing: a child forked meanwhile shares the
                # open file description, and with it the lock.
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)

    def _open_lock_file(self) -> int:
        with _os_errors_as(f"cannot open the lock file {self._lock_path}"):
            self._make_folder()
            return os.open(self._lock_path, os.O_RDWR | os.O_CREAT, _FILE_MODE)

    async def _acquire(self, descriptor: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_timeout
        pause = _FIRST_PAUSE
        while not _try_flock(descriptor, self._lock_path):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TokenStoreError(
                    f"could not lock {self._lock_path} within {self.wait_timeout} s:"
                    " another process or task holds it"
                )
            if pause == _FIRST_PAUSE:
                logger.debug("waiting for the lock on %s", self._lock_path)
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, _LONGEST_PAUSE)

    def _make_folder(self) -> None:
        self.path.parent.mkdir(mode=_FOLDER_MODE, parents=True, exist_ok=True)


def _replace_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one.

    `mkstemp` creates the temporary file with O_EXCL and mode 0o600, so the
    tokens are never readable by others, not even for a moment.
    """
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())  # the data is on disk before the name is
        # POSIX rename(): "a link named new shall remain visible ... and refer
        # either to the file referred to by new or old before the operation
        # began", so no reader ever sees half a file.
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(path.parent)  # makes the rename itself survive a crash


@contextmanager
def _os_errors_as(message: str) -> Iterator[None]:
    """Turn an `OSError` into a `TokenStoreError` that begins with `message`."""
    try:
        yield
    except OSError as error:
        raise TokenStoreError(f"{message}: {error.strerror}") from error


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _try_flock(descriptor: int, path: Path) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as error:
        raise TokenStoreError(f"cannot lock {path}: {error.strerror}") from error
    return True
