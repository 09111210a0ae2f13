// SomaAgent operator console: session inspector, model profile panel, requeue dashboard.
// Every value shown comes from /v1/console/* already formatted by the gateway; this page only
// places strings with textContent (never innerHTML). Live: the open session's WebSocket
// stream triggers a re-read of the timeline; the pending requeue count is polled every 3 s.
const $ = (id) => document.getElementById(id);
const KEY = "soma.key";
const POLL_MS = 3000;
const ICONS = { running: "↻", awaiting_tool: "⚙", awaiting_policy: "⚑", completed: "✓", failed: "✗", idle: "·", unknown: "?" };
const st = { key: localStorage.getItem(KEY), sid: null, after: 0, next: null, ws: null, turns: new Map(),
  cursor: null, view: "pending", item: null, timer: null, refresh: null, live: false };

function el(tag, cls, text) {
  const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = String(text); return e;
}
class ApiError extends Error { constructor(status, message) { super(message); this.status = status; } }
async function api(method, path, body) {
  const res = await fetch(path, { method, headers: { Authorization: `Bearer ${st.key}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const data = res.status === 204 ? null : await res.json();
  if (res.status === 401) { signOut(data.error.message); }
  if (!res.ok) throw new ApiError(res.status, data && data.error ? data.error.message : res.statusText);
  return data;
}
function fieldsInto(dl, fields) {
  dl.replaceChildren();
  for (const [k, v] of fields) dl.append(el("dt", null, k), el("dd", null, v));
}

// ---- timeline items ----
function blockEl(b) {
  const box = el("div", "blk"); box.dataset.label = b.label;
  const pre = el("pre", "blk-text", b.collapsed ? b.preview : b.text);
  box.append(el("div", "blk-head", b.collapsed ? `${b.label} (${b.lines} lines)` : b.label), pre);
  if (b.collapsed) {
    const more = el("button", "expand", `Show all ${b.lines} lines`);
    more.onclick = () => { const open = more.dataset.open !== "1"; more.dataset.open = open ? "1" : "0";
      pre.textContent = open ? b.text : b.preview; more.textContent = open ? "Collapse" : `Show all ${b.lines} lines`; };
    box.append(more);
  }
  return box;
}
async function download(link) {
  const res = await fetch(link.href, { headers: { Authorization: `Bearer ${st.key}` } });
  if (!res.ok) { alert(`Download failed: ${res.status}`); return; }
  const a = document.createElement("a"); a.href = URL.createObjectURL(await res.blob());
  a.download = link.label.replace(/ \(.*\)$/, ""); a.click(); setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
function itemEl(it) {
  const li = el("li", `item kind-${it.kind}`); li.dataset.kind = it.kind; li.dataset.seq = it.seq;
  if (it.status) li.dataset.status = it.status;
  const head = el("div", "item-head");
  head.append(el("span", "seq", `#${it.seq}`), el("b", "title", it.title), el("time", "muted", new Date(it.at).toLocaleTimeString()));
  li.append(head);
  if (it.fields.length) { const dl = el("dl", "fields"); fieldsInto(dl, it.fields); li.append(dl); }
  for (const b of it.blocks) li.append(blockEl(b));
  for (const l of it.links) {
    const a = el("a", "file", `⤓ ${l.label}`); a.href = l.href;
    a.onclick = (e) => { e.preventDefault(); download(l).catch((err) => alert(err.message)); }; li.append(a);
  }
  return li;
}
function turnGroup(turn) {
  const id = turn || "session";
  let g = document.querySelector(`#timeline > li[data-turn="${CSS.escape(id)}"]`);
  if (g) return g;
  g = el("li", "turn"); g.dataset.turn = id; g.id = `turn-${id}`;
  const head = el("div", "turn-head");
  head.append(el("span", "icon"), el("b", "turn-status"), el("span", "turn-profile muted"));
  if (turn) { const a = el("a", "deeplink", "link"); a.href = `#/session/${st.sid}/turn/${turn}`; head.append(a); }
  g.append(head, el("ol", "items")); $("timeline").append(g);
  return g;
}
function showTurn(t) {
  st.turns.set(t.correlation_id, t);
  const g = turnGroup(t.correlation_id);
  g.dataset.status = t.status;
  g.querySelector(".icon").textContent = ICONS[t.status] || "?";
  g.querySelector(".turn-status").textContent = `Turn ${t.correlation_id.slice(0, 8)} · ${t.status}` + (t.attempt > 1 ? ` · attempt ${t.attempt}` : "");
  g.querySelector(".turn-profile").textContent = t.profile ? `answered by ${t.profile}` : "";
}
function addPage(page) {
  for (const it of page.items) {
    const items = turnGroup(it.turn).querySelector(".items");
    // an item with a key (a requeue item) is replaced by its newer copy, in place
    const key = it.key || `${it.seq}:${it.kind}:${it.title}`;
    const old = $("timeline").querySelector(`li.item[data-key="${CSS.escape(key)}"]`);
    const li = itemEl(it); li.dataset.key = key;
    if (old && it.key) old.replaceWith(li); else if (!old) items.append(li);
  }
  for (const t of page.turns) showTurn(t);
  st.after = page.last_seq; st.next = page.next_after;
  $("more-timeline").hidden = page.next_after == null;
  showProfileTurns();
}

// ---- sessions ----
function filterQuery() {
  const q = new URLSearchParams({ limit: "50" });
  const put = (k, v) => { if (v) q.set(k, v); };
  put("q", $("f-q").value.trim()); put("status", $("f-status").value); put("persona", $("f-persona").value.trim());
  put("tool", $("f-tool").value.trim());
  put("since", $("f-since").value && new Date($("f-since").value).toISOString());
  put("until", $("f-until").value && new Date($("f-until").value).toISOString());
  return q;
}
async function loadSessions(more) {
  const q = filterQuery(); if (more && st.cursor) q.set("cursor", st.cursor);
  const page = await api("GET", `/v1/console/sessions?${q}`);
  const list = $("session-list"); if (!more) list.replaceChildren();
  for (const s of page.sessions) {
    const li = el("li", "session-row"); li.dataset.sessionId = s.session_id; li.dataset.status = s.status;
    const a = el("a", null); a.href = `#/session/${s.session_id}`;
    a.append(el("b", null, s.title || s.session_id), el("span", "badge", `${ICONS[s.status] || ""} ${s.status}`),
      el("small", "muted", `${s.tenant_id} · ${s.persona_id} · ${s.turn_count} turns · ${new Date(s.last_activity).toLocaleString()}`));
    if (s.session_id === st.sid) li.setAttribute("aria-current", "true");
    li.append(a); list.append(li);
  }
  st.cursor = page.next_cursor; $("more-sessions").hidden = !page.next_cursor;
}
async function loadProfile(sid) {
  const p = await api("GET", `/v1/console/sessions/${encodeURIComponent(sid)}/profiles`);
  fieldsInto($("profile-fields"), [["active profile", p.active || "-"], ["model", p.model || "-"],
    ["context size", p.context_window != null ? `${p.context_window} tokens` : "-"],
    ["fallback chain", p.fallback_chain.map((f) => `${f.name} (${f.model})`).join(" → ") || "none"],
    ["tenant override", p.override || "none (role default)"]]);
  $("profile-use").replaceChildren(...p.turns_by_profile.map((u) => el("li", null, `${u.profile || "(none)"}: ${u.turns} turns`)));
  if (!p.turns_by_profile.length) $("profile-use").append(el("li", "muted", "no turn has completed yet"));
  $("profile-panel").hidden = false;
}
function showProfileTurns() {
  $("profile-turns").replaceChildren(...[...st.turns.values()].map((t) =>
    el("li", null, `${t.correlation_id.slice(0, 8)}: ${t.profile || (t.status === "completed" ? "-" : t.status)}`)));
}
async function openSession(sid, turn) {
  if (st.sid !== sid) {
    st.sid = sid; st.turns.clear(); $("timeline").replaceChildren(); closeStream();
    $("inspector-error").hidden = true; $("inspector").hidden = true; $("profile-panel").hidden = true;
    $("inspector-empty").hidden = true;
    for (const li of $("session-list").children) li.toggleAttribute("aria-current", li.dataset.sessionId === sid);
    try {
      const q = new URLSearchParams({ limit: "200" }); if (turn) q.set("turn", turn);
      const page = await api("GET", `/v1/console/sessions/${encodeURIComponent(sid)}/timeline?${q}`);
      $("session-title").textContent = `Session ${sid}`;
      $("session-link").href = page.link; $("inspector").hidden = false;
      addPage(page); connectStream(sid); await loadProfile(sid);
    } catch (err) {
      $("inspector-error").textContent = err.status === 404 ? `Session ${sid} is not visible to this key (not found).` : err.message;
      $("inspector-error").hidden = false; return;
    }
  }
  if (turn) { const g = $(`turn-${turn}`); if (g) { g.classList.add("focus"); g.scrollIntoView({ block: "start" }); } }
}
async function catchUp() {
  if (!st.sid || st.next != null) return;
  const sid = st.sid;
  const page = await api("GET", `/v1/console/sessions/${encodeURIComponent(sid)}/timeline?after=${st.after}&limit=500`);
  if (sid === st.sid) addPage(page);
}
function scheduleCatchUp() {
  clearTimeout(st.refresh);
  st.refresh = setTimeout(() => {
    catchUp().catch((e) => console.warn(e)); loadProfile(st.sid).catch(() => {}); loadSessions(false).catch(() => {});
  }, 250);
}

// ---- live: the session's WebSocket stream (the same one the chat page uses) ----
function setConn(state, label) { $("conn").dataset.state = state; $("conn").querySelector("b").textContent = label; }
function closeStream() { if (st.ws) { st.ws.onclose = null; st.ws.close(); st.ws = null; } setConn("idle", "offline"); }
function connectStream(sid, retry = 0) {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/v1/sessions/${encodeURIComponent(sid)}/stream`);
  st.ws = ws; setConn("connecting", "connecting");
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", key: st.key }));
  ws.onmessage = (m) => {
    const f = JSON.parse(m.data);
    if (f.type === "ready") { setConn("live", "live"); scheduleCatchUp(); return; }
    const p = f.event && f.event.payload;
    if (f.type === "event" && p && p.status !== "streaming") scheduleCatchUp();
  };
  ws.onclose = (e) => {
    setConn("idle", "reconnecting");
    if (e.code === 4401 || e.code === 4404 || st.sid !== sid) return;
    setTimeout(() => { if (st.sid === sid) connectStream(sid, retry + 1); }, Math.min(5000, 250 * 2 ** retry));
  };
}

// ---- requeue dashboard ----
async function loadCounts() {
  const c = await api("GET", "/v1/console/requeue/counts");
  $("pending-count").textContent = c.pending; $("pending-count").dataset.zero = c.pending === 0 ? "1" : "0";
  for (const b of document.querySelectorAll("[data-count]")) b.textContent = c[b.dataset.count];
}
async function loadRequeue(view) {
  st.view = view;
  for (const a of document.querySelectorAll(".subtabs a")) a.toggleAttribute("aria-current", a.dataset.view === view);
  try {
    const page = await api("GET", `/v1/console/requeue?view=${view}`);
    $("requeue-error").hidden = true;
    $("requeue-list").replaceChildren(...page.items.map((it) => {
      const li = el("li", "session-row"); li.dataset.itemId = it.id; li.dataset.status = it.status;
      const a = el("a", null); a.href = `#/requeue/item/${it.id}`;
      a.append(el("b", null, `${it.action} ${it.resource}`), el("span", "badge", it.status),
        el("small", "muted", `${it.age} old · ${it.tenant_id} · ${it.blocked_by.join("; ")}`));
      li.append(a); return li;
    }));
  } catch (err) { $("requeue-error").textContent = err.message; $("requeue-error").hidden = false; }
}
async function openItem(id) {
  const d = await api("GET", `/v1/console/requeue/${encodeURIComponent(id)}`);
  const it = d.item; st.item = it.id;
  $("item-empty").hidden = true; $("item").hidden = false;
  $("item-title").textContent = `${it.action} ${it.resource} — ${it.status}`;
  fieldsInto($("item-fields"), [["id", it.id], ["tenant", it.tenant_id], ["age", it.age],
    ["blocked by", it.blocked_by.join("; ") || "-"], ["policy version", it.policy_version || "-"],
    ["constitution hash", it.constitution_hash || "-"], ["resolved by", it.resolved_by || "-"],
    ["resolution", it.resolution_reason || "-"], ["session", it.session_link]]);
  const link = el("a", "deeplink", "open session"); link.href = it.session_link; $("item-fields").append(link);
  $("resolve").hidden = it.status !== "pending"; $("reason").value = ""; $("resolve-error").textContent = "";
  toggleResolve();
  $("chain").textContent = d.chain_ok ? "hash chain intact ✓" : `hash chain broken: ${d.chain_problem}`;
  $("chain").dataset.ok = d.chain_ok ? "1" : "0";
  $("audit").replaceChildren(...d.audit.map((r) => el("li", null,
    `#${r.seq} ${new Date(r.at).toLocaleString()} · ${r.actor} · ${r.action} · “${r.reason}” · ${r.hash.slice(0, 12)}… ${r.hash_ok && r.link_ok ? "✓" : "✗"}`)));
}
function toggleResolve() { for (const b of $("resolve").querySelectorAll("button")) b.disabled = !$("reason").value.trim(); }
async function resolve(ev) {
  ev.preventDefault();
  const decision = ev.submitter && ev.submitter.dataset.decision; const reason = $("reason").value.trim();
  if (!decision || !reason) return;
  try {
    await api("POST", `/v1/policy/requeue/${encodeURIComponent(st.item)}/resolve`, { decision, reason });
    await openItem(st.item); await loadCounts(); await loadRequeue(st.view);
  } catch (err) { $("resolve-error").textContent = err.message; }
}

