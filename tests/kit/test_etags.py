import pytest

from servicekit.errors import PreconditionFailed
from servicekit.etags import check_if_match, make_etag


def test_etags_are_strong_opaque_and_deterministic() -> None:
    tag = make_etag("row-1", 3)
    assert tag == make_etag("row-1", 3)
    assert tag.startswith('"') and tag.endswith('"') and not tag.startswith("W/")
    assert "row-1" not in tag
    assert tag != make_etag("row-1", 4)
    # Parts are delimited, so ("a1", 2) and ("a", 12) never collide by concatenation.
    assert make_etag("a1", 2) != make_etag("a", 12)


@pytest.mark.parametrize("header", [None, "*", " * ", '"x"', '"y", "x"', '"y","x"', 'W/"y", "x"'])
def test_if_match_passes(header: str | None) -> None:
    check_if_match(header, '"x"')


@pytest.mark.parametrize("header", ['"y"', 'W/"x"', "x", "", '"x', "**", '"x-longer"'])
def test_if_match_fails_with_412(header: str) -> None:
    with pytest.raises(PreconditionFailed):
        check_if_match(header, '"x"')
