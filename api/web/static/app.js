// baywatch web map: bays coloured by live state, occupancy at an hour or activity (stops,
// double parking, overstays, misuse) under filters, per bay / street / area / H3 cell;
// period comparison, export, proposals review, live updates (Server-Sent Events).
// Plain ES2020, no build step; every library is served by the app (no CDN).
"use strict";

const STATE_COLOURS = { free: "#16a34a", occupied: "#dc2626", unknown: "#9ca3af" };
const NO_DATA = "#d1d5db";
// ColorBrewer YlOrRd (5 classes) for amounts, RdBu (reversed) for differences.
const SEQ = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
const DIV = ["#2166ac", "#92c5de", "#f7f7f7", "#f4a582", "#b2182b"];
// Fixed thresholds: occupancy shares, and per-day counts a planner reads at a glance.
const FIXED = {
  occupancy: [0.05, 0.1, 0.2, 0.4],
  double_parking: [0.5, 1, 2, 4], sessions: [2, 5, 10, 20], overstays: [0.2, 0.5, 1, 2],
  misuse: [0.2, 0.5, 1, 2], dwell_min: [5, 10, 20, 30],
};
const PROPOSAL_COLOURS = { add: "#15803d", remove: "#b91c1c", move: "#7c3aed", retime: "#0369a1", enforce: "#c2410c" };
const DAY_MS = 86_400_000;

const state = {
  colourBy: "state", hour: 12, dataSource: "observed", data: null, byId: new Map(), chart: null, map: null,
  config: null, activity: null, breaks: null, view: null, proposals: null,
};
window.__baywatch = state;

const $ = (id) => document.getElementById(id);

// ---- basemap ----------------------------------------------------------------------------

