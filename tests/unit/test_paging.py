"""Page sizes and opaque page tokens shared by every List RPC."""

from __future__ import annotations

import base64

import pytest

from services.common.errors import InvalidArgument
from services.common.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_token, encode_token, page_size


def test_zero_page_size_means_the_default():
    assert page_size(0) == DEFAULT_PAGE_SIZE
    assert page_size(0, default=7) == 7


def test_page_size_is_capped_at_the_maximum():
    assert page_size(MAX_PAGE_SIZE + 1) == MAX_PAGE_SIZE
    assert page_size(500, maximum=100) == 100
    assert page_size(3) == 3


def test_negative_page_size_is_refused_naming_the_field():
    with pytest.raises(InvalidArgument) as caught:
        page_size(-1)

    assert [v.field for v in caught.value.violations] == ["page_size"]


def test_token_round_trips_its_position():
    position = {"seq": 42, "id": "b6f0", "created_at": "2024-01-01T00:00:00+00:00"}

    assert decode_token(encode_token(position)) == position


def test_token_is_url_safe_and_unpadded():
    token = encode_token({"seq": 1, "x": "??>>"})

    assert "=" not in token
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_empty_token_means_the_first_page():
    assert decode_token("") is None


@pytest.mark.parametrize(
    "forged",
    [
        "not a token!",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b"{broken json").decode(),
    ],
    ids=["not-base64", "not-utf8", "not-an-object", "not-json"],
)
def test_forged_token_is_refused_naming_page_token(forged):
    with pytest.raises(InvalidArgument) as caught:
        decode_token(forged)

    assert [v.field for v in caught.value.violations] == ["page_token"]
