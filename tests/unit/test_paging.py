"""Page sizes and opaque page tokens shared by every List RPC."""

from __future__ import annotations

import base64

import pytest

from services.common.errors import InvalidArgument
from services.common.paging import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PageToken,
    decode_token,
    encode_token,
    number,
    page_size,
    text,
    whole,
)


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


# --- PageToken: the one helper every List RPC pages with ------------------------------------------

RUNS = PageToken("runs", before=whole)
SEARCH = PageToken("search", score=number, seq=whole, name=text)


def test_a_list_reads_back_the_position_its_own_token_holds():
    assert RUNS.read(RUNS.token(before=7)) == {"before": 7}
    assert SEARCH.read(SEARCH.token(score=1, seq=3, name="a")) == {"score": 1.0, "seq": 3, "name": "a"}


def test_no_token_is_the_first_page():
    assert RUNS.read("") is None


def test_a_page_with_one_row_more_than_the_limit_has_a_token_for_the_next_page():
    rows = [10, 9, 8, 7]

    page, token = RUNS.page(rows, 3, lambda row: {"before": row})

    assert page == [10, 9, 8]
    assert RUNS.read(token) == {"before": 8}


def test_the_last_page_has_no_token():
    assert RUNS.page([10, 9], 3, lambda row: {"before": row}) == ([10, 9], "")
    assert RUNS.page([10, 9, 8], 3, lambda row: {"before": row}) == ([10, 9, 8], "")


@pytest.mark.parametrize(
    "foreign",
    [
        SEARCH.token(score=1, seq=3, name="a"),  # another list's token
        PageToken("messages", before=whole).token(before=3),  # another list, the same keys
        encode_token({"before": 3}),  # a position that names no list
    ],
    ids=["other-list", "other-list-same-keys", "no-list"],
)
def test_a_token_of_another_list_is_invalid_argument(foreign):
    with pytest.raises(InvalidArgument) as caught:
        RUNS.read(foreign)

    assert [v.field for v in caught.value.violations] == ["page_token"]


@pytest.mark.parametrize(
    "position",
    [
        {"k": "runs", "before": -1},
        {"k": "runs", "before": "3"},
        {"k": "runs", "before": True},
        {"k": "runs", "before": 1.5},
        {"k": "runs"},
        {"k": "runs", "before": 3, "extra": 1},
    ],
    ids=["negative", "text", "bool", "fraction", "missing-key", "extra-key"],
)
def test_a_tampered_token_is_invalid_argument(position):
    with pytest.raises(InvalidArgument) as caught:
        RUNS.read(encode_token(position))

    assert [v.field for v in caught.value.violations] == ["page_token"]


def test_a_token_with_its_bytes_altered_is_invalid_argument():
    token = RUNS.token(before=7)

    with pytest.raises(InvalidArgument):
        RUNS.read(token[:-3] + "!!!")
