// GPUs: VRAM used, reserved and free per GPU, and the projects placed on each.
import * as api from '../api.js';
import { h, replace, errorBox, bar, fmtMB } from '../dom.js';

export async function render(view, scope) {
  const box = h('div');
  view.append(h('h1', {}, 'GPUs'), box);
  async function load() {
    try {
      const r = await api.get('/api/gpus');
      const gpus = r.gpus || [];
      replace(box,
        (r.warnings || []).map((w) => h('div', { class: 'alert info' }, w)),
        h('p', { class: 'small muted' }, `Provider: ${r.provider || 'none'}`),
        gpus.length ? h('div', { class: 'grid' }, gpus.map(card)) : h('p', { class: 'muted' }, 'No GPUs detected; projects run on the CPU.'),
        (r.cpu_projects || []).length ? h('p', {}, 'On the CPU: ' + r.cpu_projects.join(', ')) : null);
    } catch (e) {
      replace(box, errorBox(e));
    }
  }
  // Placement changes when projects start or stop.
  scope.subscribe('recovery', { operation_id: 'all' });
  scope.on('recovery_completed', load);
  await load();
}

function card(g) {
  const total = g.memory_total_mb || 0;
  const used = g.memory_used_mb || 0;
  const reservedExtra = Math.max(0, (g.reserved_mb || 0) - used);
  const free = g.memory_free_mb ?? Math.max(0, total - used);
  return h('article', { class: 'panel gpu', dataset: { uuid: g.uuid } },
    h('div', { class: 'spread' }, h('h3', {}, `GPU ${g.index}: ${g.name}`), g.unusable ? h('span', { class: 'badge bad' }, g.unusable) : null),
    bar([{ cls: 'used', value: used, label: 'used' }, { cls: 'reserved', value: reservedExtra, label: 'reserved, not yet used' }], total,
      `VRAM: ${fmtMB(used)} used, ${fmtMB(g.reserved_mb)} reserved, ${fmtMB(free)} free of ${fmtMB(total)}`),
    h('div', { class: 'legend' },
      h('span', {}, h('i', { class: 'used' }), 'used ' + fmtMB(used)),
      h('span', {}, h('i', { class: 'reserved' }), 'reserved ' + fmtMB(g.reserved_mb)),
      h('span', {}, h('i'), 'free ' + fmtMB(free)),
      h('span', {}, 'of ' + fmtMB(total))),
    h('dl', { class: 'kv' },
      h('dt', {}, 'Available'), h('dd', {}, g.available_mb === null ? 'not used for placement' : fmtMB(g.available_mb)),
      g.utilization_percent !== null ? [h('dt', {}, 'Utilization'), h('dd', {}, g.utilization_percent + '%')] : null,
      g.temperature_c !== null ? [h('dt', {}, 'Temperature'), h('dd', {}, g.temperature_c + ' °C')] : null),
    (g.projects || []).length
      ? h('ul', {}, g.projects.map((p) => h('li', {}, h('a', { href: '#/project/' + encodeURIComponent(p.project_id) }, p.project_id),
        ` – ${fmtMB(p.reserved_mb)} reserved${p.used_mb !== null ? ', ' + fmtMB(p.used_mb) + ' used' : ''}`)))
      : h('p', { class: 'small muted' }, 'No projects on this GPU.'));
}
