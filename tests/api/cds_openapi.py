"""Validate answers against the OMF's own CDS OpenAPI 3.1 files (1.0 and 1.1).

The OpenAPI documents in ``../shared/standards/cds-openapi-{1.0,1.1}`` are loaded
as they are; their ``$ref``s between files are resolved by ``referencing`` and
schemas checked by ``jsonschema`` (Draft 2020-12, the dialect of OpenAPI 3.1) with
format checking (``uuid``, ``date``).

Where an OpenAPI file contradicts the normative CDS text (the OMF: "the
authoritative source of truth for the CDS specification is the
curb-data-specification repository"), baywatch follows the text and the schema
is corrected here, each correction named in ``ERRATA`` with the text it follows.
Nothing else is changed.
"""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

STANDARDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "standards"

_FEATURE = {
    "type": "object",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"const": "Feature"},
        "geometry": {"$ref": "./geoJSON_point.yaml"},
        "properties": {
            "type": "object",
            "required": ["timestamp"],
            "properties": {"timestamp": {"$ref": "./timestamp.yaml"}},
        },
    },
}


def _event_location_feature(doc: dict[str, Any]) -> None:
    doc["properties"]["event_location"] = copy.deepcopy(_FEATURE)


def _event_10(doc: dict[str, Any]) -> None:
    _event_location_feature(doc)
    doc["properties"]["event_type"] = {"$ref": "./event_type.yaml"}
    doc["properties"]["vehicle_blocked_lane_types"] = {
        "type": "array",
        "items": {"$ref": "./lane_type.yaml"},
    }


def _polygon_rings(doc: dict[str, Any]) -> None:
    doc["items"] = {"type": "array", "minItems": 4, "items": copy.deepcopy(doc["items"])}


def _days_of_week_array(doc: dict[str, Any]) -> None:
    days = doc["properties"]["days_of_week"]
    doc["properties"]["days_of_week"] = {
        "type": "array",
        "items": {"type": "string", "enum": list(days["enum"])},
    }


def _vehicle_bicycle(doc: dict[str, Any]) -> None:
    doc["enum"] = ["bicycle" if v == "bicyle" else v for v in doc["enum"]]


def _data_object(doc: dict[str, Any]) -> None:
    for item in doc["paths"].values():
        for op in item.values():
            for resp in op.get("responses", {}).values():
                for media in resp.get("content", {}).values():
                    props = media.get("schema", {}).get("properties", {})
                    data = props.get("data")
                    if data is not None and data.get("type") == "array":
                        props["data"] = data["items"]


# (version, file) -> (correction, the CDS text it follows). Each is kept only because no
# answer can satisfy both the raw file and the text (test_cds_errata.py shows, for each,
# that a real answer the text requires fails the raw file, and that nothing else does).
ERRATA: dict[tuple[str, str], tuple[Callable[[dict[str, Any]], None], str]] = {
    ("1.0", "curb_event.yaml"): (
        _event_10,
        "general-information.md 'Geographic Telemetry Data': 'Whenever a vehicle or device "
        "location coordinate measurement is presented, it must be represented as a GeoJSON "
        "Feature object with a corresponding properties object' (timestamp Required); the "
        "file: a bare Point, and RFC 7946 7.1 forbids a 'coordinates' member on a Feature. "
        "events/README.md: '`event_type` | Event Type | Required' (comms_lost, park_start...; "
        "the file points at Event Purpose), '`vehicle_blocked_lane_types` | Array of Lane "
        "Type | ... If no lanes are blocked ... the array should be empty' (the file: one)",
    ),
    ("1.1", "coordinates.yaml"): (
        _polygon_rings,
        "general-information.md 'Polygon': 'A polygon is a GeoJSON geometry of type "
        '"Polygon" as defined in RFC 7946 3.1.6\' (example coordinates [[[lon, lat], ...]]); '
        "the file has one ring level, so no RFC polygon (nor, the oneOf matching twice, any "
        "LineString) validates as a zone geometry",
    ),
    ("1.1", "curb_event.yaml"): (
        _event_location_feature,
        "as in 1.0: CDS 1.1 keeps 'Geographic Telemetry Data' Features for event_location",
    ),
    ("1.0", "Curbs API.yaml"): (
        _data_object,
        "curbs/README.md 'Query Curb Zones': '`data` Payload: a JSON object with a `zones` "
        "field containing an array of Curb Zone objects' (areas, spaces, policies alike); "
        "the file: an array (fixed in the 1.1 OpenAPI)",
    ),
    ("1.0", "time_spans.yaml"): (
        _days_of_week_array,
        "curbs/README.md 'Time Span': '`days_of_week` | Array of strings | Optional | An array "
        "of days of the week' (the file: one string; the 1.1 OpenAPI CHANGELOG: 'Fix "
        "days_of_week from single string to array type')",
    ),
    ("1.0", "vehicle_type.yaml"): (
        _vehicle_bicycle,
        "events/README.md 'Vehicle Type': '`bicycle` | A two-wheeled mobility device...' "
        "(the file spells bicyle; 1.1 CHANGELOG: 'fix bicyle -> bicycle')",
    ),
}


