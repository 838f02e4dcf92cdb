"""`HttpRequest`: immutable, changed only by `clone`, and safe to print."""

from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from rx_auth import HttpContext, HttpContextToken, HttpRequest

URL_ = "https://api.example.com/items"
SECRET = "Bearer s3cret-access-t0ken"


def test_setting_an_attribute_raises_and_keeps_the_old_value() -> None:
    request = HttpRequest("GET", URL_)

    with pytest.raises(AttributeError, match="immutable"):
        request.method = "POST"

    assert request.method == "GET"


def test_deleting_an_attribute_raises() -> None:
    request = HttpRequest("GET", URL_)

    with pytest.raises(AttributeError, match="immutable"):
        del request.url


def test_headers_cannot_be_changed_in_place() -> None:
    request = HttpRequest("GET", URL_, headers={"Accept": "text/plain"})

    with pytest.raises(TypeError):
        request.headers["Accept"] = "application/json"  # type: ignore[index]

    assert request.headers["Accept"] == "text/plain"


@pytest.mark.parametrize("wrap", [dict, CIMultiDictProxy], ids=["dict", "proxy"])
def test_changing_the_callers_headers_later_leaves_the_request_unchanged(
    wrap: Any,
) -> None:
    given = CIMultiDict({"Accept": "text/plain"})
    request = HttpRequest("GET", URL_, headers=wrap(given))

    given["Accept"] = "application/json"
    given["X-Late"] = "1"

    assert dict(request.headers) == {"Accept": "text/plain"}


def test_changing_the_callers_form_fields_later_leaves_the_request_unchanged() -> None:
    fields = {"name": "Ada"}
    request = HttpRequest("POST", URL_, data=fields)

    fields["name"] = "Grace"

    assert request.data == {"name": "Ada"}


def test_method_is_upper_cased_and_a_yarl_url_is_kept_as_text() -> None:
    request = HttpRequest("post", URL(URL_))

    assert request.method == "POST"
    assert request.url == URL_


def test_headers_are_looked_up_whatever_their_case() -> None:
    request = HttpRequest("GET", URL_, headers=[("X-Trace", "abc")])

    assert request.headers["x-trace"] == "abc"
    assert "X-TRACE" in request.headers


def test_set_headers_keeps_the_other_headers_and_leaves_the_original_alone() -> None:
    original = HttpRequest("GET", URL_, headers={"Accept": "application/json"})

    changed = original.clone(set_headers={"Authorization": SECRET})

    assert dict(changed.headers) == {
        "Accept": "application/json",
        "Authorization": SECRET,
    }
    assert "Authorization" not in original.headers


def test_set_headers_replaces_a_header_named_in_another_case() -> None:
    original = HttpRequest("GET", URL_, headers={"authorization": "Bearer old"})

    changed = original.clone(set_headers={"Authorization": "Bearer new"})

    assert changed.headers.getall("AUTHORIZATION") == ["Bearer new"]


def test_clone_with_headers_replaces_every_header() -> None:
    original = HttpRequest("GET", URL_, headers={"Accept": "text/plain", "X-A": "1"})

    changed = original.clone(headers={"X-B": "2"})

    assert dict(changed.headers) == {"X-B": "2"}
    assert dict(original.headers) == {"Accept": "text/plain", "X-A": "1"}


def test_clone_keeps_the_id_while_new_requests_get_new_ids() -> None:
    first = HttpRequest("GET", URL_)
    second = HttpRequest("GET", URL_)

    assert first.clone(set_headers={"X": "1"}).id == first.id
    assert first.clone(method="PUT", url=URL_ + "/1").id == first.id
    assert second.id != first.id


