"""`HttpContextToken` and `HttpContext`: typed per-request values."""

from rx_auth import HttpContext, HttpContextToken

RETRIES = HttpContextToken(3, name="RETRIES")


def test_a_token_not_set_reads_as_its_default() -> None:
    context = HttpContext()

    assert context.get(RETRIES) == 3
    assert not context.has(RETRIES)


def test_set_returns_a_new_context_and_leaves_the_original_unchanged() -> None:
    original = HttpContext()

    changed = original.set(RETRIES, 5)

    assert changed is not original
    assert changed.get(RETRIES) == 5
    assert original.get(RETRIES) == 3
    assert not original.has(RETRIES)


def test_has_is_true_for_a_token_set_to_its_default_value() -> None:
    context = HttpContext().set(RETRIES, 3)

    assert context.has(RETRIES)
    assert list(context.keys()) == [RETRIES]


def test_delete_brings_back_the_default_and_leaves_the_original_unchanged() -> None:
    original = HttpContext().set(RETRIES, 5)

    deleted = original.delete(RETRIES)

    assert deleted.get(RETRIES) == 3
    assert not deleted.has(RETRIES)
    assert original.get(RETRIES) == 5


def test_delete_keeps_the_other_tokens() -> None:
    label = HttpContextToken("", name="LABEL")
    context = HttpContext().set(RETRIES, 5).set(label, "x")

    assert context.delete(RETRIES).get(label) == "x"


def test_tokens_with_the_same_name_and_default_are_different_keys() -> None:
    first = HttpContextToken(False, name="FLAG")
    second = HttpContextToken(False, name="FLAG")

    context = HttpContext().set(first, True)

    assert first != second
    assert context.get(first) is True
    assert context.get(second) is False
    assert not context.has(second)


def test_repr_names_the_tokens_but_not_their_values() -> None:
    secret = HttpContextToken("", name="SESSION")
    context = HttpContext().set(secret, "hush-hush")

    assert "SESSION" in repr(context)
    assert "hush-hush" not in repr(context)
