// Operations: running and failed operations with attempts and errors, retry and cancel; the
// circuit breakers with their state and time left.
import * as api from '../api.js';
import { h, replace, errorBox, toast, actionButton, fmtTime, fmtDuration } from '../dom.js';

const ACTIVE = ['pending', 'in_progress', 'recovering'];
const FAILED = ['failed', 'exhausted'];

export async function render(view, scope) {
  const err = h('div');
  const ops = h('div');
  const brk = h('div');
  view.append(h('h1', {}, 'Operations'), err, ops, brk);
  const breakers = new Map();

  async function load() {
    try {
      const [o, b] = await Promise.all([api.get('/api/recovery/operations?state=' + [...ACTIVE, ...FAILED].join(',')), api.get('/api/recovery/breakers')]);
      replace(ops, opsTable(o.operations || [], load, err));
      breakers.clear();
      for (const x of b.circuit_breakers || []) breakers.set(x.operation_type + '|' + x.target, { ...x, at: Date.now() });
      drawBreakers();
      replace(err);
    } catch (e) {
      replace(err, errorBox(e));
    }
  }
  function drawBreakers() {
    const list = [...breakers.values()];
    replace(brk, h('section', { class: 'panel' }, h('h2', {}, 'Circuit breakers'),
      list.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'breakers' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Operation'), h('th', {}, 'Target'), h('th', {}, 'State'), h('th', {}, 'Failures'), h('th', {}, 'Time left'))),
        h('tbody', {}, list.map((x) => {
          const left = Math.max(0, (x.timeout_remaining || 0) - (Date.now() - x.at) / 1000);
          const st = String(x.state).toLowerCase();
          return h('tr', {}, h('td', {}, x.operation_type), h('td', { class: 'mono' }, x.target || '–'),
            h('td', {}, h('span', { class: 'badge ' + (st === 'closed' ? 'ok' : st === 'open' ? 'bad' : 'warn') }, x.state)),
            h('td', {}, `${x.consecutive_failures ?? 0} in a row / threshold ${x.threshold ?? '?'}`),
            h('td', {}, st === 'open' ? fmtDuration(left) : '–'));
        })))) : h('p', { class: 'muted' }, 'No circuit breaker has seen a call yet.')));
  }

  scope.subscribe('recovery', { operation_id: 'all' });
  scope.on('circuit_breaker_update', (x) => { breakers.set(x.operation_type + '|' + x.target, { ...x, at: Date.now() }); drawBreakers(); });
  scope.on('recovery_update', (u) => {
    const row = ops.querySelector(`tr[data-id="${CSS.escape(u.operation_id)}"]`);
    if (!row || row.dataset.state !== u.state) load();
  });
  scope.on('recovery_completed', load);
  await load();
}

function opsTable(list, reload, err) {
  const o = { errTarget: err };
  const act = (id, a) => async () => {
    await api.post(`/api/recovery/operations/${encodeURIComponent(id)}/${a}`, a === 'retry' ? { force: false } : {});
    toast(`Operation ${a === 'retry' ? 'retried' : 'cancelled'}`);
    await reload();
  };
  return h('section', { class: 'panel' }, h('h2', {}, `Running and failed (${list.length})`),
    list.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'operations' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Operation'), h('th', {}, 'State'), h('th', {}, 'Attempts'), h('th', {}, 'Error'), h('th', { class: 'opt' }, 'Updated'), h('th', {}, ''))),
      h('tbody', {}, list.map((op) => h('tr', { dataset: { id: op.operation_id, state: op.state } },
        h('td', {}, h('div', {}, op.function_name), h('div', { class: 'small muted mono' }, op.operation_id),
          op.metadata && op.metadata.project_id ? h('a', { class: 'small', href: '#/project/' + encodeURIComponent(op.metadata.project_id) }, op.metadata.project_id) : null),
        h('td', {}, h('span', { class: 'badge ' + (ACTIVE.includes(op.state) ? 'info' : 'bad') }, op.state),
          op.next_attempt_at ? h('div', { class: 'small muted' }, 'next try ' + fmtTime(op.next_attempt_at)) : null),
        h('td', {}, `${op.attempt}/${op.max_attempts}` + (op.total_attempts ? ` (${op.total_attempts} total)` : '')),
        h('td', {}, op.error ? h('div', {}, op.error, op.error_class ? h('span', { class: 'small muted' }, ` (${op.error_class})`) : null,
          (op.suggestions || []).length ? h('ul', { class: 'small' }, op.suggestions.map((s) => h('li', {}, s))) : null) : '–'),
        h('td', { class: 'opt small' }, fmtTime(op.updated_at)),
        h('td', {}, h('div', { class: 'row' },
          FAILED.includes(op.state) ? actionButton('Retry', act(op.operation_id, 'retry'), { ...o, class: 'primary' }) : null,
          ACTIVE.includes(op.state) ? actionButton('Cancel', act(op.operation_id, 'cancel'), { ...o, class: 'danger', confirm: 'Cancel this operation?' }) : null))))))) : h('p', { class: 'muted' }, 'Nothing running, nothing failed.'));
}
