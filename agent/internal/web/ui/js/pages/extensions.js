// Extensions: each extension's state, capabilities, call statistics and last error, from
// GET /api/extensions; an agent without an extension system says so.
import * as api from '../api.js';
import { h, replace, errorBox, fmtTime } from '../dom.js';

export async function render(view) {
  const box = h('div', { id: 'extensions' });
  view.append(h('h1', {}, 'Extensions'), box);
  let r;
  try {
    r = await api.get('/api/extensions');
  } catch (e) {
    if (e.status === 404) {
      replace(box, h('div', { class: 'panel' }, h('p', {}, 'This agent has no extension system.'),
        h('p', { class: 'small muted' }, 'Workflow parsers, model sources and recovery strategies are built in.')));
      return;
    }
    replace(box, errorBox(e));
    return;
  }
  const list = Array.isArray(r) ? r : r.extensions || [];
  if (!list.length) {
    replace(box, h('p', { class: 'muted' }, 'No extensions are configured.'));
    return;
  }
  replace(box, h('div', { class: 'grid' }, list.map((x) => {
    const s = x.stats || {};
    const st = String(x.state || 'unknown');
    return h('article', { class: 'panel', dataset: { id: x.id } },
      h('div', { class: 'spread' }, h('h3', {}, x.id + (x.version ? ' ' + x.version : '')),
        h('span', { class: 'badge ' + (st === 'ready' || st === 'running' || st === 'loaded' ? 'ok' : st === 'failed' ? 'bad' : 'warn') }, st)),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Transport'), h('dd', {}, x.transport || '–'),
        h('dt', {}, 'Capabilities'), h('dd', {}, (x.capabilities || []).join(', ') || '–'),
        h('dt', {}, 'Calls'), h('dd', {}, `${s.calls ?? 0} calls, ${s.errors ?? 0} errors, ${s.timeouts ?? 0} timeouts`),
        h('dt', {}, 'Latency'), h('dd', {}, s.p50_ms !== undefined ? `p50 ${s.p50_ms.toFixed(1)} ms, p99 ${(s.p99_ms || 0).toFixed(1)} ms` : '–')),
      x.last_error ? h('div', { class: 'alert bad' }, h('strong', {}, 'Last error'), x.last_error_at ? ' (' + fmtTime(x.last_error_at) + ')' : '', h('div', { class: 'small' }, x.last_error)) : null);
  })));
}
