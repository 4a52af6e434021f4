"""Walking reach (and walking metres) between demand points and kerb sites, and the exact
demand aggregation.

Network distance when a street graph is given (networkx shortest paths on the
densified street lines, plus the straight walk from each point to its nearest
graph node), straight-line distance otherwise. All in Lambert-93 metres.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass

import networkx as nx
import numpy as np
import shapely

from occupancy.domain.geo import LAMBERT93, WGS84, transformer
from optimiser.inputs import FloatArray, IntArray

_TO_L93 = transformer(WGS84, LAMBERT93)
_TO_WGS = transformer(LAMBERT93, WGS84)

# Street lines are cut so that no graph edge is longer than this: snapping a point
# to the nearest node is then at most half this far from snapping to the line.
DENSIFY_M = 10.0


def to_l93(lonlat: FloatArray) -> FloatArray:
    """WGS84 ``(N, 2)`` (lon, lat) degrees → Lambert-93 ``(N, 2)`` metres (x east, y north)."""
    x, y = _TO_L93.transform(lonlat[:, 0], lonlat[:, 1])
    return np.column_stack([x, y]).astype(float)


def to_wgs84(xy: FloatArray) -> FloatArray:
    """Lambert-93 ``(N, 2)`` metres → WGS84 ``(N, 2)`` (lon, lat) degrees."""
    lon, lat = _TO_WGS.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat]).astype(float)


@dataclass(frozen=True, eq=False)
class StreetGraph:
    """A walking graph: nodes are densified street vertices (Lambert-93 metres)."""

    graph: nx.Graph
    node_xy: FloatArray
    tree: shapely.STRtree

    def snap(self, xy: FloatArray) -> tuple[IntArray, FloatArray]:
        """Nearest node of each point and the straight walk to it (m)."""
        pts = shapely.points(xy)
        idx = self.tree.nearest(pts)
        dist = np.hypot(*(self.node_xy[idx] - xy).T)
        return np.asarray(idx, dtype=np.int64), dist


def street_graph(lines_xy: list[FloatArray]) -> StreetGraph:
    """Build the walking graph from street polylines (each an (k, 2) array in metres)."""
    key_of: dict[tuple[int, int], int] = {}
    coords: list[tuple[float, float]] = []
    g = nx.Graph()

    def node(x: float, y: float) -> int:
        # Decimetre rounding joins ways that share an OSM node (same coordinates).
        k = (round(x * 10), round(y * 10))
        if k not in key_of:
            key_of[k] = len(coords)
            coords.append((x, y))
        return key_of[k]

    for line in lines_xy:
        geom = shapely.segmentize(shapely.linestrings(line), DENSIFY_M)
        pts = shapely.get_coordinates(geom)
        ids = [node(float(x), float(y)) for x, y in pts]
        for (a, b), (p, q) in zip(itertools.pairwise(ids), itertools.pairwise(pts), strict=False):
            if a != b:
                g.add_edge(a, b, weight=float(np.hypot(*(p - q))))
    node_xy = np.asarray(coords, dtype=float).reshape(-1, 2)
    return StreetGraph(g, node_xy, shapely.STRtree(shapely.points(node_xy)))


def reach_straight(demand_xy: FloatArray, site_xy: FloatArray, limit_m: float) -> list[IntArray]:
    """Sites within ``limit_m`` straight-line metres of each demand point."""
    return reach_straight_m(demand_xy, site_xy, limit_m)[0]


def reach_straight_m(
    demand_xy: FloatArray, site_xy: FloatArray, limit_m: float
) -> tuple[list[IntArray], list[FloatArray]]:
    """Sites within ``limit_m`` straight-line metres of each demand point, and those
    distances (m), per point, in the same order."""
    tree = shapely.STRtree(shapely.points(site_xy))
    d_idx, s_idx = tree.query(shapely.points(demand_xy), predicate="dwithin", distance=limit_m)
    dist = np.hypot(*(demand_xy[d_idx] - site_xy[s_idx]).T) if len(d_idx) else np.zeros(0)
    return _split(d_idx, s_idx, len(demand_xy), dist)


def reach_network(
    demand_xy: FloatArray, site_xy: FloatArray, limit_m: float, graph: StreetGraph
) -> list[IntArray]:
    """Sites within ``limit_m`` walking metres of each demand point on the street graph."""
    return reach_network_m(demand_xy, site_xy, limit_m, graph)[0]


def reach_network_m(
    demand_xy: FloatArray, site_xy: FloatArray, limit_m: float, graph: StreetGraph
) -> tuple[list[IntArray], list[FloatArray]]:
    """Sites within ``limit_m`` walking metres of each demand point on the street graph
    (straight walk to the nearest node, shortest path, straight walk to the site), and
    those walking distances (m), per point, in the same order."""
    d_node, d_off = graph.snap(demand_xy)
    s_node, s_off = graph.snap(site_xy)
    at_node: dict[int, list[int]] = defaultdict(list)
    for i, nd in enumerate(d_node):
        if d_off[i] <= limit_m:
            at_node[int(nd)].append(i)
    d_list: list[int] = []
    s_list: list[int] = []
    m_list: list[float] = []
    for j, nd in enumerate(s_node):
        budget = limit_m - s_off[j]
        if budget < 0 or int(nd) not in graph.graph:
            continue
        lengths = nx.single_source_dijkstra_path_length(graph.graph, int(nd), cutoff=budget)
        for other, dist in lengths.items():
            for i in at_node.get(other, ()):
                walk = dist + d_off[i] + s_off[j]
                if walk <= limit_m:
                    d_list.append(i)
                    s_list.append(j)
                    m_list.append(float(walk))
    return _split(
        np.asarray(d_list, dtype=np.int64),
        np.asarray(s_list, dtype=np.int64),
        len(demand_xy),
        np.asarray(m_list, dtype=float),
    )


def _split(
    d_idx: IntArray, s_idx: IntArray, n: int, dist: FloatArray
) -> tuple[list[IntArray], list[FloatArray]]:
    order = np.lexsort((s_idx, d_idx))
    d_sorted, s_sorted, m_sorted = d_idx[order], s_idx[order], dist[order]
    bounds = np.searchsorted(d_sorted, np.arange(n + 1))
    sites = [s_sorted[bounds[i] : bounds[i + 1]].astype(np.int64) for i in range(n)]
    metres = [m_sorted[bounds[i] : bounds[i + 1]].astype(float) for i in range(n)]
    return sites, metres


@dataclass(frozen=True, eq=False)
class Groups:
    """Demand points with identical rows (the same sites in reach, each with the same
    served share), merged into one weighted point.

    The merge is exact for the placement model: a group's demand may be split over
    its sites in any proportion, and each site serves the same share of it, so such
    points are interchangeable and the aggregated model has the same optimum and bound.
    ``share[g][i]`` is the share of group g's deliveries sent to ``reach[g][i]`` that
    use that site (``optimiser.walking``); () means 1 everywhere (the old 0/1 reach).
    """

    daily: FloatArray
    reach: tuple[IntArray, ...]
    of_point: IntArray  # group index of each demand point, -1 if it reaches no site
    unreachable_daily: float
    share: tuple[FloatArray, ...] = ()

    def share_of(self, g: int) -> FloatArray:
        """The served share of group ``g`` at each site of ``reach[g]`` (0..1)."""
        return self.share[g] if self.share else np.ones(len(self.reach[g]))


def aggregate(
    daily: FloatArray, reach: list[IntArray], share: list[FloatArray] | None = None
) -> Groups:
    """Merge demand points (deliveries a day each) with the same sites in reach and, when
    ``share`` is given, the same served share at each, into ``Groups``; sites with a
    share of 0 are dropped, and points reaching no site are counted in
    ``unreachable_daily``.
    """
    index: dict[bytes, int] = {}
    sums: list[float] = []
    sets: list[IntArray] = []
    shares: list[FloatArray] = []
    of_point = np.full(len(reach), -1, dtype=np.int64)
    lost = 0.0
    for i, r in enumerate(reach):
        f = share[i] if share is not None else np.ones(len(r))
        if share is not None:
            keep = f > 0
            r, f = r[keep], f[keep]
        if len(r) == 0:
            lost += float(daily[i])
            continue
        if daily[i] <= 0:
            continue
        key = r.tobytes() + np.round(f, 9).tobytes()
        g = index.get(key)
        if g is None:
            g = index[key] = len(sums)
            sums.append(0.0)
            sets.append(r)
            shares.append(f)
        sums[g] += float(daily[i])
        of_point[i] = g
    return Groups(
        np.asarray(sums, dtype=float),
        tuple(sets),
        of_point,
        lost,
        tuple(shares) if share is not None else (),
    )