// ---- routing: #/sessions, #/session/<id>[/turn/<id>], #/requeue[/<view>|/item/<id>] ----
async function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const requeue = parts[0] === "requeue";
  $("view-sessions").hidden = requeue; $("view-requeue").hidden = !requeue;
  $("tab-sessions").toggleAttribute("aria-current", !requeue); $("tab-requeue").toggleAttribute("aria-current", requeue);
  if (requeue) {
    if (parts[1] === "item") { await openItem(parts[2]); if (!$("requeue-list").children.length) await loadRequeue(st.view); return; }
    await loadRequeue(parts[1] || "pending"); return;
  }
  if (parts[0] === "session" && parts[1]) await openSession(parts[1], parts[2] === "turn" ? parts[3] : null);
}

function signOut(message) {
  localStorage.removeItem(KEY); st.key = null; closeStream(); clearInterval(st.timer);
  $("console").hidden = true; $("signin").hidden = false; $("signin-error").textContent = message || "";
}
async function start() {
  if (!st.key) { $("signin").hidden = false; return; }
  $("signin").hidden = true; $("console").hidden = false;
  await loadSessions(false);
  clearInterval(st.timer);
  // the dashboard is for the tenant's admins: a key that is refused (403) does not show it
  const poll = () => loadCounts().then(() => { $("tab-requeue").hidden = false; })
    .catch((err) => { if (err.status === 403) $("tab-requeue").hidden = true; });
  poll(); st.timer = setInterval(() => { poll(); if (!$("view-requeue").hidden) loadRequeue(st.view); }, POLL_MS);
  await route();
}
$("signin-form").onsubmit = async (ev) => {
  ev.preventDefault(); st.key = $("key-input").value.trim(); localStorage.setItem(KEY, st.key);
  $("signin-error").textContent = ""; await start().catch((e) => console.warn(e));
};
$("signout").onclick = () => signOut();
$("filters").onsubmit = (ev) => { ev.preventDefault(); loadSessions(false).catch((e) => alert(e.message)); };
$("more-sessions").onclick = () => loadSessions(true).catch((e) => alert(e.message));
$("more-timeline").onclick = async () => {
  const page = await api("GET", `/v1/console/sessions/${encodeURIComponent(st.sid)}/timeline?after=${st.next}&limit=200`);
  addPage(page);
};
$("reason").oninput = toggleResolve;
$("resolve").onsubmit = resolve;
window.addEventListener("hashchange", () => { if (st.key) route().catch((e) => console.warn(e)); });
start().catch((e) => console.warn(e));
