// Live events over /ws: JSON frames {"event", "data"}. Subscriptions are kept and sent again
// after a reconnect; the server sends the current state first on every subscribe.
import { auth } from './api.js';

const listeners = new Map(); // event name -> Set of fn
const subs = new Map(); // key -> {name, data, count}
let ws = null;
let backoff = 500;
let statusFn = () => {};

export function onStatus(fn) { statusFn = fn; }

export function connect() {
  if (ws) return;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = auth.token ? '?token=' + encodeURIComponent(auth.token) : '';
  const sock = new WebSocket(`${proto}//${location.host}/ws${q}`);
  ws = sock;
  sock.onopen = () => {
    backoff = 500;
    statusFn(true);
    for (const s of subs.values()) send(s.name, s.data);
  };
  sock.onmessage = (m) => {
    let f;
    try { f = JSON.parse(m.data); } catch { return; }
    for (const fn of listeners.get(f.event) || []) {
      try { fn(f.data, f.event); } catch (e) { console.error('event handler', f.event, e); }
    }
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    ws = null;
    statusFn(false);
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 8000);
  };
}

export function reconnect() {
  const old = ws;
  ws = null;
  if (old) { old.onclose = null; old.close(); }
  connect();
}

function send(event, data) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ event, data }));
}

/** on listens for an event; it returns the function that stops listening. */
export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, new Set());
  listeners.get(event).add(fn);
  return () => listeners.get(event).delete(fn);
}

/** subscribe sends subscribe_<kind> (reference counted); it returns the unsubscribe function. */
export function subscribe(kind, data) {
  const key = kind + ':' + JSON.stringify(data);
  let s = subs.get(key);
  if (s) s.count++;
  else {
    s = { name: 'subscribe_' + kind, data, count: 1 };
    subs.set(key, s);
    send(s.name, data);
  }
  return () => {
    if (--s.count > 0) return;
    subs.delete(key);
    send('unsubscribe_' + kind, data);
  };
}

/** Scope collects listeners and subscriptions of one page, released together. */
export class Scope {
  constructor() { this.offs = []; }
  on(event, fn) { this.offs.push(on(event, fn)); }
  subscribe(kind, data) { this.offs.push(subscribe(kind, data)); }
  add(fn) { this.offs.push(fn); }
  dispose() { this.offs.splice(0).forEach((f) => f()); }
}
