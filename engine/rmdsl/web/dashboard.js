// rmdsl dashboard: renders the daemon's snapshots, pushed by server-sent events (/events).
// Plain DOM, no framework, no build step; text is always set as text (rule messages are data).
"use strict";

let state = null;
// the account this page shows (?account=NAME); a daemon of several accounts lists them all
let chosen = new URLSearchParams(location.search).get("account");
let source = null;

let seen = new Set();
let speed = 1;
let lastPush = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

function fill(id, nodes, empty) {
  const box = document.getElementById(id);
  box.replaceChildren(...(nodes.length ? nodes : empty ? [el("p", { class: "muted" }, empty)] : []));
}

function daemonNow() {
  if (!state || !state.now) return Date.now();
  const elapsed = lastPush ? (Date.now() - lastPush) * speed : 0;
  return Date.parse(state.now) + elapsed;
}

function when(iso) {
  if (!iso) return "-";
  const opts = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZoneName: "short" };
  if (state && state.timezone) opts.timeZone = state.timezone;
  return new Intl.DateTimeFormat("en-US", opts).format(new Date(iso));
}

function countdown(iso) {
  if (!iso) return "until the gateway allows trading";
  let s = Math.max(0, Math.round((Date.parse(iso) - daemonNow()) / 1000));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return (h ? h + "h " : "") + (h || m ? String(m).padStart(2, "0") + "m " : "") + String(s).padStart(2, "0") + "s";
}

function timerSpan(iso) {
  return el("span", { class: "countdown", "data-until": iso || "" }, countdown(iso));
}

function signClass(v) { return v > 0 ? "pos" : v < 0 ? "neg" : ""; }

function renderHeader(s) {
  const h = s.health;
  const pill = document.getElementById("health");
  const ok = h.running && h.reconciled;
  pill.textContent = !h.running ? "stopped" : h.reconciled ? "enforcing" : "NOT RECONCILED";
  pill.className = "pill " + (ok ? "ok" : "bad");
  const acct = s.account ? (s.account.name || "account " + s.account.id) : "-";
  document.getElementById("account").textContent = acct;
  document.getElementById("trading-day").textContent = s.trading_day ? "trading day " + s.trading_day : "";
}

function renderFleet(s) {
  const box = document.getElementById("fleet");
  box.hidden = !s.accounts.length;
  if (!s.accounts.length) return;
  const locked = s.accounts.filter((a) => a.locked).length;
  const behind = s.accounts.filter((a) => !a.reconciled).length;
  document.getElementById("fleet-summary").textContent =
    `${s.accounts.length} accounts · ${locked} locked out · ${behind} not reconciled`;
  const shown = s.account ? s.account.name : null;
  document.querySelector("#fleet-table tbody").replaceChildren(...s.accounts.map((a) => {
    const word = !a.reconciled ? "NOT RECONCILED" : a.locked ? "LOCKED OUT" : a.overdue ? "TARGET NOT REACHED" : "enforcing";
    const row = el("tr", { class: "account" + (a.name === shown ? " chosen" : ""), "data-account": a.name },
      el("td", {}, el("b", {}, a.name)),
      el("td", { class: a.pnl ? signClass(a.pnl.value) : "" }, a.pnl ? a.pnl.text : "-"),
      el("td", {}, a.realized ? a.realized.text : "-"), el("td", {}, a.trades ?? "-"),
      el("td", {}, a.lockouts ?? "-"), el("td", {}, a.positions ?? "-"),
      el("td", { class: word === "enforcing" ? "pos" : "neg" }, word));
    row.addEventListener("click", () => choose(a.name));
    return row;
  }));
}

function choose(name) {
  chosen = name;
  history.replaceState(null, "", "?account=" + encodeURIComponent(name));
  seen = new Set();
  connect();
}

function renderPnl(s) {
  const net = document.getElementById("pnl-net");
  net.textContent = s.pnl.net.text;
  net.className = signClass(s.pnl.net.value);
  const p = s.pnl;
  document.getElementById("pnl-detail").textContent =
    `realized ${p.realized.text} · unrealized ${p.unrealized.text} · ${p.trades} trades (${p.wins} won, ${p.losses} lost)`;
  fill("limits", s.limits.map(limitBar), "no money limit in this ruleset");
}

function limitBar(l) {
  const pct = Math.round(l.used * 100);
  const bar = el("div", { class: "bar" + (l.used >= 0.8 ? " bad" : l.used >= 0.5 ? " warn" : "") },
    el("div", { style: `width:${pct}%` }));
  const bound = l.param ? `params.${l.param} = ${l.limit.text}` : l.limit.text;
  return el("div", { class: "limit", "data-rule": l.rule },
    el("div", { class: "head" }, el("b", {}, l.rule), ` ${l.name} ${l.op} ${bound}`),
    bar,
    el("div", { class: "figures" },
      el("span", {}, `now ${l.value.text}`),
      el("span", {}, `room ${l.room.text} · ${pct}% used`)));
}

