"""The one geo module: great-circle distance in lon/lat order, the metric projection policy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod

from occupancy.domain.geo import (
    EARTH_RADIUS_M,
    LAMBERT93,
    MetricProjection,
    camera_crs,
    great_circle_m,
    metric_crs,
    transformer,
)

NOTRE_DAME = (2.3499, 48.8530)  # lon, lat
TOUR_EIFFEL = (2.2945, 48.8584)
WGS84_ELLIPSOID = Geod(ellps="WGS84")


def test_one_degree_of_meridian_is_a_180th_of_half_the_circumference() -> None:
    assert great_circle_m(2.0, 48.0, 2.0, 49.0) == pytest.approx(math.pi * EARTH_RADIUS_M / 180)


def test_arguments_are_lon_lat_order() -> None:
    # One degree of longitude at 60°N is half a degree of the equator; one of latitude is not.
    along_parallel = great_circle_m(10.0, 60.0, 11.0, 60.0)
    assert along_parallel == pytest.approx(math.pi * EARTH_RADIUS_M / 180 / 2, rel=1e-4)
    # With lat/lon swapped, (60, 10) → (60, 11) would be a degree of meridian instead.
    assert great_circle_m(60.0, 10.0, 60.0, 11.0) != pytest.approx(along_parallel, rel=0.1)


def test_matches_the_ellipsoid_within_half_a_percent() -> None:
    rng = np.random.default_rng(1)
    lon1, lat1 = rng.uniform(-180, 180, 500), rng.uniform(-80, 80, 500)
    lon2, lat2 = rng.uniform(-180, 180, 500), rng.uniform(-80, 80, 500)
    _, _, ellipsoidal = WGS84_ELLIPSOID.inv(lon1, lat1, lon2, lat2)
    sphere = great_circle_m(lon1, lat1, lon2, lat2)
    assert sphere.shape == (500,)
    np.testing.assert_allclose(sphere, ellipsoidal, rtol=5e-3)


def test_scalars_give_a_float_and_arrays_broadcast() -> None:
    d = great_circle_m(*NOTRE_DAME, *TOUR_EIFFEL)
    assert isinstance(d, float)
    _, _, ref = WGS84_ELLIPSOID.inv(*NOTRE_DAME, *TOUR_EIFFEL)
    assert d == pytest.approx(ref, rel=5e-3)  # about 4.1 km
    many = great_circle_m(
        NOTRE_DAME[0], NOTRE_DAME[1], np.array([2.2945, 2.3499]), np.array([48.8584, 48.8530])
    )
    np.testing.assert_allclose(many, [d, 0.0], atol=1e-6)


def test_metric_crs_is_lambert93_in_france_and_utm_elsewhere() -> None:
    assert metric_crs([2.35, 5.37], [48.85, 43.30]).to_epsg() == 2154  # Paris, Marseille
    assert metric_crs([], []).to_epsg() == 2154
    assert metric_crs([-74.0], [40.7]).to_epsg() == 32618  # New York: UTM 18N
    assert metric_crs([151.2], [-33.9]).to_epsg() == 32756  # Sydney: UTM 56S
    assert metric_crs([180.0], [0.0]).to_epsg() == 32660  # the antimeridian is zone 60


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(2.35, 48.86), (-74.0, 40.7)],  # Lambert-93 and UTM
)
def test_projected_distances_agree_with_the_ellipsoid(lon: float, lat: float) -> None:
    rng = np.random.default_rng(2)
    lons = lon + rng.uniform(-0.05, 0.05, 200)  # a city: about 8 km across
    lats = lat + rng.uniform(-0.05, 0.05, 200)
    proj = MetricProjection.for_points(lons, lats)
    x, y = proj.to_xy(lons, lats)
    planar = np.hypot(x[1:] - x[0], y[1:] - y[0])
    _, _, ellipsoidal = WGS84_ELLIPSOID.inv(
        np.full(199, lons[0]), np.full(199, lats[0]), lons[1:], lats[1:]
    )
    # Lambert-93's scale error is under 1e-3 in France, UTM's under 4e-4 in its zone.
    np.testing.assert_allclose(planar, ellipsoidal, rtol=1e-3)
    back_lon, back_lat = proj.to_lonlat(x, y)
    np.testing.assert_allclose(back_lon, lons, atol=1e-9)
    np.testing.assert_allclose(back_lat, lats, atol=1e-9)


def test_camera_plane_measures_from_its_centre_exactly() -> None:
    crs = camera_crs(*NOTRE_DAME)
    x, y = transformer("EPSG:4326", crs).transform(*TOUR_EIFFEL)
    _, _, ref = WGS84_ELLIPSOID.inv(*NOTRE_DAME, *TOUR_EIFFEL)
    assert math.hypot(x, y) == pytest.approx(ref, abs=0.01)  # azimuthal equidistant


def test_transformers_are_cached_and_lon_lat_ordered() -> None:
    t = transformer("EPSG:4326", LAMBERT93)
    assert t is transformer("EPSG:4326", LAMBERT93)
    x, y = t.transform(3.0, 46.5)  # Lambert-93's origin: (700 000, 6 600 000) m
    assert (x, y) == (pytest.approx(700_000, abs=0.01), pytest.approx(6_600_000, abs=0.01))
