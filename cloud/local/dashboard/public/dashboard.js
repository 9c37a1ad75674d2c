// The dashboard page: reads /api/config once, then on every Server-Sent Event from /api/events
// fetches what changed (device status, the readings that arrived since its cursor, alarms) and
// redraws. Charts are uPlot, one per sensor group, over the last MAX_POINTS readings.
/* global uPlot */
"use strict";

const MAX_POINTS = 3600;
const COLORS = ["#d35400", "#2471a3", "#7d3c98", "#c0392b", "#16a085", "#2e86c1", "#af601a", "#1d2330"];

const view = {
  config: null,
  device: new URLSearchParams(location.search).get("device"),
  rows: [],
  seqs: new Set(),
  cursor: undefined,
  charts: {},
  lastDevices: [],
};
// For tests and the curious: the state the page draws from.
window.dashboard = view;

const $ = (selector) => document.querySelector(selector);
const testid = (id) => document.querySelector(`[data-testid="${id}"]`);

async function getJSON(path) {
  const res = await fetch(path, { cache: "no-store" });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

/** "2026-11-24 15:17:27.345" (UTC), for tables. */
function stamp(ms) {
  return ms === null || ms === undefined ? "-" : new Date(ms).toISOString().replace("T", " ").replace("Z", "");
}

/** The same with " UTC (12 s ago)", for the cards. */
function when(ms) {
  if (ms === null || ms === undefined) return "-";
  return `${stamp(ms)} UTC (${Math.max(0, Math.round((Date.now() - ms) / 1000))} s ago)`;
}

function text(id, value, ms) {
  const el = testid(id);
  el.textContent = value === null || value === undefined || value === "" ? "-" : String(value);
  if (ms !== undefined) el.dataset.ms = ms === null ? "" : String(ms);
}

function cell(row, value, className) {
  const td = document.createElement("td");
  td.textContent = value === null || value === undefined ? "-" : String(value);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fillTable(table, rows, columns) {
  const body = $(`${table} tbody`);
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = cell(tr, "none", "none");
    td.colSpan = columns(null).length;
    body.appendChild(tr);
    return;
  }
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const v of columns(r)) cell(tr, v);
    body.appendChild(tr);
  }
}

function buildLayout() {
  const latest = $("#latest tbody");
  for (const c of view.config.channels) {
    const tr = document.createElement("tr");
    cell(tr, c.key);
    const value = cell(tr, "-");
    value.dataset.channel = c.key;
    cell(tr, c.unit);
    latest.appendChild(tr);
  }
  const charts = $("#charts");
  for (const chart of view.config.charts) {
    const el = document.createElement("div");
    el.className = "chart";
    el.dataset.chart = chart.id;
    el.dataset.points = "0";
    charts.appendChild(el);
  }
}

/** A break in a line where the device sampled nothing for a while (stopped, powered off): no straight line across the hole. */
const GAP_S = 10;
function breakAtHoles(u, seriesIdx, idx0, idx1, nullGaps) {
  const xs = u.data[0];
  const gaps = [...nullGaps];
  for (let i = idx0 + 1; i <= idx1; i++) {
    if (xs[i] - xs[i - 1] > GAP_S) uPlot.addGap(gaps, Math.round(u.valToPos(xs[i - 1], "x", true)), Math.round(u.valToPos(xs[i], "x", true)));
  }
  return gaps.sort((a, b) => a[0] - b[0]);
}

function makeChart(chart) {
  const el = $(`[data-chart="${chart.id}"]`);
  const channels = view.config.channels.filter((c) => c.chart === chart.id);
  const units = [...new Set(channels.map((c) => c.unit))];
  const plot = new uPlot(
    {
      title: chart.title,
      width: Math.max(300, el.clientWidth - 16),
      height: 230,
      scales: { x: { time: true } },
      series: [{}, ...channels.map((c, i) => ({ label: `${c.key} (${c.unit})`, stroke: COLORS[(view.config.channels.indexOf(c) + i) % COLORS.length], width: 1.5, scale: c.unit, spanGaps: false, gaps: breakAtHoles }))],
      axes: [{}, ...units.map((u, i) => ({ scale: u, label: u, side: i === 0 ? 3 : 1, grid: { show: i === 0 }, size: u === "Pa" ? 80 : 55 }))],
    },
    [[], ...channels.map(() => [])],
    el,
  );
  return { el, channels, plot };
}

function redrawCharts() {
  const xs = view.rows.map((r) => r.ts / 1000);
  for (const chart of view.config.charts) {
    const c = (view.charts[chart.id] ??= makeChart(chart));
    c.plot.setData([xs, ...c.channels.map((ch) => view.rows.map((r) => r.values[ch.key]))]);
    c.el.dataset.points = String(xs.length);
  }
}