def test_clone_with_a_new_method_and_url_keeps_every_other_part() -> None:
    flag = HttpContextToken(False, name="FLAG")
    original = HttpRequest(
        "GET",
        URL_,
        headers={"Accept": "text/plain"},
        params={"page": 2},
        json={"a": 1},
        context=HttpContext().set(flag, True),
        response_type="text",
        report_progress=True,
    )

    changed = original.clone(method="put", url=URL_ + "/7")

    assert (changed.method, changed.url) == ("PUT", URL_ + "/7")
    assert dict(changed.headers) == {"Accept": "text/plain"}
    assert changed.params == (("page", "2"),)
    assert changed.json == {"a": 1}
    assert changed.context.get(flag) is True
    assert changed.response_type == "text"
    assert changed.report_progress is True
    assert (original.method, original.url) == ("GET", URL_)


def test_clone_with_json_drops_the_form_data() -> None:
    original = HttpRequest("POST", URL_, data={"a": "1"})

    changed = original.clone(json={"b": 2})

    assert (changed.json, changed.data) == ({"b": 2}, None)
    assert original.data == {"a": "1"}


def test_clone_with_data_drops_the_json_body() -> None:
    original = HttpRequest("POST", URL_, json={"b": 2})

    changed = original.clone(data=b"raw")

    assert (changed.json, changed.data) == (None, b"raw")
    assert original.json == {"b": 2}


def test_clone_with_both_json_and_data_raises() -> None:
    request = HttpRequest("POST", URL_)

    with pytest.raises(ValueError, match="json or data, not both"):
        request.clone(json={"b": 2}, data=b"raw")


def test_clone_with_a_new_context_leaves_the_original_context() -> None:
    retried = HttpContextToken(False, name="RETRIED")
    original = HttpRequest("GET", URL_)

    changed = original.clone(context=original.context.set(retried, True))

    assert changed.context.get(retried) is True
    assert original.context.get(retried) is False


def test_clone_with_a_bad_response_type_raises() -> None:
    request = HttpRequest("GET", URL_)

    with pytest.raises(ValueError, match="response_type"):
        request.clone(response_type="xml")  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["", None, 7])
def test_a_method_that_is_not_a_non_empty_string_raises(method: Any) -> None:
    with pytest.raises(ValueError, match="method must be a non-empty string"):
        HttpRequest(method, URL_)


def test_json_and_data_together_raise() -> None:
    with pytest.raises(ValueError, match="json or data, not both"):
        HttpRequest("POST", URL_, json={"a": 1}, data=b"raw")


def test_an_unknown_response_type_raises_naming_the_choices() -> None:
    with pytest.raises(ValueError, match=r"response_type must be one of .*'xml'"):
        HttpRequest("GET", URL_, response_type="xml")  # type: ignore[arg-type]


@pytest.mark.parametrize("data", ["text", ["a", "b"], 42])
def test_data_that_is_neither_bytes_nor_a_mapping_raises(data: Any) -> None:
    with pytest.raises(TypeError, match="data must be bytes or a mapping"):
        HttpRequest("POST", URL_, data=data)


def test_repr_names_the_headers_but_never_shows_their_values() -> None:
    request = HttpRequest(
        "GET", URL_, headers={"Authorization": SECRET, "Cookie": "sid=hush-hush"}
    ).clone(set_headers={"X-Api-Key": "k3y-value"})

    for text in (repr(request), str(request)):
        assert "authorization" in text
        assert "s3cret" not in text
        assert "hush-hush" not in text
        assert "k3y-value" not in text


def test_url_with_params_is_the_url_when_there_are_none() -> None:
    assert HttpRequest("GET", URL_ + "?a=1").url_with_params == URL_ + "?a=1"


def test_url_with_params_appends_to_the_query_and_encodes_values() -> None:
    params: dict[str, str | int] = {"q": "x y&z", "n": 3}
    request = HttpRequest("GET", URL_ + "?a=1", params=params)

    query = URL(request.url_with_params).query
    assert list(query.items()) == [("a", "1"), ("q", "x y&z"), ("n", "3")]
    assert request.url_with_params == URL_ + "?a=1&q=x+y%26z&n=3"


def test_params_given_as_pairs_keep_repeated_names_in_order() -> None:
    request = HttpRequest("GET", URL_, params=[("tag", "b"), ("tag", "a")])

    assert request.params == (("tag", "b"), ("tag", "a"))
    assert request.url_with_params == URL_ + "?tag=b&tag=a"