def available() -> bool:
    return all((STANDARDS / f"cds-openapi-{v}" / "APIs").is_dir() for v in ("1.0", "1.1"))


needs_standards = pytest.mark.skipif(
    not available(), reason="../shared/standards (the OMF OpenAPI files) is absent"
)


class CdsOpenApi:
    """The three OpenAPI documents of one CDS version, ready to validate answers."""

    def __init__(self, version: str, errata: bool = True) -> None:
        self.version = version
        self.errata = errata
        self.root = (STANDARDS / f"cds-openapi-{version}").resolve()
        self.registry: Registry[Any] = Registry(retrieve=self._retrieve)  # type: ignore[call-arg]
        self.apis = {
            name: self._load(self.root / "APIs" / f"{name} API.yaml")
            for name in ("Curbs", "Events", "Metrics")
        }
        self.applied: list[str] = []

    def _load(self, path: Path) -> dict[str, Any]:
        doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        fix = ERRATA.get((self.version, path.name)) if self.errata else None
        if fix is not None:
            fix[0](doc)
        return doc

    def _retrieve(self, uri: str) -> Resource[Any]:
        path = Path(unquote(urlparse(uri).path))
        if not path.exists() and (path.parent / path.name.replace("-", "_")).exists():
            # A broken $ref in the 1.0 files: rest_response_last-updated.yaml names
            # the file rest_response_last_updated.yaml; not a schema change.
            path = path.parent / path.name.replace("-", "_")
        return Resource.from_contents(self._load(path), default_specification=DRAFT202012)

    def _uri(self, api: str) -> str:
        return (self.root / "APIs" / f"{api} API.yaml").as_uri()

    def response_schema(self, api: str, path: str, status: str = "200") -> dict[str, Any]:
        op = self.apis[api]["paths"][path]["get"]
        content = op["responses"][status]["content"]
        schema: dict[str, Any] = next(iter(content.values()))["schema"]
        return schema

    def validator(self, api: str, schema: dict[str, Any]) -> Draft202012Validator:
        wrapped = {"$id": self._uri(api), **schema}
        return Draft202012Validator(
            wrapped,
            registry=self.registry.with_resource(
                self._uri(api),
                Resource.from_contents(
                    {"$id": self._uri(api), **self.apis[api]}, default_specification=DRAFT202012
                ),
            ),
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )

    def errors(self, api: str, path: str, body: Any) -> list[str]:
        """Every way ``body`` (a JSON answer of ``GET path``) breaks the OpenAPI schema."""
        v = self.validator(api, self.response_schema(api, path))
        return [_describe(e) for e in v.iter_errors(body)]

    def model_errors(self, model: str, value: Any, api: str = "Events") -> list[str]:
        """Errors of ``value`` against a shared data model (e.g. ``curb_event.yaml``)."""
        v = self.validator(api, {"$ref": f"../Shared Data Models/{model}"})
        return [_describe(e) for e in v.iter_errors(value)]

    def csv_errors(self, model: str, text: str) -> list[str]:
        """Errors of each CSV row (typed as the model's columns say) against ``model``."""
        props = self._model_props(model)
        out = []
        rows = list(csv.DictReader(io.StringIO(text)))
        for n, row in enumerate(rows, start=2):
            value: dict[str, Any] = {}
            for k, cell in row.items():
                if cell == "":
                    continue  # a null: CDS Metrics write missing values as empty cells
                value[k] = _typed(cell, props.get(k, {}))
            out += [f"line {n}: {e}" for e in self.model_errors(model, value, api="Metrics")]
        return out

    @cache  # noqa: B019 - a handful of instances per test session
    def _model_props(self, model: str) -> dict[str, dict[str, Any]]:
        doc = self._load(self.root / "Shared Data Models" / model)
        out = {}
        for k, v in doc.get("properties", {}).items():
            if "$ref" in v and "type" not in v:
                ref = v["$ref"].split("/")[-1]
                target = self._load(self.root / "Shared Data Models" / ref)
                out[k] = {"type": target.get("type")}
            else:
                out[k] = {"type": v.get("type")}
        return out


def _typed(cell: str, schema: dict[str, Any]) -> Any:
    t = schema.get("type")
    try:
        if t == "integer":
            return int(cell)
        if t == "number":
            return float(cell)
    except ValueError:
        return cell  # left as text: the validator names the wrong type
    if t == "array":
        return [c.strip() for c in cell.split(",")]
    return cell


def _describe(e: ValidationError) -> str:
    while e.context:  # a oneOf/anyOf: say what its closest branch lacks
        e = best_match(e.context)
    where = "/".join(str(p) for p in e.absolute_path)
    return f"{where or '<root>'}: {e.message[:300]} [{e.validator}]"


@cache
def spec(version: str, errata: bool = True) -> CdsOpenApi:
    """The OMF OpenAPI of ``version``, corrected by ``ERRATA`` unless ``errata`` is False."""
    return CdsOpenApi(version, errata)