function basemapStyle(basemap) {
  const style = { version: 8, sources: {}, layers: [
    { id: "background", type: "background", paint: { "background-color": "#eef0f3" } },
  ] };
  if (basemap.mode === "online") {
    const url = basemap.tile_url;
    if (!url.includes("{z}")) return url;  // a MapLibre style URL
    style.sources.basemap = { type: "raster", tiles: [url], tileSize: 256,
      attribution: "© OpenStreetMap contributors" };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
    $("tile-credit").textContent = "Basemap © OpenStreetMap contributors.";
    return style;
  }
  if (basemap.mode !== "local") return style;  // none: plain background, bays still drawn
  $("tile-credit").textContent = `Basemap ${basemap.attribution || "© OpenStreetMap contributors"}.`;
  for (const layer of ["parks", "water", "areas", "streets"]) {
    style.sources[`bm-${layer}`] = { type: "geojson", data: `/map/basemap/${layer}` };
  }
  style.layers.push(
    { id: "bm-parks", type: "fill", source: "bm-parks", paint: { "fill-color": "#d8ecd0" } },
    { id: "bm-water", type: "fill", source: "bm-water", filter: ["==", ["geometry-type"], "Polygon"],
      paint: { "fill-color": "#aad3df" } },
    { id: "bm-waterways", type: "line", source: "bm-water", filter: ["==", ["geometry-type"], "LineString"],
      paint: { "line-color": "#aad3df", "line-width": 2 } },
    { id: "bm-streets-casing", type: "line", source: "bm-streets",
      filter: ["in", ["get", "class"], ["literal", ["major", "minor"]]],
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": "#9aa3ad", "line-width": ["interpolate", ["linear"], ["zoom"], 12, 1.5, 16, 9, 18, 22] } },
    { id: "bm-streets", type: "line", source: "bm-streets",
      layout: { "line-cap": "round", "line-join": "round" },
      paint: {
        "line-color": ["match", ["get", "class"], "major", "#fde9a8", "minor", "#ffffff", "service", "#ffffff",
          "pedestrian", "#e4dfe9", "#f4f1ec"],
        "line-width": ["interpolate", ["linear"], ["zoom"], 12,
          ["match", ["get", "class"], "major", 1, "minor", 0.7, 0.3], 16,
          ["match", ["get", "class"], "major", 7, "minor", 5, 2], 18,
          ["match", ["get", "class"], "major", 18, "minor", 14, 5]],
      } },
    { id: "bm-areas", type: "line", source: "bm-areas",
      paint: { "line-color": "#6b5b95", "line-width": 1.5, "line-dasharray": [3, 2] } },
  );
  return style;
}

// ---- colour scale ----------------------------------------------------------------------

function quantileBreaks(values, n = 5) {
  const v = values.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const out = [];
  for (let i = 1; i < n; i++) out.push(v[Math.min(v.length - 1, Math.floor((i * v.length) / n))]);
  // Equal breaks collapse classes; nudge them apart so each step is distinct for MapLibre.
  for (let i = 1; i < out.length; i++) if (out[i] <= out[i - 1]) out[i] = out[i - 1] + 1e-9;
  return out;
}

function divergingBreaks(values) {
  const m = Math.max(1e-9, ...values.filter((x) => x != null).map((x) => Math.abs(x)));
  return [-0.6 * m, -0.2 * m, 0.2 * m, 0.6 * m];
}

function currentMetric() {
  return state.colourBy === "occupancy" ? "occupancy" : $("metric").value;
}

function computeBreaks(values) {
  if (state.colourBy === "state") return null;
  if (state.colourBy === "activity" && state.view?.compare) return divergingBreaks(values);
  if ($("scale").value === "fixed") return FIXED[currentMetric()];
  return quantileBreaks(values) || FIXED[currentMetric()];
}

function stepExpression(breaks, colours) {
  const expr = ["step", ["get", "value"], colours[0]];
  breaks.forEach((b, i) => expr.push(b, colours[i + 1]));
  return ["case", ["==", ["get", "value"], null], NO_DATA, expr];
}

function colourExpression() {
  if (state.colourBy === "state") {
    return ["match", ["get", "state"],
      "free", STATE_COLOURS.free, "occupied", STATE_COLOURS.occupied, STATE_COLOURS.unknown];
  }
  return stepExpression(state.breaks, state.view?.compare ? DIV : SEQ);
}

function fmt(x) {
  if (x == null) return "—";
  const metric = currentMetric();
  if (metric === "occupancy") return `${Math.round(x * 100)} %`;
  return Math.abs(x) >= 10 ? x.toFixed(0) : x.toFixed(2).replace(/\.?0+$/, "") || "0";
}

function renderLegend() {
  const el = $("legend");
  let rows;
  if (state.colourBy === "state") {
    rows = Object.entries(STATE_COLOURS).map(([k, c]) => [c, k]);
  } else {
    const b = state.breaks || [];
    const colours = state.view?.compare ? DIV : SEQ;
    const unit = state.colourBy === "occupancy" ? "of the hour occupied"
      : (state.view?.compare ? "B − A" : $("metric").selectedOptions[0].textContent);
    rows = colours.map((c, i) => {
      const lo = i === 0 ? null : b[i - 1];
      const hi = i < b.length ? b[i] : null;
      const label = lo == null ? `< ${fmt(hi)}` : hi == null ? `≥ ${fmt(lo)}` : `${fmt(lo)} – ${fmt(hi)}`;
      return [c, label];
    });
    rows.push([NO_DATA, "no data (nobody observed: not 0)"]);
    el.dataset.unit = unit;
    rows.unshift(null);
    rows[0] = ["", `<strong>${unit}</strong> (${$("scale").value === "fixed" && !state.view?.compare ? "fixed" : state.view?.compare ? "diverging" : "quantile"} classes)`];
  }
  el.innerHTML = rows.map(([c, label]) => c
    ? `<div class="legend-row"><span class="swatch" style="background:${c}"></span>${label}</div>`
    : `<div class="legend-row">${label}</div>`).join("")
    + `<div class="legend-row"><span class="swatch sim-dot"></span>simulated statistics (white centre; dashed street, hatched area)</div>`
    + (state.colourBy === "activity" && $("flags").checked
      ? `<div class="legend-row"><span class="swatch flag"></span>bay with overstays or misuse</div>` : "");
}

// ---- data ------------------------------------------------------------------------------

function dayStartMs(value) {  // a date input's value at local midnight
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d).getTime();
}

function activityParams(from, to) {
  const p = new URLSearchParams({
    start_ms: String(dayStartMs(from)), end_ms: String(dayStartMs(to) + DAY_MS),
    metric: $("metric").value, group: $("group").value,
    hour_from: $("hour-from").value, hour_to: $("hour-to").value,
    day_type: $("day-type").value, regime: $("regime").value,
    data: state.dataSource,
  });
  if ($("area").value) p.set("area", $("area").value);
  for (const o of $("vehicle").selectedOptions) p.append("vehicle_type", o.value);
  return p;
}

async function getJson(url) {
  const resp = await fetch(url);
  if (!resp.ok) {
    let msg = `HTTP ${resp.status}`;
    try { msg = (await resp.json()).error_description || msg; } catch (_) { /* not JSON */ }
    throw new Error(`${url.split("?")[0]}: ${msg}`);
  }
  return resp.json();
}

