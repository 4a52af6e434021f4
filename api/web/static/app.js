// baywatch web map: bays coloured by live state or occupancy, hour slider, bay panel,
// live updates from the Server-Sent Events stream. Plain ES2020, no build step.
"use strict";

const STATE_COLOURS = { free: "#16a34a", occupied: "#dc2626", unknown: "#9ca3af" };
const SIM_STROKE = "#7c3aed";
const state = { colourBy: "state", hour: 12, data: null, byId: new Map(), chart: null, map: null };

function basemapStyle(tileUrl) {
  const base = { version: 8, sources: {}, layers: [
    { id: "background", type: "background", paint: { "background-color": "#eef0f3" } },
  ] };
  if (!tileUrl) return base;  // offline: plain background, bays still drawn
  if (tileUrl.includes("{z}")) {
    base.sources.basemap = {
      type: "raster", tiles: [tileUrl], tileSize: 256,
      attribution: "© OpenStreetMap contributors",
    };
    base.layers.push({ id: "basemap", type: "raster", source: "basemap" });
    document.getElementById("tile-credit").textContent = "Basemap © OpenStreetMap contributors.";
    return base;
  }
  return tileUrl;  // a MapLibre style URL
}

function colourExpression() {
  if (state.colourBy === "state") {
    return ["match", ["get", "state"],
      "free", STATE_COLOURS.free, "occupied", STATE_COLOURS.occupied, STATE_COLOURS.unknown];
  }
  return ["case", ["==", ["get", "value"], null], "#d1d5db",
    ["interpolate", ["linear"], ["get", "value"],
      // Delivery bays are rarely full for a whole hour: the ramp saturates at 60 %.
      0, "#2c7bb6", 0.15, "#abd9e9", 0.3, "#ffffbf", 0.45, "#fdae61", 0.6, "#d7191c"]];
}

function renderLegend() {
  const el = document.getElementById("legend");
  const rows = state.colourBy === "state"
    ? Object.entries(STATE_COLOURS).map(([k, c]) => [c, k])
    : [["#2c7bb6", "0 % of the hour occupied"], ["#ffffbf", "30 %"], ["#d7191c", "60 % or more"],
      ["#d1d5db", "no data"]];
  el.innerHTML = rows.map(([c, label]) =>
    `<div class="legend-row"><span class="swatch" style="background:${c}"></span>${label}</div>`).join("")
    + `<div class="legend-row"><span class="swatch ring"></span>simulated statistics</div>`;
}

async function loadBays() {
  const params = new URLSearchParams();
  if (state.colourBy === "occupancy") {
    params.set("stat", "occupancy");
    params.set("hour", String(state.hour));
  }
  const resp = await fetch(`/map/bays?${params}`);
  if (!resp.ok) throw new Error(`GET /map/bays: HTTP ${resp.status}`);
  state.data = await resp.json();
  state.byId = new Map(state.data.features.map((f) => [f.properties.curb_zone_id, f]));
  const src = state.map.getSource("bays");
  if (src) src.setData(state.data);
  updateSummary();
  return state.data;
}

function updateSummary() {
  const counts = { free: 0, occupied: 0, unknown: 0 };
  let simulated = 0;
  for (const f of state.data.features) {
    counts[f.properties.state] += 1;
    if (f.properties.stats_source === "simulated") simulated += 1;
  }
  const n = state.data.features.length;
  document.getElementById("summary").textContent =
    `${n} bays: ${counts.free} free, ${counts.occupied} occupied, ${counts.unknown} unknown` +
    (simulated ? ` · statistics of ${simulated} bay${simulated === 1 ? " is" : "s are"} simulated` : "");
}

