// The demo dashboard: widgets read through the gateway from another origin, as a real
// dashboard would (v1 GETs, JSONP, and V2 queries POSTed with fetch). Plain JavaScript, nothing loaded from outside this machine.
"use strict";

const GATEWAY = document.body.dataset.gateway;
const APP = document.body.dataset.app;
const api = (path) => `${GATEWAY}/api/${encodeURIComponent(APP)}/${path}`;

function show(id, nodeOrText, isError) {
  const box = document.getElementById(id);
  box.replaceChildren();
  if (typeof nodeOrText === "string") {
    const p = document.createElement("p");
    p.className = isError ? "state error" : "state";
    p.textContent = nodeOrText;
    box.append(p);
  } else {
    box.append(nodeOrText);
  }
}

// fetch() a JSON answer; the gateway's error body says what went wrong.
async function getJson(url) {
  const res = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await res.json();
  if (!res.ok) {
    throw new Error(`${res.status} ${body.error ? body.error.code + ": " + body.error.message : ""}`);
  }
  return { body, cache: res.headers.get("Cache-Status"), id: res.headers.get("X-Request-Id") };
}

const time = (unix) => new Date(unix * 1000).toLocaleString([], { month: "short", day: "numeric",
  hour: "2-digit", minute: "2-digit" });

async function loadErrors() {
  try {
    const { body, cache, id } = await getJson(api("samples/errors.json?limit=8"));
    document.getElementById("errors-meta").textContent = `${cache || ""} · ${id || ""}`;
    if (!body.log_entries || body.log_entries.length === 0) {
      return show("errors", "No errors in this window.");
    }
    const table = document.createElement("table");
    table.innerHTML = "<thead><tr><th>When</th><th>Action</th><th>Exception</th></tr></thead>";
    const rows = document.createElement("tbody");
    for (const e of body.log_entries) {
      const tr = document.createElement("tr");
      const cells = [time(e.time), e.action, (e.exception && e.exception.name) || "—"];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        if (i === 0) td.className = "time";
        if (i === 1) { const c = document.createElement("code"); c.textContent = text; td.append(c); }
        else td.textContent = text;
        if (i === 2) td.className = "exception";
        tr.append(td);
      });
      rows.append(tr);
    }
    table.append(rows);
    show("errors", table);
  } catch (err) {
    show("errors", `Could not load errors: ${err.message}`, true);
  }
}

const SVG = "http://www.w3.org/2000/svg";
function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// 1, 2 or 5 times a power of ten: round axis steps.
function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
}

