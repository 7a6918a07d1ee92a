// The durable dashboard: one page, drawn from the JSON API (no framework, no CDN).
"use strict";

const STATUSES = ["PENDING", "RUNNING", "SUSPENDED", "COMPLETED", "FAILED", "TERMINATED",
  "CANCELED", "CONTINUED_AS_NEW"];
const REFRESH_MS = 2000;
const FAN_SHOWN = 12;  // a wider fan-out draws its first nodes and counts the others
let timer = null;

function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;" }[c]));
}
function show(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}
const CLOCK = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3, hour12: false });
function when(iso) {
  return iso ? CLOCK.format(new Date(iso)) : "";
}
function ms(value) {
  if (value === null || value === undefined) return "";
  return value < 1000 ? value.toFixed(1) + " ms" : (value / 1000).toFixed(2) + " s";
}
function badge(status) { return `<span class="badge s-${esc(status)}">${esc(status)}</span>`; }
function idLink(id) {
  return `<a class="mono" href="/instances/${encodeURIComponent(id)}">${esc(id)}</a>`;
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}
function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body === undefined ? null : body) });
}
function every(fn) {
  clearInterval(timer);
  timer = setInterval(() => { if (!document.hidden) fn().catch(() => {}); }, REFRESH_MS);
}

// -- instances -----------------------------------------------------------------------------

async function instancesPage(main) {
  const params = new URLSearchParams(location.search);
  const cursors = [];
  let cursor = null;
  main.innerHTML = `<h1>Instances</h1><div class="counts" id="counts"></div>
    <form class="filters" id="filters">
      <select name="status"><option value="">any status</option>${STATUSES.map((s) =>
        `<option>${s}</option>`).join("")}</select>
      <input name="name" placeholder="orchestrator name">
      <input name="q" placeholder="instance id" size="32">
      <button type="submit">Filter</button>
    </form>
    <table id="instances"><thead><tr><th>Instance</th><th>Name</th><th>Status</th>
      <th>Created</th><th>Updated</th></tr></thead><tbody></tbody></table>
    <div class="pager"><button id="prev" type="button">Newer</button>
      <button id="next" type="button">Older</button><span class="muted" id="page"></span></div>`;
  const form = main.querySelector("#filters");
  for (const key of ["status", "name", "q"]) form.elements[key].value = params.get(key) || "";

  async function load() {
    const query = new URLSearchParams();
    for (const key of ["status", "name", "q"]) if (form.elements[key].value) query.set(key, form.elements[key].value);
    if (cursor) query.set("cursor", cursor);
    const [page, counts] = await Promise.all([api("/api/instances?" + query), api("/api/counts")]);
    const status = form.elements.status.value;
    main.querySelector("#counts").innerHTML = STATUSES.map((s) =>
      `<div class="count${s === status ? " on" : ""}" data-status="${s}">${badge(s)}<b>${esc(counts.counts[s])}</b></div>`).join("");
    main.querySelector("#instances tbody").innerHTML = page.instances.map((i) =>
      `<tr data-id="${esc(i.instance_id)}"><td>${idLink(i.instance_id)}</td><td>${esc(i.name)}</td>
        <td>${badge(i.status)}</td><td>${when(i.created_at)}</td><td>${when(i.updated_at)}</td></tr>`).join("")
      || `<tr><td colspan="5" class="muted">No instances match.</td></tr>`;
    main.querySelector("#next").disabled = !page.next_cursor;
    main.querySelector("#prev").disabled = cursors.length === 0;
    main.querySelector("#page").textContent = `page ${cursors.length + 1}`;
    main.querySelector("#next").onclick = () => { cursors.push(cursor); cursor = page.next_cursor; load(); };
  }
  main.querySelector("#prev").onclick = () => { cursor = cursors.pop() || null; load(); };
  form.onsubmit = (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const key of ["status", "name", "q"]) if (form.elements[key].value) query.set(key, form.elements[key].value);
    history.replaceState(null, "", "/" + (String(query) ? "?" + query : ""));
    cursor = null; cursors.length = 0; load();
  };
  main.querySelector("#counts").onclick = (event) => {
    const chip = event.target.closest(".count");
    if (!chip) return;
    form.elements.status.value = form.elements.status.value === chip.dataset.status ? "" : chip.dataset.status;
    form.requestSubmit();
  };
  await load();
  every(() => (cursor ? Promise.resolve() : load()));
}

// -- one instance ---------------------------------------------------------------------------

