import pytest
from fastapi import Response
from pydantic import ValidationError
from starlette.datastructures import URL

from servicekit.pagination import MAX_OFFSET, PageParams, decode_cursor, encode_cursor, set_page_headers


def test_defaults_and_bounds() -> None:
    assert PageParams() == PageParams(limit=20, offset=0)
    PageParams(limit=1, offset=MAX_OFFSET)
    PageParams(limit=100)
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"offset": MAX_OFFSET + 1}):
        with pytest.raises(ValidationError):
            PageParams(**bad)


class _Filtered(PageParams):
    tag: list[str] = []
    sort: str = "-created_at"
    available: bool | None = None


def test_next_link_keeps_the_filters_and_sort() -> None:
    response = Response()
    url = URL("http://api.example/items/?tag=a&tag=b&limit=2&sort=title")
    set_page_headers(response, url, _Filtered(limit=2, offset=0, tag=["a", "b"], sort="title"), total=5)
    assert response.headers["X-Total-Count"] == "5"
    link = response.headers["Link"]
    assert link.endswith('>; rel="next"')
    next_url = URL(link[1 : link.index(">")])
    assert (next_url.path, next_url.query.count("tag="), next_url.query.count("sort=title")) == ("/items/", 2, 1)
    assert "offset=2" in next_url.query and "limit=2" in next_url.query


@pytest.mark.parametrize(("offset", "total"), [(3, 5), (0, 2), (10, 5), (0, 0)])
def test_no_next_link_on_the_last_page(offset: int, total: int) -> None:
    response = Response()
    set_page_headers(response, URL("http://api.example/items/"), PageParams(limit=2, offset=offset), total=total)
    assert response.headers["X-Total-Count"] == str(total)
    assert "Link" not in response.headers


def test_next_link_carries_only_the_validated_query() -> None:
    """~1000 unknown parameters once came back in `Link` and overflowed the
    gateway's header buffer (502)."""
    junk = "&".join(f"junk{n}={'x' * 20}" for n in range(1000))
    url = URL(f"http://api.example/bookmarks/?{junk}&tag=a&tag=b&limit=2&sort=title&available=false")
    response = Response()
    page = _Filtered(limit=2, tag=["a", "b"], sort="title", available=False)
    set_page_headers(response, url, page, total=5)
    link = response.headers["Link"]
    assert "junk" not in link and len(link) < 200
    next_url = URL(link[1 : link.index(">")])
    assert next_url.path == "/bookmarks/"
    assert sorted(next_url.query.split("&")) == sorted(
        ["tag=a", "tag=b", "sort=title", "available=false", "limit=2", "offset=2"]
    )


@pytest.mark.parametrize("values", [[], ["-title", 'ünï "x"', None, 1.5], ["a" * 3000]])
def test_cursors_round_trip_and_stay_url_safe(values: list[object]) -> None:
    cursor = encode_cursor(values)
    assert decode_cursor(cursor) == values
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("cursor", ["", "!", "e30", "bnVsbA", "eyJhIjogMX0", "//8", "W1s" * 10, "W" * 4000])
def test_anything_else_is_not_a_cursor(cursor: str) -> None:
    with pytest.raises(ValueError, match="not one this API made"):
        decode_cursor(cursor)


def test_cursor_or_offset_not_both() -> None:
    PageParams(cursor="abc")
    PageParams(cursor="abc", offset=0)
    with pytest.raises(ValidationError, match="not both"):
        PageParams(cursor="abc", offset=1)


def test_next_link_at_a_cursor_replaces_the_start() -> None:
    response = Response()
    page = _Filtered(limit=2, cursor="old", sort="title", tag=["a"])
    set_page_headers(response, URL("http://api.example/items/?cursor=old"), page, total=5, next_cursor="new")
    link = response.headers["Link"]
    assert sorted(URL(link[1 : link.index(">")]).query.split("&")) == sorted(
        ["tag=a", "sort=title", "limit=2", "cursor=new"]
    )


def test_no_offset_link_from_a_cursor_page_without_a_next_cursor() -> None:
    response = Response()
    set_page_headers(response, URL("http://api.example/items/"), PageParams(limit=2, cursor="c"), total=50)
    assert "Link" not in response.headers