// a pause and a reduce-only keep what is open: shown in the warning colour, not as a lockout
const LABEL_CLASS = { pause: "pause", reduce_only: "pause" };
const LOCK_LABEL = { pause: "PAUSED", reduce_only: "REDUCE-ONLY (exits only)" };

function renderLockouts(s) {
  fill("lockouts", s.lockouts.map((lk) =>
    el("div", { class: "item " + (LABEL_CLASS[lk.kind] || "lockout"), "data-rule": lk.rule },
      el("b", {}, lk.kind === "symbol_block" ? `${lk.scope} BLOCKED` : LOCK_LABEL[lk.kind] || "LOCKED OUT"),
      ` by ${lk.rule} · ends in `, timerSpan(lk.until), ` (${lk.until_kind}, at ${when(lk.until)})`,
      el("div", { class: "muted" }, lk.reason))), "none");
}

function renderPositions(s) {
  fill("positions", s.positions.map((p) =>
    el("div", { class: "item", "data-symbol": p.symbol },
      el("b", {}, `${p.side} ${p.size} ${p.symbol}`), ` @ ${p.avg_price} · `,
      el("span", { class: signClass(p.unrealized.value) }, p.unrealized.text),
      " · ", p.stops.length ? `stop ${p.stops.join(", ")}` : el("span", { class: "neg" }, "no stop"),
      p.grace_deadline ? el("span", {}, " · closed unless protected in ", timerSpan(p.grace_deadline)) : "")), "flat");
  fill("timers", s.timers.map((t) =>
    el("div", { class: "item" }, `${t.rule} on ${t.entity}: fires in `, timerSpan(t.deadline))));
}

function renderHistory(s) {
  const body = document.querySelector("#history tbody");
  const rows = [];
  for (const r of s.history) {
    const key = `${r.time}|${r.rule}|${r.action}|${r.target}`;
    const fresh = seen.size > 0 && !seen.has(key);
    rows.push(el("tr", { class: "enforcement" + (fresh ? " fresh" : ""), "data-rule": r.rule, "data-outcome": r.outcome },
      el("td", {}, when(r.time)), el("td", {}, el("b", {}, r.rule)), el("td", {}, r.action),
      el("td", {}, r.target || "account"),
      el("td", { class: "outcome-" + r.outcome }, r.outcome + (r.error ? `: ${r.error}` : "")),
      el("td", {}, r.latency_ms == null ? "-" : r.latency_ms.toFixed(1) + " ms")));
    const why = Object.entries(r.why).map(([k, v]) => `${k} = ${v}`).join(", ");
    rows.push(el("tr", { class: "why" }, el("td", {}), el("td", { colspan: "5" },
      r.message ? el("div", {}, r.message) : "", why ? el("div", {}, "why: " + why) : "")));
  }
  seen = new Set(s.history.map((r) => `${r.time}|${r.rule}|${r.action}|${r.target}`).concat(["*"]));
  body.replaceChildren(...rows);
  document.getElementById("history-empty").hidden = s.history.length > 0;
}

function renderRuleset(s) {
  const rs = s.ruleset;
  document.getElementById("ruleset").replaceChildren(rs
    ? el("span", {}, el("b", {}, rs.name), ` version ${rs.version} · ${rs.path}`)
    : "-");
  const r = s.reload;
  const box = document.getElementById("reload");
  if (!r) { box.replaceChildren(el("p", { class: "muted" }, "no reload since start")); return; }
  box.replaceChildren(r.ok
    ? el("p", { class: "pos", id: "reload-ok" }, `last reload at ${when(r.at)}: accepted, version ${r.version}`)
    : el("div", { id: "reload-refused" }, el("p", { class: "neg" }, `last reload at ${when(r.at)} REFUSED: the ruleset above stays in force`),
        el("pre", {}, r.errors.join("\n"))));
}

function render(s) {
  const prev = state;
  state = s;
  if (prev && prev.now && s.now && lastPush) {
    const wall = Date.now() - lastPush, daemon = Date.parse(s.now) - Date.parse(prev.now);
    if (wall > 200 && daemon > 0) speed = Math.min(100, Math.max(0.5, daemon / wall));
  }
  lastPush = Date.now();
  renderHeader(s);
  renderFleet(s);
  if (s.engine === null) return;
  renderPnl(s); renderLockouts(s); renderPositions(s); renderHistory(s); renderRuleset(s);
  tick();
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
}

function tick() {
  for (const span of document.querySelectorAll(".countdown")) span.textContent = countdown(span.dataset.until);
  document.getElementById("clock").textContent = state ? when(new Date(daemonNow()).toISOString()) : "";
}

function connect() {
  if (source) source.close();
  source = new EventSource("/events" + (chosen ? "?account=" + encodeURIComponent(chosen) : ""));
  source.addEventListener("state", (e) => render(JSON.parse(e.data)));
  source.onerror = () => {
    const pill = document.getElementById("health");
    pill.textContent = "daemon unreachable: retrying"; pill.className = "pill bad";
  };
}

setInterval(tick, 500);
connect();