function drawFlow(flow) {
  const endClass = { ExecutionCompleted: "end-ok", ExecutionFailed: "end-bad", ExecutionTerminated: "end-bad",
    ExecutionCanceled: "end-bad" };
  const parts = flow.steps.map((step) => {
    if (step.type === "marker") {
      const m = flow.markers[step.marker];
      const what = m.name ? ` ${esc(m.name)}` : "";
      return `<div class="step taken"><span class="marker ${endClass[m.kind] || ""}">${esc(m.kind)}${what}</span></div>`;
    }
    const shown = step.effects.slice(0, FAN_SHOWN);
    const nodes = shown.map((index) => drawNode(flow.effects[index]));
    const hidden = step.effects.slice(FAN_SHOWN);
    if (hidden.length) {
      const failed = hidden.filter((index) => flow.effects[index].state === "failed").length;
      const pending = hidden.filter((index) => flow.effects[index].state === "pending").length;
      nodes.push(`<div class="node more"><div class="k">and</div><div>${hidden.length} more</div>
        <div class="muted">${failed} failed · ${pending} pending</div></div>`);
    }
    const allDone = step.effects.every((index) => flow.effects[index].state !== "pending");
    const fan = step.effects.length > 1;
    return `<div class="step${allDone ? " taken" : ""}">${fan ? `<div class="fanlabel">fan-out × ${step.effects.length}</div>` : ""}
      <div class="row${fan ? " fan" : ""}">${nodes.join("")}</div>${fan ? `<div class="fanlabel">fan-in</div>` : ""}</div>`;
  });
  if (flow.truncated_steps) parts.push(`<div class="step"><span class="marker">… ${flow.truncated_steps} more steps (see the timeline)</span></div>`);
  return `<div class="flow">${parts.join("")}</div>`;
}

function drawNode(e) {
  const detail = [];
  if (e.duration_ms !== null && e.kind !== "send_event" && e.kind !== "now") detail.push(ms(e.duration_ms));
  if (e.attempts) detail.push(`${e.attempts} attempts`);
  if (e.error) detail.push(`<span class="error">${esc(e.error.type)}</span>`);
  if (e.kind === "timer" && e.state === "pending") detail.push(`due ${when(e.due)}`);
  const sub = e.kind === "suborchestration";
  const nested = sub && e.flow ? drawFlow(e.flow) : "";
  const child = sub ? `<div>${idLink(e.child)}</div>` : "";
  return `<div class="node ${esc(e.state)}${sub ? " sub" : ""}" title="seq ${e.seq}">
    <div class="k">${esc(e.kind)}</div><div>${esc(e.label)}</div>${child}
    <div class="muted">${detail.join(" · ")}</div>${nested}</div>`;
}

// The timeline is rows of a grid, in chunks the browser lays out only when they are near the
// screen (content-visibility), so a 10,000-event history draws at once.
const CHUNK = 100;

function drawTimeline(flow) {
  const rows = [];
  let first = Infinity, last = -Infinity;
  for (const e of flow.effects) {
    const a = Date.parse(e.started), b = e.ended ? Date.parse(e.ended) : Date.now();
    if (a < first) first = a;
    if (b > last) last = b;
  }
  const span = Math.max(last - first, 1);
  const items = flow.effects.map((e) => ({ seq: e.seq, effect: e }))
    .concat(flow.markers.map((m) => ({ seq: m.seq, marker: m })))
    .sort((x, y) => x.seq - y.seq);
  for (const item of items) {
    if (item.marker) {
      const m = item.marker;
      const text = m.error ? `${m.error.type}: ${m.error.message}` : (m.reason || "");
      rows.push(`<div class="tr"><span>${m.seq}</span><span>${esc(m.kind)}</span><span>${esc(m.name || "")}</span><span>${when(m.at)}</span><span></span><span></span><span class="error">${esc(text)}</span></div>`);
      continue;
    }
    const e = item.effect;
    const a = Date.parse(e.started), b = e.ended ? Date.parse(e.ended) : Date.now();
    const left = ((a - first) / span) * 100, width = ((b - a) / span) * 100;
    const error = e.error ? `${e.error.type}: ${e.error.message}` : "";
    rows.push(`<div class="tr ${esc(e.state)}"><span>${e.seq}</span><span>${esc(e.kind)}</span><span>${esc(e.label)}${e.child ? " " + idLink(e.child) : ""}</span>` +
      `<span>${when(e.started)}</span><span>${ms(e.duration_ms)}${e.attempts ? ` · ${e.attempts} attempts` : ""}</span>` +
      `<span><span class="bar"><i class="${esc(e.state)}" style="left:${left.toFixed(2)}%;width:${width.toFixed(2)}%"></i></span></span>` +
      `<span class="error" title="${esc(e.error ? e.error.traceback : "")}">${esc(error)}</span></div>`);
  }
  const chunks = [];
  for (let n = 0; n < rows.length; n += CHUNK) {
    const part = rows.slice(n, n + CHUNK);
    chunks.push(`<div class="chunk" style="contain-intrinsic-size: auto ${part.length * 31}px">${part.join("")}</div>`);
  }
  return `<div class="timeline"><div class="tr th"><span>Seq</span><span>Kind</span><span>What</span><span>Started</span>
    <span>Took</span><span>When</span><span>Error</span></div>${chunks.join("")}</div>`;
}

const ACTIONS = [
  ["raise-event", "Raise event"], ["suspend", "Suspend"], ["resume", "Resume"],
  ["cancel", "Cancel"], ["terminate", "Terminate"],
];

