// The agent's REST API: the token kept for this browser session, and errors in the
// {"error","type","suggestions"} envelope turned into ApiError.

const KEY = 'launcher_token';

export const auth = {
  get token() { return sessionStorage.getItem(KEY) || ''; },
  set(token) { token ? sessionStorage.setItem(KEY, token) : sessionStorage.removeItem(KEY); },
};

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.type = (body && body.type) || '';
    this.suggestions = (body && body.suggestions) || [];
    this.body = body || {};
  }
}

function headers(extra) {
  const hd = Object.assign({}, extra);
  if (auth.token) hd.Authorization = 'Bearer ' + auth.token;
  return hd;
}

/** request calls the API and returns the decoded JSON; a 401 also fires "auth-required". */
export async function request(method, path, body) {
  const init = { method, headers: headers(body !== undefined ? { 'Content-Type': 'application/json' } : {}) };
  if (body !== undefined) init.body = JSON.stringify(body);
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { error: 'the agent is unreachable: ' + e.message, type: 'NetworkError',
      suggestions: ['Check that the agent is running and reachable from this browser'] });
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text.slice(0, 300) }; }
  if (!resp.ok) {
    if (resp.status === 401) window.dispatchEvent(new CustomEvent('auth-required'));
    throw new ApiError(resp.status, data);
  }
  return data;
}

export const get = (p) => request('GET', p);
export const post = (p, body) => request('POST', p, body === undefined ? {} : body);
export const del = (p) => request('DELETE', p);

/** comfyCookie presents the token once under /comfy/ so the agent sets its session cookie there
 * and ComfyUI pages opened in a new tab can load their scripts and WebSocket. */
export async function comfyCookie() {
  if (!auth.token) return;
  try { await fetch('/comfy/', { headers: headers(), credentials: 'same-origin' }); } catch { /* offline: the next call reports it */ }
}
