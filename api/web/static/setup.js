// baywatch camera set-up: a frame, control points clicked on the frame and on the map,
// the reprojection error and the inventory's bays computed by the server (the CLI's
// GroundProjection), bays and lane zones drawn on the frame, a site file validated by the
// CLI's model. The frame lives only in this page (no storage). Plain ES2020.
"use strict";

const $ = (id) => document.getElementById(id);
const S = {
  frame: null, width: 0, height: 0, scale: 1,
  points: [],        // {pixel: [x, y], lonlat: [lon, lat] | null, error: number | null}
  zones: [],         // {kind: "bay" | "lane", id, pixels: [[x, y]...], link, beside}
  drawing: [],       // pixels of the polygon being drawn
  inventory: [],     // projected inventory bays from /setup/calibrate
  calib: null, map: null, drag: null,
};
window.__setup = S;

function key() { return $("admin-key").value.trim(); }

async function api(path, opts = {}) {
  const headers = { ...(opts.headers || {}), Authorization: `Bearer ${key()}` };
  const resp = await fetch(path, { ...opts, headers });
  let body = null;
  try { body = await resp.json(); } catch (_) { /* empty */ }
  if (!resp.ok) throw new Error((body && body.error_description) || `HTTP ${resp.status}`);
  return body;
}

// ---- frame -----------------------------------------------------------------------------

function setFrame(img, w, h) {
  S.frame = img; S.width = w; S.height = h;
  const pane = $("frame-pane").clientWidth - 4;
  S.scale = Math.min(1, pane / w);
  const c = $("frame");
  c.width = Math.round(w * S.scale);
  c.height = Math.round(h * S.scale);
  $("frame-status").textContent = `frame ${w}×${h} px (not stored)`;
  draw();
  window.__setupFrameReady = true;
}

function loadImageUrl(url, revoke) {
  return new Promise((ok, fail) => {
    const img = new Image();
    img.onload = () => { setFrame(img, img.naturalWidth, img.naturalHeight); if (revoke) URL.revokeObjectURL(url); ok(); };
    img.onerror = () => fail(new Error("the image could not be decoded"));
    img.src = url;
  });
}

async function onFile() {
  const file = $("frame-file").files[0];
  if (!file) return;
  try {
    if (file.type.startsWith("image/")) {
      await loadImageUrl(URL.createObjectURL(file), true);  // decoded here, never uploaded
    } else {
      $("frame-status").textContent = "decoding the video on the server (not stored)…";
      const f = await api("/setup/frame", { method: "POST", body: file,
        headers: { "Content-Type": "application/octet-stream" } });
      await loadImageUrl(f.image, false);
    }
  } catch (err) { $("frame-status").textContent = `error: ${err.message}`; }
}

async function onCameraUrl() {
  try {
    const f = await api("/setup/frame-from-url", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ url: $("camera-url").value }) });
    await loadImageUrl(f.image, false);
  } catch (err) { $("frame-status").textContent = `error: ${err.message}`; }
}

// ---- drawing ---------------------------------------------------------------------------

function toCanvas([x, y]) { return [x * S.scale, y * S.scale]; }
function toFrame(ev) {
  const r = $("frame").getBoundingClientRect();
  const x = (ev.clientX - r.left) / S.scale, y = (ev.clientY - r.top) / S.scale;
  return [Math.round(Math.min(S.width, Math.max(0, x)) * 10) / 10, Math.round(Math.min(S.height, Math.max(0, y)) * 10) / 10];
}
// For tests and keyboard-free use: the page position of a frame pixel.
S.frameToClient = (x, y) => {
  const r = $("frame").getBoundingClientRect();
  return [r.left + x * S.scale, r.top + y * S.scale];
};

function poly(ctx, pts, stroke, fill, dash) {
  if (pts.length === 0) return;
  ctx.beginPath();
  pts.map(toCanvas).forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.closePath();
  ctx.setLineDash(dash || []);
  if (fill) { ctx.fillStyle = fill; ctx.fill(); }
  ctx.strokeStyle = stroke; ctx.lineWidth = 2; ctx.stroke();
  ctx.setLineDash([]);
}

function label(ctx, [x, y], text, colour) {
  const [cx, cy] = toCanvas([x, y]);
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "rgba(255,255,255,0.85)";
  ctx.fillRect(cx + 4, cy - 14, ctx.measureText(text).width + 6, 16);
  ctx.fillStyle = colour; ctx.fillText(text, cx + 7, cy - 2);
}