async function loadChart() {
  try {
    const graph = getJson(api("graphs.json?kind=web&timeframe=day&fields[]=mean&fields[]=pct"));
    const marks = getJson(api("markers.json?kind=deploy&limit=50"));
    const [{ body: g, cache }, { body: m }] = await Promise.all([graph, marks]);
    document.getElementById("chart-meta").textContent = cache || "";
    const points = (g.data || []).filter((p) => typeof p.mean === "number");
    if (points.length < 2) return show("chart", "Not enough data in this window.");
    const W = 1100, H = 320, L = 84, R = 20, T = 14, B = 46;
    const t0 = points[0].timestamp, t1 = points[points.length - 1].timestamp;
    const peak = Math.max(...points.map((p) => Math.max(p.mean, p.pct || 0)));
    const step = niceStep(peak / 4);
    const top = Math.ceil((peak * 1.05) / step) * step;
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const y = (v) => T + (1 - v / top) * (H - T - B);
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img",
      "aria-label": "Mean and 90th percentile response time over the last day, with deploys" });
    for (let v = 0; v <= top + 1e-9; v += step) {
      svg.append(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e6e9f0" }));
      svg.append(el("text", { x: L - 8, y: y(v) + 4, "text-anchor": "end" }, `${Math.round(v)} ms`));
    }
    for (let t = t0; t <= t1; t += 4 * 3600) {
      const label = new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
      const anchor = t === t0 ? "start" : t + 4 * 3600 > t1 ? "end" : "middle";
      svg.append(el("text", { x: x(t), y: H - B + 18, "text-anchor": anchor }, label));
    }
    svg.append(el("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" }, "time (hourly points, local)"));
    svg.append(el("text", { x: 16, y: (T + H - B) / 2, transform: `rotate(-90 16 ${(T + H - B) / 2})`,
      "text-anchor": "middle" }, "response time (ms)"));
    svg.append(el("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#9aa3b5" }));
    const deploys = (m.markers || []).map((d) => ({ ...d, t: Date.parse(d.created_at) / 1000 }))
      .filter((d) => d.t >= t0 && d.t <= t1);
    for (const d of deploys) {
      svg.append(el("line", { x1: x(d.t), x2: x(d.t), y1: T, y2: H - B, stroke: "var(--deploy)",
        "stroke-dasharray": "4 3", "stroke-width": 1.5, class: "deploy" }));
      svg.append(el("text", { x: x(d.t) + 4, y: T + 12 }, `deploy ${d.revision || ""}`));
    }
    const line = (key, color) => el("polyline", { fill: "none", stroke: color, "stroke-width": 2.2,
      points: points.map((p) => `${x(p.timestamp).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" "), class: key });
    svg.append(line("mean", "var(--mean)"), line("pct", "var(--pct)"));
    show("chart", svg);
  } catch (err) {
    show("chart", `Could not load the graph: ${err.message}`, true);
  }
}

// JSONP as jQuery does it: a global callback, a <script> tag, a cache-buster.
let jsonpSeq = 0;
function jsonp(url) {
  return new Promise((resolve, reject) => {
    const name = `dashJsonp_${Date.now()}_${jsonpSeq++}`;
    const script = document.createElement("script");
    const done = () => { delete window[name]; script.remove(); };
    window[name] = (data) => { done(); resolve(data); };
    script.onerror = () => { done(); reject(new Error("the script did not load")); };
    script.src = `${url}${url.includes("?") ? "&" : "?"}callback=${name}&_=${Date.now()}`;
    document.head.append(script);
  });
}

// The window the count covers, stated on the card: the last 24 hours, from the start of
// the hour (so every load within an hour asks the same question and shares a cache entry).
const SLOW_WINDOW_HOURS = 24;

async function loadJsonp() {
  try {
    const hour = 3600;
    const since = Math.floor(Date.now() / 1000 / hour) * hour - SLOW_WINDOW_HOURS * hour;
    const data = await jsonp(api(`samples/performance.json?count_only=true&since=${since}`));
    if (data.error) throw new Error(`${data.error.status} ${data.error.code}: ${data.error.message}`);
    const box = document.createElement("div");
    box.innerHTML = '<div class="big"></div><div class="small"></div>';
    box.firstChild.textContent = data.count;
    const from = new Date(since * 1000).toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit", hour12: false });
    box.lastChild.textContent = `performance samples in the last ${SLOW_WINDOW_HOURS} hours (since ${from})`;
    box.lastChild.id = "slow-window";
    box.firstChild.id = "slow-count";
    show("jsonp", box);
  } catch (err) {
    show("jsonp", `Could not load: ${err.message}`, true);
  }
}

// POST a V2 query as JSON. The page's request carries no token: the gateway adds it.
async function postJson(path, query) {
  const res = await fetch(`${GATEWAY}/api/v2/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(query),
  });
  const body = await res.json();
  if (!res.ok) {
    throw new Error(`${res.status} ${body.error ? body.error.code + ": " + body.error.message : ""}`);
  }
  return { body, cache: res.headers.get("Cache-Status"), id: res.headers.get("X-Request-Id") };
}

// "The last hour", asked anew each refresh: the gateway rounds both ends down to the
// metrics TTL (30 s), so every refresh within one step shares one entry and one query.
const V2_REFRESH_MS = 30000;

