import pytest
from fastapi import Response
from pydantic import ValidationError
from starlette.datastructures import URL

from servicekit.pagination import MAX_OFFSET, PageParams, set_page_headers


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