function draw() {
  const c = $("frame"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  if (S.frame) ctx.drawImage(S.frame, 0, 0, c.width, c.height);
  for (const b of S.inventory) {
    poly(ctx, b.pixels, "#06b6d4", null, [6, 4]);
    label(ctx, b.pixels[0], (b.name || b.curb_zone_id).slice(0, 24), "#0e7490");
  }
  for (const z of S.zones) {
    poly(ctx, z.pixels, z.kind === "bay" ? "#16a34a" : "#f59e0b",
      z.kind === "bay" ? "rgba(22,163,74,0.2)" : "rgba(245,158,11,0.2)");
    label(ctx, z.pixels[0], z.id, z.kind === "bay" ? "#166534" : "#92400e");
    for (const p of z.pixels) { const [x, y] = toCanvas(p); ctx.fillStyle = "#111"; ctx.fillRect(x - 3, y - 3, 6, 6); }
  }
  if (S.drawing.length) {
    ctx.beginPath();
    S.drawing.map(toCanvas).forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.strokeStyle = "#dc2626"; ctx.lineWidth = 2; ctx.stroke();
    for (const p of S.drawing) { const [x, y] = toCanvas(p); ctx.fillStyle = "#dc2626"; ctx.fillRect(x - 3, y - 3, 6, 6); }
  }
  S.points.forEach((p, i) => {
    const [x, y] = toCanvas(p.pixel);
    ctx.beginPath(); ctx.arc(x, y, 6, 0, 2 * Math.PI);
    ctx.fillStyle = p.lonlat ? "#2563eb" : "#f97316"; ctx.fill();
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 2; ctx.stroke();
    label(ctx, p.pixel, String(i + 1), "#1e3a8a");
  });
}

function mode() { return document.querySelector("input[name=mode]:checked").value; }

function onFrameDown(ev) {
  if (!S.frame) return;
  const px = toFrame(ev);
  const m = mode();
  if (m === "adjust") {
    const near = 8 / S.scale;
    for (const z of S.zones) z.pixels.forEach((p, i) => {
      if (!S.drag && Math.hypot(p[0] - px[0], p[1] - px[1]) <= near) S.drag = { zone: z, i };
    });
    return;
  }
  if (m === "points") {
    const open = S.points.find((p) => p.lonlat == null);
    if (open) open.pixel = px; else S.points.push({ pixel: px, lonlat: null, error: null });
    $("frame-hint").textContent = `point ${S.points.length}: now click the same place on the map`;
  } else {
    S.drawing.push(px);
  }
  renderTables();
  draw();
}

function onFrameMove(ev) {
  if (!S.drag) return;
  S.drag.zone.pixels[S.drag.i] = toFrame(ev);
  draw();
}

function onFrameUp() {
  if (S.drag) { S.drag = null; renderTables(); }
}

function closePolygon() {
  const kind = mode() === "lane" ? "lane" : "bay";
  const id = $("zone-id").value.trim() || `${kind}-${S.zones.filter((z) => z.kind === kind).length + 1}`;
  if (S.drawing.length < 3) { $("site-status").textContent = "a zone needs at least 3 corners on the frame"; return; }
  S.zones.push({ kind, id, pixels: S.drawing, link: kind === "bay" ? $("zone-link").value || null : null,
    beside: kind === "lane" ? $("zone-beside").value || null : null });
  S.drawing = [];
  $("zone-id").value = "";
  renderTables();
  draw();
}

function undo() {
  if (S.drawing.length) S.drawing.pop();
  else if (mode() === "points" && S.points.length) { S.points.pop(); calibrate(); }
  else if (S.zones.length) S.zones.pop();
  renderTables();
  draw();
  refreshMapPoints();
}

// ---- map -------------------------------------------------------------------------------

function mapStyle(basemap) {
  const style = { version: 8, sources: {}, layers: [
    { id: "background", type: "background", paint: { "background-color": "#eef0f3" } }] };
  if (basemap.mode === "local") {
    for (const l of ["parks", "areas", "streets"]) style.sources[l] = { type: "geojson", data: `/map/basemap/${l}` };
    style.layers.push(
      { id: "parks", type: "fill", source: "parks", paint: { "fill-color": "#d8ecd0" } },
      { id: "streets", type: "line", source: "streets",
        paint: { "line-color": "#9aa3ad", "line-width": ["interpolate", ["linear"], ["zoom"], 14, 1, 19, 12] } },
      { id: "areas", type: "line", source: "areas", paint: { "line-color": "#6b5b95", "line-dasharray": [3, 2] } });
  } else if (basemap.mode === "online" && basemap.tile_url.includes("{z}")) {
    style.sources.osm = { type: "raster", tiles: [basemap.tile_url], tileSize: 256, attribution: "© OpenStreetMap contributors" };
    style.layers.push({ id: "osm", type: "raster", source: "osm" });
  }
  return style;
}

function refreshMapPoints() {
  const src = S.map && S.map.getSource("cps");
  if (!src) return;
  src.setData({ type: "FeatureCollection", features: S.points.filter((p) => p.lonlat).map((p, i) => ({
    type: "Feature", geometry: { type: "Point", coordinates: p.lonlat }, properties: { n: String(i + 1) } })) });
}

async function initMap() {
  const config = await (await fetch("/map/config")).json();
  const map = new maplibregl.Map({ container: "setup-map", style: mapStyle(config.basemap || { mode: "none" }),
    bounds: config.view || config.bounds || [2.25, 48.81, 2.42, 48.91], attributionControl: { compact: true } });
  S.map = map;
  window.setupMap = map;
  map.addControl(new maplibregl.NavigationControl(), "bottom-right");
  map.on("load", () => {
    map.addSource("cps", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addSource("inv", { type: "geojson", data: "/map/bays" });
    map.addLayer({ id: "inv", type: "circle", source: "inv", paint: { "circle-radius": 4, "circle-color": "#06b6d4" } });
    map.addLayer({ id: "cps", type: "circle", source: "cps",
      paint: { "circle-radius": 7, "circle-color": "#2563eb", "circle-stroke-color": "#fff", "circle-stroke-width": 2 } });
    window.__setupMapReady = true;
  });
  map.on("click", (e) => {
    if (mode() !== "points") return;
    const open = S.points.find((p) => p.lonlat == null);
    if (!open) { $("frame-hint").textContent = "click the frame first, then the map"; return; }
    open.lonlat = [Math.round(e.lngLat.lng * 1e7) / 1e7, Math.round(e.lngLat.lat * 1e7) / 1e7];
    $("frame-hint").textContent = `${S.points.length} point(s); add another on the frame`;
    refreshMapPoints();
    renderTables();
    draw();
    calibrate();
  });
}

// ---- calibration -----------------------------------------------------------------------

async function calibrate() {
  const done = S.points.filter((p) => p.lonlat);
  if (done.length < 4) {
    $("calib-status").textContent = `${done.length} of at least 4 points`;
    S.calib = null; S.inventory = []; renderTables(); draw();
    return;
  }
  try {
    const res = await api("/setup/calibrate", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ control_points: done.map((p) => ({ pixel: p.pixel, lonlat: p.lonlat })),
        frame_size: S.width ? [S.width, S.height] : null }) });
    S.calib = res;
    done.forEach((p, i) => { p.error = res.errors_m[i]; });
    S.inventory = res.bays;
    $("calib-status").textContent = `reprojection error: RMS ${res.rms_error_m.toFixed(2)} m, worst ` +
      `${Math.max(...res.errors_m).toFixed(2)} m ${res.ok ? "(ok)" : `(over ${res.max_error_m} m: move or remove a point)`}` +
      ` · ${res.bays.length} inventory bay(s) in view`;
  } catch (err) {
    S.calib = null; S.inventory = [];
    $("calib-status").textContent = `error: ${err.message}`;
  }
  window.__setupCalibrated = (window.__setupCalibrated || 0) + 1;
  renderTables();
  draw();
}

