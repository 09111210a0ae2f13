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
  done: new Set(), retry: 0, timer: null, ready: null, files: [] };

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
// ---- tool cards: what each tool call did, shown before the answer ----
// Live cards come from the worker (StreamUpdate.card); on reload the same card is built from
// the stored turn's tool_calls/tool_results by cardFrom, which mirrors domain/tool_card.py.
const CARD_ICON = { ok: ["ok", "✓"], denied: ["warn", "⚠"], invalid: ["warn", "⚠"] };
const clip = (s, n) => (s.length <= n ? s : `${s.slice(0, n - 1).trimEnd()}…`);
function argsSummary(args) {
  for (const k of ["code", "query", "url", "content"]) {
    if (typeof args[k] === "string" && args[k].trim()) return clip(args[k].trim(), 200);
  }
  return Object.keys(args).length ? clip(JSON.stringify(args), 200) : "";
}
function dataText(tool, data) {
  if (!data) return "";
  if (tool === "web_search") return (data.results || []).map((h) => `${h.title || h.url} — ${h.url}`).join("\n") || "no results";
  if (tool === "memory_load") return (data.memories || []).map((m) => `• ${m.content}`).join("\n") || "nothing remembered";
  if (tool === "memory_save" && data.operation && data.operation.content) return `saved: ${data.operation.content}`;
  return "";
}
function outputText(r) {
  if (r.status !== "ok") return r.reason || (r.stderr || "").replace(/\n+$/, "").split("\n").slice(-8).join("\n") || r.stdout || "";
  return dataText(r.tool, r.data) || ((r.stdout || "").trim() ? r.stdout : r.stderr || "");
}
function cardFrom(call, r) {
  const lines = outputText(r).replace(/^\n+|\n+$/g, "").split("\n");
  const head = lines.slice(0, 8).join("\n"); const output = clip(head, 600);
  return { request_id: r.request_id, tool: r.tool, status: r.status, exit_code: r.exit_code, duration_s: r.duration_s || 0,
    arguments: argsSummary((call && call.arguments) || {}), output,
    truncated: Boolean(r.truncated) || lines.length > 8 || output !== head,
    attachments: (r.attachments || []).map((a) => ({ ...a, url: `/v1/attachments/${a.attachment_id}` })) };
}
function fileSize(n) { return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`; }
async function download(a) {
  const res = await fetch(a.url, { headers: { Authorization: `Bearer ${st.key}` } });
  if (!res.ok) { alert(`Download failed: ${res.status}`); return; }
  const link = document.createElement("a"); link.href = URL.createObjectURL(await res.blob());
  link.download = a.name; link.click(); setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
function el(tag, cls, text) {
  const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e;
}
function cardEl(card) {
  const [kind, icon] = CARD_ICON[card.status] || ["bad", "✗"];
  const box = el("details", "toolcard"); box.open = true; box.dataset.status = card.status; box.dataset.kind = kind;
  const head = el("summary", "tc-head");
  const exit = card.exit_code != null && card.exit_code !== 0 ? ` (exit ${card.exit_code})` : "";
  const secs = Number(card.duration_s || 0);
  head.append(el("span", "tc-icon", icon), el("b", "tc-tool", card.tool), el("span", "tc-status", card.status + exit),
    el("span", "tc-time", `${secs < 10 ? secs.toFixed(2) : secs.toFixed(1)} s`));
  box.append(head);
  if (card.arguments) box.append(el("pre", "tc-args", card.arguments));
  if (card.output) box.append(el("pre", "tc-out", card.output + (card.truncated ? "\n…" : "")));
  else if (card.truncated) box.append(el("pre", "tc-out", "…"));
  if (card.attachments && card.attachments.length) {
    const files = el("div", "tc-files");
    for (const a of card.attachments) {
      const link = el("a", "tc-file", `⤓ ${a.name}`); link.href = a.url; link.title = `${a.media_type}, ${fileSize(a.size)}`;
      link.onclick = (e) => { e.preventDefault(); download(a).catch((err) => alert(err.message)); };
      files.append(link, el("small", "muted", fileSize(a.size)));
    }
    box.append(files);
  }
  return box;
}
function cardsOf(li) {
  let box = li.querySelector(".cards");
  if (!box) { box = el("div", "cards"); li.querySelector(".body").before(box); }
  return box;
}

function setStatus(turn, kind, text) {
  turn.status.dataset.kind = kind; turn.status.textContent = text;
}
// `mine` is the user's bubble, shown when it was sent; the stream may have begun the turn
// before the POST answered, so it is moved in front of the answer either way.
function turnFor(corr, mine) {
  let t = st.turns.get(corr);
  if (t) { if (mine) t.li.before(mine); return t; }
  const pending = mine ? null : store(st.sid).pending[corr];
  if (pending) bubble("user", pending);
  const li = bubble("assistant", ""); li.dataset.correlationId = corr;
  const status = document.createElement("div"); status.className = "status"; li.append(status);
  t = { li, body: li.querySelector(".body"), status, attempt: 1, parts: new Map(), cards: new Set(), ended: false };
  st.turns.set(corr, t);
  return t;
}
function scrollDown() { const el = $("transcript"); el.scrollTop = el.scrollHeight; }
function showProfile(name) { if (name) { $("profile").textContent = name; $("profile").hidden = false; } }

function renderHistoryTurn(p) {
  bubble("user", p.user_message);
  const li = bubble("assistant", p.assistant_message || p.error || "");
  const calls = new Map((p.tool_calls || []).map((c) => [c.request_id, c]));
  for (const r of p.tool_results || []) cardsOf(li).append(cardEl(cardFrom(calls.get(r.request_id), r)));
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
  // A card stays across restarts (its tool ran once); a restarted attempt re-sends the same card.
  const cardKey = p.status === "tool_result" && p.card ? p.card.request_id : null;
  if (cardKey && !t.cards.has(cardKey)) { t.cards.add(cardKey); cardsOf(t.li).append(cardEl(p.card)); }
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
  st.files = []; showFiles();
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

// ---- files: uploaded to the session, named by the next message (document_query reads them) ----
function showFiles() {
  const list = $("files"); list.replaceChildren(...st.files.map((a) => el("li", null, `📎 ${a.name}`)));
  list.hidden = st.files.length === 0;
}
async function ensureSession(title) {
  if (st.sid) return;
  const s = await api("POST", "/v1/sessions", { title: title.slice(0, 60) });
  await openSession(s.session_id); loadSessions().catch((err) => console.warn(err));
}
async function attachFile(file) {
  await ensureSession(file.name);
  const res = await fetch(`/v1/sessions/${encodeURIComponent(st.sid)}/attachments?name=${encodeURIComponent(file.name)}`,
    { method: "POST", headers: { Authorization: `Bearer ${st.key}`, "Content-Type": file.type || "text/plain" }, body: file });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error ? data.error.message : res.statusText);
  st.files.push(data); showFiles();
}
async function attachAll(files) {
  try { for (const f of files) await attachFile(f); } catch (err) { alert(err.message); }
}

async function send(ev) {
  ev.preventDefault();
  const text = $("message").value.trim(); if (!text) return;
  $("send").disabled = true;
  const mine = bubble("user", text); scrollDown(); // shown the moment it is sent
  const files = st.files;
  if (files.length) mine.append(el("small", "attached", files.map((a) => `📎 ${a.name}`).join("  ")));
  try {
    if (!st.sid) { await ensureSession(text); $("transcript").append(mine); $("empty").hidden = true; }
    await st.ready;
    const r = await api("POST", `/v1/sessions/${encodeURIComponent(st.sid)}/messages`,
      { text, attachments: files.map((a) => a.attachment_id) });
    st.files = []; showFiles();
    save((s) => { s.pending[r.correlation_id] = text; s.turnStart ??= st.last; });
    const t = turnFor(r.correlation_id, mine);
    if (!t.ended && !t.status.textContent) setStatus(t, "busy", "Sent…");
    $("message").value = ""; scrollDown();
  } catch (err) { mine.remove(); alert(err.message); } finally { $("send").disabled = !st.ws; }
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
$("attach").onclick = () => $("file").click();
$("file").onchange = async () => { await attachAll([...$("file").files]); $("file").value = ""; };
$("composer").addEventListener("dragover", (e) => { e.preventDefault(); $("composer").classList.add("dropping"); });
$("composer").addEventListener("dragleave", () => $("composer").classList.remove("dropping"));
$("composer").addEventListener("drop", (e) => {
  e.preventDefault(); $("composer").classList.remove("dropping"); attachAll([...e.dataTransfer.files]);
});
$("message").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); } });
start().catch((err) => console.warn(err));