function addLayers() {
  state.map.addSource("bays", { type: "geojson", data: state.data });
  state.map.addLayer({
    id: "bays", type: "circle", source: "bays",
    paint: {
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 11, 2.5, 15, 6, 18, 11],
      "circle-color": colourExpression(),
      "circle-stroke-width": ["case", ["==", ["get", "stats_source"], "simulated"], 1, 0.5],
      "circle-stroke-color": ["case", ["==", ["get", "stats_source"], "simulated"], SIM_STROKE, "#ffffff"],
    },
  });
  state.map.on("click", "bays", (e) => openPanel(e.features[0].properties.curb_zone_id));
  state.map.on("mouseenter", "bays", () => { state.map.getCanvas().style.cursor = "pointer"; });
  state.map.on("mouseleave", "bays", () => { state.map.getCanvas().style.cursor = ""; });
}

function fmtTime(ms) {
  return ms == null ? "—" : new Date(ms).toLocaleString();
}

async function openPanel(id) {
  const resp = await fetch(`/map/bays/${encodeURIComponent(id)}`);
  if (!resp.ok) return;
  const bay = await resp.json();
  document.getElementById("panel").hidden = false;
  document.getElementById("panel-title").textContent = bay.name || bay.curb_zone_id;
  const stay = bay.max_stay_min == null ? "no limit" : `${bay.max_stay_min} min max`;
  document.getElementById("panel-state").textContent =
    `${bay.state} since ${fmtTime(bay.since_ms)} · ${stay}` + (bay.street_name ? ` · ${bay.street_name}` : "");
  document.getElementById("panel-sim").hidden = bay.stats_source !== "simulated";
  const values = bay.hourly_occupancy.map((v) => (v == null ? null : Math.round(v * 100)));
  const data = {
    labels: [...Array(24).keys()].map((h) => `${h}h`),
    datasets: [{ label: "occupied (% of time)", data: values,
      backgroundColor: bay.stats_source === "simulated" ? "#a78bfa" : "#3b82f6" }],
  };
  if (state.chart) state.chart.destroy();
  state.chart = new Chart(document.getElementById("chart"), {
    type: "bar", data,
    options: { animation: false, responsive: false,
      scales: { y: { min: 0, max: 100, title: { display: true, text: "%" } } },
      plugins: { legend: { display: true } } },
  });
  const tbody = document.querySelector("#sessions tbody");
  tbody.innerHTML = "";
  for (const s of bay.recent_sessions) {
    const tr = document.createElement("tr");
    for (const text of [fmtTime(s.start_ms), `${Math.round(s.dwell_s / 60)} min`,
      s.vehicle_type + (s.data_source_type === "simulated" ? " (sim.)" : "")]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
  window.__baywatchPanel = bay.curb_zone_id;
}

function listen() {
  const status = document.getElementById("live-status");
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

async function main() {
  const config = await (await fetch("/map/config")).json();
  const map = new maplibregl.Map({
    container: "map",
    style: basemapStyle(config.tile_url),
    bounds: config.bounds || [2.25, 48.81, 2.42, 48.91],
    fitBoundsOptions: { padding: { top: 60, bottom: 60, left: 300, right: 60 } },
    attributionControl: { compact: true },
  });
  state.map = map;
  window.baywatchMap = map;
  map.addControl(new maplibregl.NavigationControl(), "bottom-right");
  renderLegend();
  await Promise.all([loadBays(), new Promise((ok) => map.on("load", ok))]);
  addLayers();
  map.once("idle", () => { window.__baywatchReady = true; });
  document.getElementById("colour-by").addEventListener("change", async (e) => {
    state.colourBy = e.target.value;
    renderLegend();
    await loadBays();
    map.setPaintProperty("bays", "circle-color", colourExpression());
  });
  const hour = document.getElementById("hour");
  hour.addEventListener("input", async () => {
    state.hour = Number(hour.value);
    document.getElementById("hour-out").textContent = `${String(state.hour).padStart(2, "0")}:00`;
    if (state.colourBy === "occupancy") await loadBays();
  });
  document.getElementById("panel-close").addEventListener("click", () => {
    document.getElementById("panel").hidden = true;
  });
  listen();
}

main().catch((err) => {
  document.getElementById("summary").textContent = `error: ${err.message}`;
  console.error(err);
});