// ---- tables ----------------------------------------------------------------------------

function row(tbody, cells, extra) {
  const tr = document.createElement("tr");
  for (const text of cells) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }
  if (extra) { const td = document.createElement("td"); td.appendChild(extra); tr.appendChild(td); }
  tbody.appendChild(tr);
}

function renderTables() {
  const pb = $("points").querySelector("tbody");
  pb.innerHTML = "";
  S.points.forEach((p, i) => row(pb, [String(i + 1), p.pixel.map((v) => v.toFixed(0)).join(", "),
    p.lonlat ? p.lonlat.map((v) => v.toFixed(6)).join(", ") : "click the map…",
    p.error == null ? "—" : p.error.toFixed(2)]));
  const zb = $("zones").querySelector("tbody");
  zb.innerHTML = "";
  S.zones.forEach((z, i) => {
    const del = document.createElement("button");
    del.textContent = "remove"; del.type = "button";
    del.onclick = () => { S.zones.splice(i, 1); renderTables(); draw(); };
    row(zb, [z.kind, z.id, z.link || (z.beside ? `beside ${z.beside}` : "—"), String(z.pixels.length)], del);
  });
  const link = $("zone-link"), chosen = link.value;
  link.innerHTML = '<option value="">none</option>' + S.inventory.map((b) =>
    `<option value="${b.curb_zone_id}">${(b.name || b.curb_zone_id).replace(/</g, "&lt;")} (${b.distance_m} m)</option>`).join("");
  link.value = chosen;
  const beside = $("zone-beside"), bchosen = beside.value;
  beside.innerHTML = '<option value="">none</option>' + S.zones.filter((z) => z.kind === "bay")
    .map((z) => `<option value="${z.id}">${z.id}</option>`).join("");
  beside.value = bchosen;
  const ul = $("inventory-bays");
  ul.innerHTML = "";
  for (const b of S.inventory) {
    const li = document.createElement("li");
    li.textContent = `${b.name || b.curb_zone_id} · ${b.distance_m} m `;
    const use = document.createElement("button");
    use.type = "button"; use.textContent = "use";
    use.onclick = () => {
      const clipped = b.pixels.slice(0, -1).map(([x, y]) => [Math.min(S.width, Math.max(0, x)), Math.min(S.height, Math.max(0, y))]);
      S.zones.push({ kind: "bay", id: `bay-${S.zones.length + 1}`, pixels: clipped, link: b.curb_zone_id, beside: null });
      renderTables(); draw();
    };
    li.appendChild(use);
    ul.appendChild(li);
  }
}