function confirmAction(id, action, label, done) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = `${label}?`;
  document.getElementById("confirm-text").textContent = `Instance ${id}`;
  document.getElementById("confirm-error").textContent = "";
  document.getElementById("confirm-fields").innerHTML = action === "raise-event"
    ? `<label>Event name <input name="event" required></label><label>Payload (JSON) <textarea name="payload" rows="3">null</textarea></label>`
    : action === "resume" ? "" : `<label>Reason <input name="reason" placeholder="optional"></label>`;
  const form = document.getElementById("confirm-form");
  document.getElementById("confirm-yes").textContent = label;
  document.getElementById("confirm-no").onclick = () => dialog.close();
  form.onsubmit = async (event) => {
    event.preventDefault();
    try {
      const base = `/api/instances/${encodeURIComponent(id)}`;
      if (action === "raise-event") {
        await post(`${base}/events/${encodeURIComponent(form.elements.event.value)}`, JSON.parse(form.elements.payload.value || "null"));
      } else {
        const reason = form.elements.reason ? form.elements.reason.value : "";
        await post(`${base}/${action}`, reason ? { reason } : {});
      }
      dialog.close();
      done();
    } catch (error) {
      document.getElementById("confirm-error").textContent = error.message;
    }
  };
  dialog.showModal();
}

async function instancePage(main, id) {
  const base = `/api/instances/${encodeURIComponent(id)}`;
  let lastSeen = null;
  async function load() {
    const [i, flow] = await Promise.all([api(base), api(`${base}/flow`)]);
    const key = `${i.status}|${i.updated_at}`;
    if (key === lastSeen) return;
    lastSeen = key;
    const failure = i.error_detail
      ? `<div class="card"><h2>Error</h2><p class="error">${esc(i.error_detail.type)}: ${esc(i.error_detail.message)}</p><pre>${esc(i.error_detail.traceback || "")}</pre></div>`
      : `<div class="card"><h2>Output</h2><pre>${esc(show(i.output))}</pre></div>`;
    main.innerHTML = `<p><a href="/">← Instances</a></p>
      <h1><span class="mono">${esc(i.instance_id)}</span> ${badge(i.status)}</h1>
      <div class="muted">${esc(i.name)} · created ${when(i.created_at)} · updated ${when(i.updated_at)}
        ${i.parent_instance_id ? " · parent " + idLink(i.parent_instance_id) : ""}</div>
      <div class="actions">${ACTIONS.map(([a, label]) => `<button type="button" data-action="${a}">${label}</button>`).join("")}</div>
      <div class="grid2"><div class="card"><h2>Input</h2><pre>${esc(show(i.input))}</pre></div>${failure}</div>
      ${i.custom_status !== null ? `<div class="card" style="margin-top:14px"><h2>Custom status</h2><pre>${esc(show(i.custom_status))}</pre></div>` : ""}
      <h2>Flow</h2><div class="card" id="graph">${drawFlow(flow)}</div>
      <h2>Timeline</h2><div id="timeline">${drawTimeline(flow)}</div>`;
    main.querySelector(".actions").onclick = (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      confirmAction(i.instance_id, button.dataset.action, button.textContent, () => { lastSeen = null; load(); });
    };
  }
  await load();
  every(load);
}

// -- workers --------------------------------------------------------------------------------

async function workersPage(main) {
  main.innerHTML = `<h1>Workers</h1><table id="workers"><thead><tr><th>Worker</th><th>Host</th><th>PID</th>
    <th>Queues</th><th>Orchestrators</th><th>Activities</th><th>Started</th><th>Last seen</th></tr></thead><tbody></tbody></table>`;
  async function load() {
    const { workers } = await api("/api/workers");
    main.querySelector("tbody").innerHTML = workers.map((w) =>
      `<tr><td class="mono">${esc(w.worker_id)}</td><td>${esc(w.host)}</td><td>${esc(w.pid)}</td>
       <td>${esc(w.queues.join(", "))}</td><td>${esc(w.orchestrators.join(", "))}</td>
       <td>${esc(w.activities.join(", "))}</td><td>${when(w.started_at)}</td><td>${when(w.last_seen_at)}</td></tr>`).join("")
      || `<tr><td colspan="8" class="muted">No live worker.</td></tr>`;
  }
  await load();
  every(load);
}

async function route() {
  const main = document.getElementById("main");
  const path = location.pathname;
  const page = path.startsWith("/instances/") ? "instance" : path === "/workers" ? "workers" : "instances";
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === (page === "workers" ? "workers" : "instances"));
  }
  try {
    if (page === "instance") await instancePage(main, decodeURIComponent(path.slice("/instances/".length)));
    else if (page === "workers") await workersPage(main);
    else await instancesPage(main);
    main.dataset.ready = page;
  } catch (error) {
    main.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    main.dataset.ready = "error";
  }
}

api("/api/info").then((info) => { document.getElementById("store").textContent = info.store; }).catch(() => {});
route();