async function loadV2Chart() {
  try {
    const to = Math.floor(Date.now() / 1000);
    const selector = (field) => ({ name: "transaction_duration", tags: { namespace: "web" }, field });
    const { body, cache } = await postJson("metrics/timeseries", {
      site_id: APP, from: to - 3600, to, select: [selector("MEAN"), selector("P95")],
    });
    document.getElementById("v2-chart-meta").textContent = `Cache-Status: ${cache || "-"}`;
    const [mean, p95] = body.series || [];
    const points = ((mean && mean.data) || []).map((p, i) => ({
      t: Date.parse(p.timestamp) / 1000, mean: p.value, p95: p95 && p95.data[i] ? p95.data[i].value : p.value,
    }));
    if (points.length < 2) return show("v2-chart", "Not enough data in this window.");
    const W = 1100, H = 220, L = 84, R = 20, T = 10, B = 30;
    const t0 = points[0].t, t1 = points[points.length - 1].t;
    const peak = Math.max(...points.map((p) => Math.max(p.mean, p.p95)));
    const step = niceStep(peak / 4);
    const top = Math.ceil((peak * 1.05) / step) * step;
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const y = (v) => T + (1 - v / top) * (H - T - B);
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", id: "v2-svg",
      "aria-label": "transaction_duration mean and p95 over the last hour" });
    for (let v = 0; v <= top + 1e-9; v += step) {
      svg.append(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e6e9f0" }));
      svg.append(el("text", { x: L - 8, y: y(v) + 4, "text-anchor": "end" }, `${Math.round(v)} ms`));
    }
    for (let t = t0; t <= t1; t += 900) {
      const label = new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
      svg.append(el("text", { x: x(t), y: H - 8, "text-anchor": t === t0 ? "start" : "middle" }, label));
    }
    const line = (key, color) => el("polyline", { fill: "none", stroke: color, "stroke-width": 2,
      points: points.map((p) => `${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" "), class: `v2-${key}` });
    svg.append(line("mean", "var(--mean)"), line("p95", "var(--pct)"));
    show("v2-chart", svg);
  } catch (err) {
    show("v2-chart", `Could not load the timeseries: ${err.message}`, true);
  }
}

async function loadV2Logs() {
  try {
    const { body, cache } = await postJson("logs/lines", {
      site_id: APP, source_ids: ["app"], query: "severity=error",
      pagination: { per_page: 8, order: "DESC", cursor: { time: null } },
    });
    document.getElementById("v2-logs-meta").textContent = `Cache-Status: ${cache || "-"}`;
    if (!Array.isArray(body) || body.length === 0) return show("v2-logs", "No error lines.");
    const table = document.createElement("table");
    table.id = "v2-logs-table";
    table.innerHTML = "<thead><tr><th>When</th><th>Severity</th><th>Message</th></tr></thead>";
    const rows = document.createElement("tbody");
    for (const line of body) {
      const tr = document.createElement("tr");
      const when = new Date(line.timestamp).toLocaleTimeString([], { hour12: false });
      [when, line.severity, line.message].forEach((text, i) => {
        const td = document.createElement("td");
        td.textContent = text || "";
        if (i === 0) td.className = "time";
        if (i === 1) td.className = "exception";
        tr.append(td);
      });
      rows.append(tr);
    }
    table.append(rows);
    show("v2-logs", table);
  } catch (err) {
    show("v2-logs", `Could not load log lines: ${err.message}`, true);
  }
}

loadErrors();
loadChart();
loadJsonp();
loadV2Chart();
loadV2Logs();
setInterval(loadV2Chart, V2_REFRESH_MS);

// Open exception incidents: AppSignal's GraphQL, through a declared operation's GET route.
async function loadIncidents() {
  try {
    const { body, cache, id } = await getJson(api("graphql/ExceptionIncidents.json?state=OPEN&limit=10"));
    document.getElementById("incidents-meta").textContent = `${cache || ""} · ${id || ""}`;
    const page = body.data && body.data.app && body.data.app.paginatedExceptionIncidents;
    if (!page || page.rows.length === 0) return show("incidents", "No open exception incidents.");
    const table = document.createElement("table");
    table.id = "incident-table";
    table.innerHTML = "<thead><tr><th>#</th><th>Exception</th><th>Action</th><th>Count</th>" +
      "<th>Last seen</th><th>Severity</th></tr></thead>";
    const rows = document.createElement("tbody");
    for (const incident of page.rows) {
      const tr = document.createElement("tr");
      const link = document.createElement("a");
      link.href = api(`graphql/Incident.json?incidentNumber=${encodeURIComponent(incident.number)}`);
      link.textContent = `#${incident.number}`;
      const action = document.createElement("code");
      action.textContent = (incident.actionNames || []).join(", ") || "—";
      const severity = document.createElement("span");
      severity.className = `sev ${incident.severity || ""}`;
      severity.textContent = (incident.severity || "—").toLowerCase();
      const seen = incident.lastOccurredAt ? time(Date.parse(incident.lastOccurredAt) / 1000) : "—";
      const cells = [link, incident.exceptionName || "—", action, String(incident.count), seen, severity];
      cells.forEach((content, i) => {
        const td = document.createElement("td");
        if (i === 1) td.className = "exception";
        if (i === 4) td.className = "time";
        td.append(content);
        tr.append(td);
      });
      rows.append(tr);
    }
    table.append(rows);
    show("incidents", table);
    const total = document.createElement("p");
    total.className = "small";
    total.textContent = `${page.rows.length} of ${page.total} open`;
    document.getElementById("incidents").append(total);
  } catch (err) {
    show("incidents", `Could not load incidents: ${err.message}`, true);
  }
}

loadIncidents();
