// SomaAgent web client: sessions, messages, and answers streamed over a WebSocket that
// resumes from the last Kafka offset it saw (after a dropped connection or a reload).
const $ = (id) => document.getElementById(id);
const KEY = "soma.key";
const STATUS = {
  preprocessing: ["busy", () => "Pre-processing…"],
  thinking: ["busy", () => "Thinking…"],
  streaming: ["busy", () => "Writing…"],
  calling_tool: ["busy", (p) => `Calling tool ${p.tool || ""}…`],
  tool_result: ["busy", (p) => `Tool ${p.tool || ""} answered`],
  waiting_for_policy: ["policy", (p) => p.message || "Waiting for policy approval…"],
  restarted: ["busy", () => "Restarting…"],
  completed: ["completed", completedLine],
  error: ["error", (p) => `Error: ${p.reason || p.message || "the turn failed"}`],
};

const st = { key: localStorage.getItem(KEY), sid: null, ws: null, last: null, turns: new Map(),
  done: new Set(), retry: 0, timer: null, ready: null };

function completedLine(p) {
  const parts = ["Completed"];
  const total = p.latencies && (p.latencies.total_s ?? p.latencies.latency_s);
  if (total != null) parts.push(`${Number(total).toFixed(1)} s`);
  if (p.usage && p.usage.completion_tokens != null) parts.push(`${p.usage.completion_tokens} tokens`);
  return parts.join(" · ");
}