async function loadBays() {
  // Observed statistics unless simulated ones are asked for: the API never mixes them.
  const params = new URLSearchParams({ data: state.dataSource });
  if (state.colourBy === "occupancy") {
    params.set("stat", "occupancy");
    params.set("hour", String(state.hour));
  }
  state.data = await getJson(`/map/bays?${params}`);
  state.byId = new Map(state.data.features.map((f) => [f.properties.curb_zone_id, f]));
  return state.data;
}

async function loadActivity() {
  const compare = $("compare").checked;
  const a = await getJson(`/map/activity?${activityParams($("date-from").value, $("date-to").value)}`);
  if (compare) {
    const b = await getJson(`/map/activity?${activityParams($("b-from").value, $("b-to").value)}`);
    const key = keyOf(a.group);
    const bBy = new Map(b.features.map((f) => [f.properties[key], f.properties]));
    for (const f of a.features) {
      const pb = bBy.get(f.properties[key]);
      f.properties.value_a = f.properties.value;
      f.properties.value_b = pb ? pb.value : null;
      f.properties.value = (pb && pb.value != null && f.properties.value != null)
        ? Math.round((pb.value - f.properties.value) * 1e4) / 1e4 : null;
    }
    a.compare = { b_filter: b.filter, b_days: b.days };
  }
  state.activity = a;
  return a;
}

function keyOf(group) {
  return { bay: "curb_zone_id", street: "street_key", area: "area_id", h3: "h3" }[group];
}

// ---- layers ----------------------------------------------------------------------------

function hatchImage() {
  const size = 8, data = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    if ((x + y) % size < 2) {
      const i = (y * size + x) * 4;
      data.set([60, 40, 100, 110], i);
    }
  }
  return { width: size, height: size, data };
}

function addLayers() {
  const map = state.map;
  const empty = { type: "FeatureCollection", features: [] };
  map.addImage("hatch", hatchImage());
  map.addSource("bays", { type: "geojson", data: state.data });
  map.addSource("groups", { type: "geojson", data: empty });
  map.addSource("proposals", { type: "geojson", data: empty });
  const before = undefined;
  map.addLayer({ id: "group-fill", type: "fill", source: "groups",
    filter: ["==", ["geometry-type"], "Polygon"],
    paint: { "fill-color": NO_DATA, "fill-opacity": 0.65, "fill-outline-color": "#6b7280" } }, before);
  map.addLayer({ id: "group-hatch", type: "fill", source: "groups",
    filter: ["all", ["==", ["geometry-type"], "Polygon"], [">", ["coalesce", ["get", "simulated_share"], 0], 0.5]],
    paint: { "fill-pattern": "hatch" } }, before);
  // Area choropleth on the surveyed borders (basemap), not on the bays' convex hulls.
  if (map.getSource("bm-areas")) {
    map.addLayer({ id: "area-values", type: "fill", source: "bm-areas",
      filter: ["==", ["get", "area_id"], "__none__"],
      paint: { "fill-color": NO_DATA, "fill-opacity": 0.6 } }, "group-fill");
    map.addLayer({ id: "area-values-sim", type: "fill", source: "bm-areas",
      filter: ["==", ["get", "area_id"], "__none__"], paint: { "fill-pattern": "hatch" } }, "group-fill");
  }
  // Street choropleth: the basemap's street lines, coloured by the street's value.
  if (map.getSource("bm-streets")) {
    map.addLayer({ id: "street-values", type: "line", source: "bm-streets",
      filter: ["==", ["get", "street_key"], "__none__"],
      layout: { "line-cap": "butt", "line-join": "round" },
      paint: { "line-color": NO_DATA, "line-width": ["interpolate", ["linear"], ["zoom"], 12, 2.5, 16, 8, 18, 16] } },
    before);
    map.addLayer({ id: "street-values-sim", type: "line", source: "bm-streets",
      filter: ["==", ["get", "street_key"], "__none__"],
      paint: { "line-color": "#3b0764", "line-width": 1, "line-dasharray": [2, 2] } }, before);
  }
  map.addLayer({ id: "bays", type: "circle", source: "bays",
    paint: {
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 11, 2.5, 15, 6, 18, 11],
      "circle-color": colourExpression(),
      "circle-stroke-width": 0.6, "circle-stroke-color": "#374151",
    } });
  // Simulated statistics: a white centre keeps the class colour readable as a ring.
  map.addLayer({ id: "bays-sim", type: "circle", source: "bays",
    filter: ["==", ["get", "stats_source"], "simulated"],
    paint: { "circle-radius": ["interpolate", ["linear"], ["zoom"], 11, 0.8, 15, 2, 18, 4],
      "circle-color": "#ffffff" } });
  map.addLayer({ id: "bays-flag", type: "circle", source: "bays",
    filter: ["any", [">", ["coalesce", ["get", "overstays"], 0], 0], [">", ["coalesce", ["get", "misuse"], 0], 0]],
    layout: { visibility: "none" },
    paint: { "circle-radius": ["interpolate", ["linear"], ["zoom"], 11, 4.5, 15, 9, 18, 15],
      "circle-color": "rgba(0,0,0,0)", "circle-stroke-width": 2, "circle-stroke-color": "#111827" } });
  map.addLayer({ id: "proposals-line", type: "line", source: "proposals",
    filter: ["!=", ["geometry-type"], "Point"],
    paint: { "line-color": ["match", ["get", "kind"], ...Object.entries(PROPOSAL_COLOURS).flat(), "#111"],
      "line-width": 3, "line-opacity": ["case", ["!", ["get", "run_latest"]], 0.25,
        ["match", ["get", "status"], "pending", 1, 0.4]] } });
  map.addLayer({ id: "proposals", type: "circle", source: "proposals",
    filter: ["==", ["geometry-type"], "Point"],
    paint: { "circle-radius": ["interpolate", ["linear"], ["zoom"], 12, 6, 17, 12], "circle-color": "rgba(255,255,255,0.35)",
      "circle-stroke-width": 4,
      "circle-stroke-color": ["match", ["get", "kind"], ...Object.entries(PROPOSAL_COLOURS).flat(), "#111"],
      "circle-stroke-opacity": ["case", ["!", ["get", "run_latest"]], 0.25,
        ["match", ["get", "status"], "pending", 1, 0.4]] } });
  map.on("click", "bays", (e) => openPanel(e.features[0].properties.curb_zone_id));
  map.on("click", "proposals", (e) => openProposal(e.features[0].properties.id));
  map.on("click", "proposals-line", (e) => openProposal(e.features[0].properties.id));
  if (map.getLayer("bm-streets")) {
    // No font glyphs offline: street names show on hover instead of as labels.
    const popup = new maplibregl.Popup({ closeButton: false, closeOnClick: false, className: "street-tip" });
    map.on("mousemove", "bm-streets", (e) => {
      const name = e.features[0].properties.name;
      if (name) popup.setLngLat(e.lngLat).setText(name).addTo(map); else popup.remove();
    });
    map.on("mouseleave", "bm-streets", () => popup.remove());
  }
  for (const id of ["bays", "proposals", "proposals-line"]) {
    map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
  }
}