/** Adds readings not seen yet, keeps sampling order and the last MAX_POINTS. */
function merge(rows) {
  let added = 0;
  for (const r of rows) {
    if (view.seqs.has(r.seq)) continue;
    view.seqs.add(r.seq);
    view.rows.push(r);
    added++;
    if (view.cursor === undefined || r.receivedAt > view.cursor) view.cursor = r.receivedAt;
  }
  if (added === 0) return false;
  view.rows.sort((a, b) => a.ts - b.ts || a.seq - b.seq);
  if (view.rows.length > MAX_POINTS) for (const r of view.rows.splice(0, view.rows.length - MAX_POINTS)) view.seqs.delete(r.seq);
  return true;
}

function renderDevices(list) {
  const select = $("#device-select");
  const names = list.map((d) => d.device);
  if (select.options.length !== names.length || names.some((n, i) => select.options[i].value !== n)) {
    select.replaceChildren(...names.map((n) => new Option(n, n)));
  }
  if (!view.device || !names.includes(view.device)) view.device = (list.find((d) => d.readings > 0) ?? list[0])?.device ?? null;
  if (view.device) select.value = view.device;
  const d = list.find((x) => x.device === view.device);
  const state = testid("state");
  if (!d) return;
  let label = d.state ?? "unknown";
  let kind = d.state ?? "unknown";
  if (d.state === "offline" && d.reason) label = `offline (${d.reason})`;
  if (d.state === "online" && d.lastHeardAt !== null && Date.now() - d.lastHeardAt > view.config.silentAfterMs) {
    label = `silent: nothing heard for ${Math.round((Date.now() - d.lastHeardAt) / 1000)} s`;
    kind = "silent";
  }
  state.textContent = label;
  state.className = `state ${kind}`;
  state.dataset.state = kind;
  text("last-heartbeat", when(d.lastHeartbeatAt), d.lastHeartbeatAt);
  text("last-status", when(d.lastStatusAt), d.lastStatusAt);
  text("boot", d.boot === null ? null : `${d.boot} / ${d.firmware ?? "-"}`);
  text("uptime", d.uptimeS === null ? null : `${d.uptimeS} s`);
  text("reconnects", d.reconnects);
  text("last-error", d.lastError);
  text("log-depth", d.logDepth);
  text("dropped", d.dropped);
  text("readings-count", d.readings);
  text("last-reading", when(d.lastReadingTs), d.lastReadingTs);
}

function renderLatest() {
  const last = view.rows[view.rows.length - 1];
  for (const c of view.config.channels) {
    const el = document.querySelector(`[data-channel="${c.key}"]`);
    if (!last) continue;
    const v = last.values[c.key];
    el.textContent = v === null ? (last.quality[c.key] ?? "-") : String(v);
    el.dataset.seq = String(last.seq);
  }
}

function renderAlarms(a) {
  fillTable("#active-alarms", a.active, (r) => (r ? [r.channel, stamp(r.ts), r.value, r.limit, r.seq] : [1, 2, 3, 4, 5]));
  fillTable("#past-alarms", a.past, (r) => (r ? [stamp(r.ts), r.channel, r.state, r.value, r.limit, r.seq] : [1, 2, 3, 4, 5, 6]));
  fillTable("#threshold-alerts", a.threshold, (r) => (r ? [stamp(r.ts), r.temperature, r.limit, r.seq] : [1, 2, 3, 4]));
}

async function refresh() {
  const list = await getJSON("/api/devices");
  view.lastDevices = list;
  const before = view.device;
  renderDevices(list);
  if (!view.device) return;
  if (view.device !== before) {
    view.rows = [];
    view.seqs.clear();
    view.cursor = undefined;
  }
  const q = `device=${encodeURIComponent(view.device)}`;
  const rows = await getJSON(view.cursor === undefined ? `/api/readings?${q}&limit=${MAX_POINTS}` : `/api/readings?${q}&since=${view.cursor}`);
  if (merge(rows) || Object.keys(view.charts).length === 0) redrawCharts();
  renderLatest();
  renderAlarms(await getJSON(`/api/alarms?${q}`));
  document.body.dataset.refreshed = String(Date.now());
}

let running = null;
let again = false;
function schedule() {
  if (running) {
    again = true;
    return;
  }
  running = refresh()
    .catch((error) => {
      testid("live").textContent = `error: ${error.message}`;
      testid("live").className = "live off";
    })
    .finally(() => {
      running = null;
      if (again) {
        again = false;
        schedule();
      }
    });
}

async function main() {
  view.config = await getJSON("/api/config");
  buildLayout();
  $("#device-select").addEventListener("change", (e) => {
    view.device = e.target.value;
    history.replaceState(null, "", `?device=${encodeURIComponent(view.device)}`);
    schedule();
  });
  window.addEventListener("resize", () => {
    for (const c of Object.values(view.charts)) c.plot.setSize({ width: Math.max(300, c.el.clientWidth - 16), height: 230 });
  });
  const events = new EventSource("/api/events");
  const live = testid("live");
  events.addEventListener("update", () => {
    live.textContent = `live (${view.config.database})`;
    live.className = "live on";
    schedule();
  });
  events.addEventListener("error", () => {
    live.textContent = "disconnected; retrying";
    live.className = "live off";
  });
  schedule();
}

main().catch((error) => {
  testid("live").textContent = `error: ${error.message}`;
});