async function api(method, path, body) {
  const res = await fetch(path, { method, headers: { Authorization: `Bearer ${st.key}`,
    "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = res.status === 204 ? null : await res.json();
  if (res.status === 401) { signOut(data.error.message); throw new Error(data.error.message); }
  if (!res.ok) throw new Error(data.error ? data.error.message : res.statusText);
  return data;
}

// ---- storage of what a reload needs: resume offset and messages not yet answered ----
const store = (sid) => JSON.parse(sessionStorage.getItem(`soma.s.${sid}`) || '{"pending":{}}');
function save(mut) {
  if (!st.sid) return;
  const s = store(st.sid); mut(s); sessionStorage.setItem(`soma.s.${st.sid}`, JSON.stringify(s));
}

// ---- rendering ----
function bubble(role, text) {
  const li = document.createElement("li"); li.className = `msg ${role}`;
  const who = document.createElement("span"); who.className = "who";
  who.textContent = role === "user" ? "You" : "SomaAgent";
  const body = document.createElement("div"); body.className = "body"; body.textContent = text || "";
  li.append(who, body); $("transcript").append(li); $("empty").hidden = true;
  return li;
}
function setStatus(turn, kind, text) {
  turn.status.dataset.kind = kind; turn.status.textContent = text;
}
function turnFor(corr, userText) {
  let t = st.turns.get(corr);
  if (t) return t;
  const pending = userText ?? store(st.sid).pending[corr];
  if (pending) bubble("user", pending);
  const li = bubble("assistant", ""); li.dataset.correlationId = corr;
  const status = document.createElement("div"); status.className = "status"; li.append(status);
  t = { li, body: li.querySelector(".body"), status, attempt: 1, parts: new Map(), ended: false };
  st.turns.set(corr, t);
  return t;
}
function scrollDown() { const el = $("transcript"); el.scrollTop = el.scrollHeight; }
function showProfile(name) { if (name) { $("profile").textContent = name; $("profile").hidden = false; } }

function renderHistoryTurn(p) {
  bubble("user", p.user_message);
  const li = bubble("assistant", p.assistant_message || p.error || "");
  const status = document.createElement("div"); status.className = "status"; li.append(status);
  status.dataset.kind = p.status === "error" ? "error" : "completed";
  status.textContent = p.status === "error" ? `Error: ${p.error || ""}` : completedLine(
    { usage: p.usage, latencies: { total_s: p.latency_s } });
  st.done.add(p.correlation_id); showProfile(p.model_profile);
}

function onStreamEvent(offset, env) {
  st.last = Math.max(st.last ?? -1, offset);
  const p = env.payload || {};
  if (env.type !== "conversation.stream" || !p.correlation_id || st.done.has(p.correlation_id)) {
    save((s) => { s.after = st.last; }); return;
  }
  const t = turnFor(p.correlation_id);
  if (t.ended) return;
  const attempt = p.attempt || 1;
  if (attempt > t.attempt || p.status === "restarted") { t.attempt = attempt; t.parts.clear(); t.body.textContent = ""; }
  if (p.status === "streaming" && p.delta != null) {
    t.parts.set(p.seq, p.delta);
    t.body.textContent = [...t.parts.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]).join("");
  }
  if (p.status === "completed" && p.text != null) t.body.textContent = p.text;
  const [kind, line] = STATUS[p.status] || ["busy", () => p.status];
  setStatus(t, kind, line(p)); showProfile(p.model_profile);
  if (p.status === "completed" || p.status === "error") {
    t.ended = true;
    save((s) => { delete s.pending[p.correlation_id]; });
  }
  save((s) => { s.after = st.last; if (!t.ended && s.turnStart == null) s.turnStart = offset - 1;
    if (Object.keys(s.pending).length === 0 && [...st.turns.values()].every((x) => x.ended)) s.turnStart = null; });
  scrollDown();
}

// ---- the WebSocket, with transparent reconnect ----
function setConn(state, label) { $("conn").dataset.state = state; $("conn").querySelector("b").textContent = label; }
function connect(sid, after) {
  clearTimeout(st.timer);
  if (st.ws) { st.ws.onclose = null; st.ws.close(); }
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const q = new URLSearchParams(); if (after != null) q.set("after", after);
  const ws = new WebSocket(`${proto}://${location.host}/v1/sessions/${encodeURIComponent(sid)}/stream?${q}`);
  st.ws = ws; setConn("connecting", "connecting");
  // The key goes in the first message, not the URL, so it never lands in access logs.
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", key: st.key }));
  st.ready = new Promise((resolve) => {
    ws.onmessage = (m) => {
      const f = JSON.parse(m.data);
      if (f.type === "ready") { st.retry = 0; if (st.last == null) st.last = f.after; save((s) => { s.after ??= f.after; });
        setConn("live", "live"); $("send").disabled = false; resolve(); return; }
      if (f.type === "event") onStreamEvent(f.offset, f.event);
    };
  });
  ws.onclose = (e) => {
    setConn("idle", "reconnecting"); $("send").disabled = true;
    if (e.code === 4401) { signOut("The API key was refused."); return; }
    if (e.code === 4404 || st.sid !== sid) return;
    const delay = Math.min(5000, 250 * 2 ** st.retry++);
    st.timer = setTimeout(() => connect(sid, st.last), delay);
  };
}

// ---- sessions ----
async function loadSessions() {
  const page = await api("GET", "/v1/sessions?limit=50");
  const nav = $("sessions"); nav.replaceChildren();
  for (const s of page.sessions) {
    const b = document.createElement("button"); b.dataset.sessionId = s.session_id;
    b.textContent = s.title || "Untitled chat";
    const when = document.createElement("small"); when.textContent = new Date(s.updated_at).toLocaleString();
    b.append(when); b.onclick = () => openSession(s.session_id);
    if (s.session_id === st.sid) b.setAttribute("aria-current", "true");
    nav.append(b);
  }
}
async function openSession(sid) {
  st.sid = sid; st.turns.clear(); st.done.clear(); st.last = null; location.hash = sid ?? "";
  $("transcript").replaceChildren(); $("empty").hidden = false; $("profile").hidden = true;
  $("sidebar").classList.remove("open");
  for (const b of $("sessions").querySelectorAll("button")) {
    if (b.dataset.sessionId === sid) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current");
  }
  if (!sid) { if (st.ws) { st.ws.onclose = null; st.ws.close(); st.ws = null; } setConn("idle", "new chat"); $("send").disabled = false; return; }
  let after = 0;
  for (;;) {
    const page = await api("GET", `/v1/sessions/${encodeURIComponent(sid)}/events?limit=500&after=${after}`);
    for (const e of page.events) if (e.event.type === "conversation.turn.completed") renderHistoryTurn(e.event.payload);
    if (page.next_after == null) break; after = page.next_after;
  }
  const saved = store(sid);
  connect(sid, saved.turnStart ?? saved.after ?? null); scrollDown();
}

async function send(ev) {
  ev.preventDefault();
  const text = $("message").value.trim(); if (!text) return;
  $("send").disabled = true;
  try {
    if (!st.sid) {
      const s = await api("POST", "/v1/sessions", { title: text.slice(0, 60) });
      await openSession(s.session_id); await loadSessions();
    }
    await st.ready;
    const r = await api("POST", `/v1/sessions/${encodeURIComponent(st.sid)}/messages`, { text });
    save((s) => { s.pending[r.correlation_id] = text; s.turnStart ??= st.last; });
    const t = turnFor(r.correlation_id, text); setStatus(t, "busy", "Sent…");
    $("message").value = ""; scrollDown();
  } catch (err) { alert(err.message); } finally { $("send").disabled = !st.ws; }
}

// ---- sign in / out ----
function signOut(message) {
  localStorage.removeItem(KEY); st.key = null; if (st.ws) { st.ws.onclose = null; st.ws.close(); }
  $("app").hidden = true; $("signin").hidden = false; $("signin-error").textContent = message || "";
}
async function start() {
  if (!st.key) { $("signin").hidden = false; return; }
  $("signin").hidden = true; $("app").hidden = false;
  await loadSessions();
  await openSession(location.hash.slice(1) || null);
}
$("signin-form").onsubmit = async (ev) => {
  ev.preventDefault(); st.key = $("key-input").value.trim();
  localStorage.setItem(KEY, st.key); $("signin-error").textContent = "";
  try { await start(); } catch (err) { console.warn(err); }
};
$("signout").onclick = () => signOut();
$("menu").onclick = () => $("sidebar").classList.toggle("open");
$("new-session").onclick = () => openSession(null);
$("composer").onsubmit = send;
$("message").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); } });
start().catch((err) => console.warn(err));