// ---- render ----------------------------------------------------------------------------

async function refresh() {
  const map = state.map;
  state.view = { colourBy: state.colourBy, compare: state.colourBy === "activity" && $("compare").checked };
  await loadBays();
  let values = [];
  let groupData = { type: "FeatureCollection", features: [] };
  if (state.colourBy === "occupancy") {
    values = state.data.features.map((f) => f.properties.value);
  } else if (state.colourBy === "activity") {
    const act = await loadActivity();
    values = act.features.map((f) => f.properties.value);
    if (act.group === "bay") {
      const by = new Map(act.features.map((f) => [f.properties.curb_zone_id, f.properties]));
      for (const f of state.data.features) {
        const p = by.get(f.properties.curb_zone_id);
        f.properties.value = p ? p.value : null;
        f.properties.overstays = p ? p.overstays : 0;
        f.properties.misuse = p ? p.misuse : 0;
      }
      // Bays outside the filter (regime, area) drop out of the view.
      state.data.features = state.data.features.filter((f) => by.has(f.properties.curb_zone_id));
    } else {
      groupData = act;
      for (const f of state.data.features) f.properties.value = null;
    }
  }
  state.breaks = computeBreaks(values);
  map.getSource("bays").setData(state.data);
  map.getSource("groups").setData(groupData);
  map.setPaintProperty("bays", "circle-color", colourExpression());
  const group = state.colourBy === "activity" ? state.activity.group : "bay";
  const expr = state.breaks ? colourExpression() : NO_DATA;
  map.setPaintProperty("group-fill", "fill-color", group === "area" || group === "h3" ? expr : NO_DATA);
  map.setLayoutProperty("bays", "visibility", group === "bay" ? "visible" : "none");
  map.setLayoutProperty("bays-sim", "visibility", group === "bay" ? "visible" : "none");
  map.setLayoutProperty("bays-flag", "visibility",
    group === "bay" && state.colourBy === "activity" && $("flags").checked ? "visible" : "none");
  if (map.getLayer("street-values")) styleStreets(group === "street" ? state.activity : null);
  if (map.getLayer("area-values")) {
    const act = group === "area" ? state.activity : null;
    const known = styleJoined("area-values", "area-values-sim", "area_id", "fill-color", act);
    if (act) {
      // Areas with a surveyed border are drawn there; the others keep the bays' hull.
      map.setFilter("group-fill", ["all", ["==", ["geometry-type"], "Polygon"],
        ["!", ["in", ["get", "area_id"], ["literal", known]]]]);
    } else {
      map.setFilter("group-fill", ["==", ["geometry-type"], "Polygon"]);
    }
  }
  renderLegend();
  updateSummary();
  renderRanking();
  window.__baywatchRendered = (window.__baywatchRendered || 0) + 1;
}

