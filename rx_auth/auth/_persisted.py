"""What the stores that outlive a process share.

The stored form of tokens (one JSON object with a format version), the
error for a store that cannot be read, written or locked, and saves that
finish once they have started.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Mapping
from typing import Any, Final, TypeVar

from ._tokens import Tokens

__all__ = [
    "FORMAT_VERSION",
    "TokenStoreError",
    "decode_tokens",
    "encode_tokens",
    "finish_despite_cancel",
]

T = TypeVar("T")

FORMAT_VERSION: Final = 1


class TokenStoreError(Exception):
    """A token store could not be read, written or locked.

    The message names the file or key and what is wrong with it, and never
    quotes what the store holds.
    """


async def finish_despite_cancel(work: Awaitable[T]) -> T:
    """Await `work` to its end; a cancel meanwhile is raised only after it.

    A refresh cancelled by its timeout while saving must still save: the
    server has already rotated the refresh token, and the store's lock must
    not pass to another process before the new tokens are stored, or that
    process would present the old refresh token and be refused.

    ```python
    await finish_despite_cancel(asyncio.to_thread(write, tokens))
    ```
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])  # a second cancel here gives up waiting
        raise


def encode_tokens(tokens: Tokens) -> bytes:
    """The stored form of `tokens`: a JSON object with a format version.

    >>> decode_tokens(encode_tokens(Tokens("a", "r")), where="an example")
    Tokens(token_type='Bearer', expires_at=None, refresh_token=<set>)
    """
    document = {
        "version": FORMAT_VERSION,
        "tokens": {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at,
            "token_type": tokens.token_type,
            "scope": tokens.scope,
        },
    }
    return json.dumps(document).encode()


def decode_tokens(data: bytes | str, *, where: str) -> Tokens:
    """Tokens from their stored form; `TokenStoreError` naming `where` if not.

    The error never quotes the data. It is raised `from None`, so that a
    printed traceback does not go on to the JSON or Unicode error, whose
    message or attributes quote the document.
    """
    try:
        document = json.loads(data)
    except json.JSONDecodeError as error:
        position = f"line {error.lineno}, column {error.colno}"
        raise TokenStoreError(f"{where} is not valid JSON ({position})") from None
    except UnicodeDecodeError:
        raise TokenStoreError(f"{where} is not UTF-8 text") from None
    except (ValueError, RecursionError):  # nested too deep, say
        raise TokenStoreError(f"{where} is not JSON that can be read") from None

    if not isinstance(document, dict):
        raise TokenStoreError(f"{where} holds {_kind(document)}, not a JSON object")
    version = document.get("version")
    if version != FORMAT_VERSION:
        found = f"version {version}" if type(version) is int else "no version number"
        raise TokenStoreError(
            f"{where} has {found}; this version of rx_auth reads"
            f" format version {FORMAT_VERSION} only"
        )
    fields = document.get("tokens")
    if not isinstance(fields, dict):
        raise TokenStoreError(f'{where} has no "tokens" object')
    return _tokens_from(fields, where)


def _tokens_from(fields: Mapping[str, Any], where: str) -> Tokens:
    expires_at = fields.get("expires_at")
    if expires_at is not None and not _is_finite_number(expires_at):
        raise TokenStoreError(
            f"{where}: expires_at must be a number or null, got {_kind(expires_at)}"
        )
    return Tokens(
        access_token=_text(fields, "access_token", where),
        refresh_token=_optional_text(fields, "refresh_token", where),
        expires_at=None if expires_at is None else float(expires_at),
        token_type=_text(fields, "token_type", where),
        scope=_optional_text(fields, "scope", where),
    )


def _text(fields: Mapping[str, Any], key: str, where: str) -> str:
    value = fields.get(key)
    if not isinstance(value, str) or not value:
        raise TokenStoreError(
            f"{where}: {key} must be a non-empty string, got {_kind(value)}"
        )
    return value


def _optional_text(fields: Mapping[str, Any], key: str, where: str) -> str | None:
    if fields.get(key) is None:
        return None
    return _text(fields, key, where)


def _is_finite_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _kind(value: object) -> str:
    """The JSON name of `value`'s type, to say what was found without quoting it."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