// ---- site file -------------------------------------------------------------------------

function siteDocument() {
  const num = (id) => ($(id).value === "" ? undefined : Number($(id).value));
  const source = {};
  if ($("source-uri").value.trim()) source.uri = $("source-uri").value.trim();
  if (num("source-fps")) source.fps = num("source-fps");
  if ($("start-time").value.trim()) source.start_time = $("start-time").value.trim();
  const doc = {
    camera_id: $("camera-id").value.trim(),
    timezone: $("timezone").value.trim() || "Europe/Paris",
    frame_size: S.width ? [S.width, S.height] : undefined,
    calibration: { control_points: S.points.filter((p) => p.lonlat).map((p) => ({ pixel: p.pixel, lonlat: p.lonlat })) },
    occupancy: { min_stationary_s: num("min-stationary"), grace_s: num("grace") },
    bays: S.zones.filter((z) => z.kind === "bay").map((z) => {
      const b = { id: z.id, pixels: z.pixels };
      if (z.link) b.curb_zone_id = z.link;
      return b;
    }),
    lane_zones: S.zones.filter((z) => z.kind === "lane").map((z) => {
      const l = { id: z.id, pixels: z.pixels };
      if (z.beside) l.beside_bay = z.beside;
      return l;
    }),
  };
  if ($("description").value.trim()) doc.description = $("description").value.trim();
  if (Object.keys(source).length) doc.source = source;
  return doc;
}

async function submitSite(save) {
  try {
    const res = await api(`/setup/site?save=${save}`, { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(siteDocument()) });
    $("site-status").textContent = `valid: ${res.bays} bay(s), ${res.lane_zones} lane zone(s), ` +
      `RMS ${res.rms_error_m} m${res.saved ? " · saved on the server" : ""}`;
    if (!save) {
      const a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob([res.yaml], { type: "application/yaml" }));
      a.download = `${res.camera_id}.yaml`;
      document.body.appendChild(a); a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    }
    window.__setupSite = res;
  } catch (err) {
    $("site-status").textContent = `not valid: ${err.message}`;
    window.__setupSiteError = err.message;
  }
}

// ---- start -----------------------------------------------------------------------------

$("admin-key").value = sessionStorage.getItem("baywatch-admin-key") || "";
$("admin-key").addEventListener("change", () => sessionStorage.setItem("baywatch-admin-key", key()));
$("frame-file").addEventListener("change", onFile);
$("camera-fetch").addEventListener("click", onCameraUrl);
$("frame").addEventListener("mousedown", onFrameDown);
$("frame").addEventListener("mousemove", onFrameMove);
window.addEventListener("mouseup", onFrameUp);
$("zone-close").addEventListener("click", closePolygon);
$("undo").addEventListener("click", undo);
$("site-download").addEventListener("click", () => submitSite(false));
$("site-save").addEventListener("click", () => submitSite(true));
initMap().catch((err) => { $("frame-status").textContent = `map error: ${err.message}`; });