function styleStreets(act) {
  styleJoined("street-values", "street-values-sim", "street_key", "line-color", act);
}

// Colour a basemap layer by joining its features to the activity groups on `key`;
// returns the keys present in the basemap's layer.
function styleJoined(layer, simLayer, key, prop, act) {
  const map = state.map;
  const none = ["==", ["get", key], "__none__"];
  if (!act || act.features.length === 0) {
    map.setFilter(layer, none);
    map.setFilter(simLayer, none);
    return [];
  }
  const colours = state.view.compare ? DIV : SEQ;
  const match = ["match", ["get", key]];
  const sim = [];
  const keys = [];
  for (const f of act.features) {
    const p = f.properties;
    if (p[key] == null || keys.includes(p[key])) continue;
    let c = NO_DATA;
    if (p.value != null) {
      let i = 0;
      while (i < state.breaks.length && p.value >= state.breaks[i]) i++;
      c = colours[i];
    }
    match.push(p[key], c);
    keys.push(p[key]);
    if ((p.simulated_share ?? 0) > 0.5) sim.push(p[key]);
  }
  match.push(NO_DATA);
  map.setFilter(layer, ["in", ["get", key], ["literal", keys]]);
  map.setPaintProperty(layer, prop, match);
  map.setFilter(simLayer, ["in", ["get", key], ["literal", sim]]);
  return keys.filter((k) => state.basemapAreaIds.has(k));
}

function updateSummary() {
  const counts = { free: 0, occupied: 0, unknown: 0 };
  let simulated = 0;
  for (const f of state.data.features) {
    counts[f.properties.state] += 1;
    if (f.properties.stats_source === "simulated") simulated += 1;
  }
  const n = state.data.features.length;
  let text = `${n} bays: ${counts.free} free, ${counts.occupied} occupied, ${counts.unknown} unknown` +
    (simulated ? ` · statistics of ${simulated} bay${simulated === 1 ? " is" : "s are"} SIMULATED` : "");
  if (state.colourBy === "activity" && state.activity) {
    const t = { bays: 0, sessions: 0, double_parking: 0, overstays: 0, misuse: 0 };
    for (const f of state.activity.features) for (const k in t) t[k] += f.properties[k] || 0;
    text = `${t.bays} bays in the filter, over ${state.activity.days} day(s): ${t.sessions} stops, ` +
      `${t.double_parking} double parking, ${t.overstays} overstays, ${t.misuse} misuse` +
      (simulated ? " · includes simulated statistics" : "");
  }
  $("summary").textContent = text;
}

function featureName(p) {
  return p.name || p.street_key || p.area_id || p.h3 || p.curb_zone_id;
}

function renderRanking() {
  const box = $("ranking-box");
  if (state.colourBy !== "activity" || !state.activity) { box.hidden = true; return; }
  const rows = state.activity.features.filter((f) => f.properties.value != null)
    .sort((a, b) => b.properties.value - a.properties.value).slice(0, 10);
  const tbody = $("ranking").querySelector("tbody");
  tbody.innerHTML = "";
  rows.forEach((f, i) => {
    const tr = document.createElement("tr");
    const p = f.properties;
    const sim = p.stats_source === "simulated" ? " (sim.)" : "";
    for (const text of [String(i + 1), featureName(p), fmt(p.value) + sim]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    tr.addEventListener("click", () => zoomTo(f));
    tbody.appendChild(tr);
  });
  $("ranking-what").textContent = `${$("metric").selectedOptions[0].textContent}, per ${state.activity.group}`;
  box.hidden = rows.length === 0;
}

function zoomTo(f) {
  const pts = [];
  const walk = (c) => (typeof c[0] === "number" ? pts.push(c) : c.forEach(walk));
  walk(f.geometry.coordinates);
  const lons = pts.map((p) => p[0]), lats = pts.map((p) => p[1]);
  state.map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]],
    { padding: 120, maxZoom: 17, duration: 0 });
}

// ---- export ----------------------------------------------------------------------------

function currentFeatures() {
  if (state.colourBy === "activity" && state.activity && state.activity.group !== "bay") {
    return state.activity.features;
  }
  return state.data.features;
}

