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


def test_next_link_keeps_other_parameters() -> None:
    response = Response()
    url = URL("http://api.example/items/?tag=a&tag=b&limit=2&sort=title")
    set_page_headers(response, url, PageParams(limit=2, offset=0), total=5)
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
