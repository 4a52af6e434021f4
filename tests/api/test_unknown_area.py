"""An unknown area is a 404 naming it on every route that filters by area."""

from __future__ import annotations

from tests.api.conftest import Api


def test_unknown_area_is_404_on_map_and_proposals(api: Api) -> None:
    known = sorted(api.state.areas())[0]
    for path in ("/map/bays", "/proposals"):
        r = api.client.get(path, params={"area": "nope"})
        assert r.status_code == 404, (path, r.text)
        assert "'nope'" in r.json()["error_description"], r.text
        r = api.client.get(path, params={"area": known})
        assert r.status_code == 200, (path, r.text)
    assert api.client.get("/proposals", params={"area": known}).json()["features"] == []