function download(name, type, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

function exportName(ext) {
  const what = state.colourBy === "activity" ? `${$("metric").value}-per-${state.activity.group}`
    : state.colourBy === "occupancy" ? `occupancy-${state.hour}h` : "live-state";
  return `baywatch-${what}.${ext}`;
}

function exportMeta() {
  return { colour_by: state.colourBy, hour: state.colourBy === "occupancy" ? state.hour : undefined,
    filter: state.colourBy === "activity" ? state.activity.filter : undefined,
    compare_b: state.activity?.compare?.b_filter, days: state.activity?.days,
    note: "stats_source 'simulated' marks simulated statistics; null values are unobserved, not 0" };
}

function exportGeoJSON() {
  download(exportName("geojson"), "application/geo+json",
    JSON.stringify({ type: "FeatureCollection", baywatch: exportMeta(), features: currentFeatures() }));
}

function csvCell(v) {
  if (v == null) return "";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function exportCSV() {
  const feats = currentFeatures();
  const cols = [];
  for (const f of feats) for (const k of Object.keys(f.properties)) if (!cols.includes(k)) cols.push(k);
  const point = feats.length && feats[0].geometry.type === "Point";
  const header = [...cols, ...(point ? ["lon", "lat"] : [])];
  const lines = [header.join(",")];
  for (const f of feats) {
    const row = cols.map((k) => csvCell(f.properties[k]));
    if (point) row.push(...f.geometry.coordinates);
    lines.push(row.join(","));
  }
  download(exportName("csv"), "text/csv", lines.join("\n") + "\n");
}

// ---- bay panel -------------------------------------------------------------------------

function fmtTime(ms) {
  return ms == null ? "—" : new Date(ms).toLocaleString();
}

async function openPanel(id) {
  const resp = await fetch(`/map/bays/${encodeURIComponent(id)}?data=${state.dataSource}`);
  if (!resp.ok) return;
  const bay = await resp.json();
  $("panel").hidden = false;
  $("panel-title").textContent = bay.name || bay.curb_zone_id;
  const stay = bay.max_stay_min == null ? "no limit" : `${bay.max_stay_min} min max`;
  $("panel-state").textContent =
    `${bay.state} since ${fmtTime(bay.since_ms)} · ${stay}` + (bay.street_name ? ` · ${bay.street_name}` : "");
  $("panel-sim").hidden = !bay.simulated;
  const allowed = bay.vehicle_types;
  const misuse = (s) => allowed != null && !allowed.includes(s.vehicle_type);
  const nOver = bay.recent_sessions.filter((s) => s.overstay).length;
  const nMis = bay.recent_sessions.filter(misuse).length;
  const f = state.byId.get(id);
  const inFilter = state.colourBy === "activity" && f && f.properties.overstays != null
    ? ` · in the filter: ${f.properties.overstays} overstays, ${f.properties.misuse} misuse` : "";
  $("panel-flags").innerHTML = (nOver || nMis)
    ? `<span class="flag-text">⚠ recent: ${nOver} overstay(s), ${nMis} misuse</span>${inFilter}`
    : `recent sessions: no overstay, no misuse${inFilter}`;
  // An hour nobody observed is null: no bar (and said so in the legend), never 0 %.
  const values = bay.hourly_occupancy.map((v) => (v == null ? null : Math.round(v * 100)));
  const unseen = values.filter((v) => v == null).length;
  const what = bay.simulated ? "SIMULATED occupied (% of time)" : "observed occupied (% of time)";
  const data = {
    labels: [...Array(24).keys()].map((h) => `${h}h`),
    datasets: [{ label: unseen ? `${what}; ${unseen} h not observed` : what, data: values,
      backgroundColor: bay.simulated ? "#a78bfa" : "#3b82f6" }],
  };
  if (state.chart) state.chart.destroy();
  state.chart = new Chart($("chart"), {
    type: "bar", data,
    options: { animation: false, responsive: false,
      scales: { y: { min: 0, max: 100, title: { display: true, text: "%" } } },
      plugins: { legend: { display: true } } },
  });
  const tbody = document.querySelector("#sessions tbody");
  tbody.innerHTML = "";
  for (const s of bay.recent_sessions) {
    const tr = document.createElement("tr");
    const marks = [s.overstay ? "overstay" : "", misuse(s) ? "misuse" : ""].filter(Boolean).join(", ");
    if (marks) tr.className = "flagged";
    for (const text of [fmtTime(s.start_ms), `${Math.round(s.dwell_s / 60)} min`,
      s.vehicle_type + (s.data_source_type === "simulated" ? " (sim.)" : ""), marks ? `⚠ ${marks}` : ""]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
  window.__baywatchPanel = bay.curb_zone_id;
}

// ---- proposals review ------------------------------------------------------------------

async function loadProposals() {
  const status = $("proposals-status");
  const src = state.map.getSource("proposals");
  if (!$("show-proposals").checked) {
    src.setData({ type: "FeatureCollection", features: [] });
    status.textContent = "";
    return;
  }
  // By default the server lists the newest run of each area and kind (a rerun of the
  // optimiser supersedes the last one's proposals); earlier runs only on request, faded.
  const allRuns = $("proposals-all-runs").checked;
  const resp = await fetch(allRuns ? "/proposals?runs=all" : "/proposals");
  if (resp.status === 404) {
    status.textContent = "This server has no proposals yet (no /proposals endpoint): run the optimiser.";
    state.proposals = null;
    return;
  }
  if (!resp.ok) { status.textContent = `proposals: HTTP ${resp.status}`; return; }
  const fc = await resp.json();
  state.proposals = new Map(fc.features.map((f) => [String(f.properties.id), f]));
  // MapLibre cannot style on nested properties: lift the run's "latest" flag.
  src.setData({ type: "FeatureCollection", features: fc.features.map((f) => ({
    ...f, properties: { ...f.properties, run_latest: f.properties.run ? f.properties.run.latest : true } })) });
  const pending = fc.features.filter((f) => f.properties.status === "pending").length;
  const runs = (fc.runs || []).map(runLabel).join("; ");
  status.textContent = `${fc.features.length} proposals, ${pending} pending review.`
    + (runs ? ` Runs: ${runs}.` : "");
  window.__baywatchProposals = fc.features.length;
}

function runLabel(r) {
  const when = r.created_at ? r.created_at.replace("T", " ").replace(/:\d\dZ$/, " UTC") : "";
  return `${r.kind} ${r.area_id || ""} of ${when}${r.latest ? "" : " (superseded)"}`.replace(/\s+/g, " ");
}

function openProposal(id) {
  const f = state.proposals && state.proposals.get(String(id));
  if (!f) return;
  const p = f.properties;
  $("proposal-panel").hidden = false;
  $("proposal-panel").dataset.id = String(p.id);
  $("proposal-title").textContent = `Proposal ${p.id}: ${p.kind}`;
  const EVIDENCE = { observed: "observed (camera sessions)",
    simulated: "SIMULATED sessions (demo data, not observations)",
    estimated: "estimated (declared demand; no camera watches here)" };
  const fmtObj = (o) => (o && typeof o === "object"
    ? Object.entries(o).map(([k, v]) => `${k.replace(/_/g, " ")}: ${v}`).join(" · ") : o);
  const rows = [["reason", p.reason], ["effect (a day)", fmtObj(p.effect)],
    ["evidence", EVIDENCE[p.evidence] || p.evidence], ["details", fmtObj(p.details)],
    ["status", p.status], ["reviewed by", p.reviewed_by], ["reviewed at", p.reviewed_at],
    ["review note", p.review_note],
    ["run", p.run ? `${runLabel(p.run)}${p.run.latest ? " (latest for this area)" : ""} · ${p.run_id}` : p.run_id]];
  const dl = $("proposal-details");
  dl.innerHTML = "";
  for (const [k, v] of rows) {
    if (v == null || v === "") continue;
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = String(v);
    dl.append(dt, dd);
  }
  $("proposal-result").textContent = "";
}

async function review(decision) {
  const id = $("proposal-panel").dataset.id;
  const key = $("review-key").value.trim();
  if (!key) { $("proposal-result").textContent = "Enter your reviewer key first."; return; }
  sessionStorage.setItem("baywatch-review-key", key);
  const body = { decision };
  const note = $("proposal-note").value.trim();
  if (note) body.note = note;
  const resp = await fetch(`/proposals/${encodeURIComponent(id)}/review`, {
    method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  let msg = `HTTP ${resp.status}`;
  try { const j = await resp.json(); msg = j.error_description || j.status || msg; } catch (_) { /* empty */ }
  const done = decision === "accept" ? "accepted" : "rejected";
  $("proposal-result").textContent = resp.ok ? `${done}` : `refused: ${msg}`;
  if (resp.ok) { await loadProposals(); openProposal(id); $("proposal-result").textContent = `${done}`; }
}

// ---- live ------------------------------------------------------------------------------

function listen() {
  const status = $("live-status");
  const es = new EventSource("/availability/stream");
  es.addEventListener("hello", () => { status.textContent = "live: connected"; });
  es.addEventListener("state", (msg) => {
    for (const c of JSON.parse(msg.data)) {
      const f = state.byId.get(c.curb_zone_id);
      if (f) { f.properties.state = c.state; f.properties.since_ms = c.since_ms; }
    }
    state.map.getSource("bays").setData(state.data);
    updateSummary();
    status.textContent = `live: updated ${new Date().toLocaleTimeString()}`;
  });
  es.onerror = () => { status.textContent = "live: reconnecting…"; };
}

// ---- start -----------------------------------------------------------------------------

function isoDate(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

function initControls(config) {
  const end = config.data_end_ms || Date.now();
  $("date-to").value = isoDate(end);
  $("date-from").value = isoDate(end - 13 * DAY_MS);
  $("b-to").value = isoDate(end - 14 * DAY_MS);
  $("b-from").value = isoDate(end - 27 * DAY_MS);
  $("review-key").value = sessionStorage.getItem("baywatch-review-key") || "";
}

async function main() {
  const config = await getJson("/map/config");
  state.config = config;
  const basemap = config.basemap || { mode: config.tile_url ? "online" : "none", tile_url: config.tile_url };
  const bounds = config.view || config.bounds || [2.25, 48.81, 2.42, 48.91];
  const map = new maplibregl.Map({
    container: "map",
    style: basemapStyle(basemap),
    bounds,
    fitBoundsOptions: { padding: { top: 40, bottom: 40, left: 320, right: 40 } },
    attributionControl: { compact: true },
  });
  state.map = map;
  window.baywatchMap = map;
  map.addControl(new maplibregl.NavigationControl(), "bottom-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  initControls(config);
  getJson("/map/areas").then((areas) => {
    for (const f of areas.features.sort((a, b) => String(a.properties.name).localeCompare(String(b.properties.name)))) {
      const o = document.createElement("option");
      o.value = f.properties.curb_area_id;
      o.textContent = `${f.properties.name || f.properties.curb_area_id} (${f.properties.bays} bays)`;
      $("area").appendChild(o);
    }
  }).catch(() => {});
  state.basemapAreaIds = new Set();
  if (basemap.mode === "local") {
    const areas = await getJson("/map/basemap/areas");
    state.basemapAreaIds = new Set(areas.features.map((f) => f.properties.area_id));
  }
  await Promise.all([loadBays(), new Promise((ok) => map.on("load", ok))]);
  addLayers();
  await refresh();
  map.once("idle", () => { window.__baywatchReady = true; });
  const onChange = (fn) => async () => {
    try { await fn(); } catch (err) { $("summary").textContent = `error: ${err.message}`; }
  };
  $("colour-by").addEventListener("change", onChange(async () => {
    state.colourBy = $("colour-by").value;
    // Occupancy: fixed classes keep hours comparable along the slider; activity: quantiles.
    $("scale").value = state.colourBy === "occupancy" ? "fixed" : "quantile";
    $("activity-controls").hidden = state.colourBy !== "activity";
    $("occupancy-controls").hidden = state.colourBy === "activity";
    await refresh();
  }));
  $("data-source").addEventListener("change", onChange(async () => {
    state.dataSource = $("data-source").value;
    $("sim-banner").hidden = state.dataSource !== "simulated";
    if (window.__baywatchPanel && !$("panel").hidden) await openPanel(window.__baywatchPanel);
    await refresh();
  }));
  const hour = $("hour");
  hour.addEventListener("input", onChange(async () => {
    state.hour = Number(hour.value);
    $("hour-out").textContent = `${String(state.hour).padStart(2, "0")}:00`;
    if (state.colourBy === "occupancy") await refresh();
  }));
  for (const id of ["metric", "group", "date-from", "date-to", "hour-from", "hour-to", "day-type",
    "regime", "area", "vehicle", "compare", "b-from", "b-to", "flags", "scale"]) {
    $(id).addEventListener("change", onChange(async () => {
      $("compare-dates").hidden = !$("compare").checked;
      if (state.colourBy === "activity" || id === "scale") await refresh();
    }));
  }
  $("export-csv").addEventListener("click", exportCSV);
  $("export-geojson").addEventListener("click", exportGeoJSON);
  $("panel-close").addEventListener("click", () => { $("panel").hidden = true; });
  $("proposal-close").addEventListener("click", () => { $("proposal-panel").hidden = true; });
  $("show-proposals").addEventListener("change", onChange(loadProposals));
  $("proposals-all-runs").addEventListener("change", onChange(loadProposals));
  $("proposal-accept").addEventListener("click", onChange(() => review("accept")));
  $("proposal-reject").addEventListener("click", onChange(() => review("reject")));
  listen();
}

main().catch((err) => {
  $("summary").textContent = `error: ${err.message}`;
  console.error(err);
});
