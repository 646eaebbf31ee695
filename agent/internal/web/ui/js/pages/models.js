// Models and storage: usage by type and by project as bar charts, the disk bar, and the model
// list with the projects using each file; delete refuses files in use unless forced.
import * as api from '../api.js';
import { h, replace, errorBox, toast, actionButton, bar, fmtBytes } from '../dom.js';

export async function render(view, scope) {
  const usage = h('div');
  const list = h('div');
  const err = h('div');
  view.append(h('h1', {}, 'Models and storage'), err, usage, list);

  async function load() {
    try {
      const [u, m] = await Promise.all([api.get('/api/storage/usage'), api.get('/api/models')]);
      replace(usage, usagePanel(u));
      replace(list, modelList(m, load, err));
    } catch (e) {
      replace(err, errorBox(e));
    }
  }
  // A finished download or install changes the store.
  scope.subscribe('recovery', { operation_id: 'all' });
  scope.on('recovery_completed', (u) => { if (u.success) load(); });
  await load();
}

function chart(id, title, entries) {
  const max = Math.max(1, ...entries.map(([, v]) => v.size));
  return h('div', { class: 'panel', id },
    h('h2', {}, title),
    entries.length
      ? h('div', { class: 'chart', role: 'list' }, entries.flatMap(([k, v]) => [
        h('span', { role: 'listitem', class: 'mono' }, k),
        bar([{ cls: 'used', value: v.size, label: v.human_readable }], max, `${k}: ${v.human_readable}`),
        h('span', { class: 'small' }, v.human_readable || fmtBytes(v.size))]))
      : h('p', { class: 'muted' }, 'Nothing stored yet.'));
}

function usagePanel(u) {
  const d = u.disk || {};
  const sorted = (o) => Object.entries(o || {}).filter(([, v]) => v.size > 0).sort((a, b) => b[1].size - a[1].size);
  return h('div', {},
    h('section', { class: 'panel', id: 'disk' },
      h('h2', {}, 'Disk'),
      bar([{ cls: 'used', value: d.used, label: 'used' }], d.total, `Disk ${Math.round(d.percent || 0)}% used`),
      h('div', { class: 'legend' }, h('span', {}, h('i', { class: 'used' }), `used ${d.used_human_readable || fmtBytes(d.used)}`),
        h('span', {}, h('i'), `free ${d.free_human_readable || fmtBytes(d.free)}`),
        h('span', {}, `of ${d.total_human_readable || fmtBytes(d.total)} (${(d.percent || 0).toFixed(1)}%)`),
        h('span', {}, `models: ${u.total_human_readable || fmtBytes(u.total_size)}`))),
    h('div', { class: 'grid' }, chart('by-type', 'By type', sorted(u.by_type)), chart('by-project', 'By project', sorted(u.by_project))));
}

function modelList(r, reload, err) {
  const models = r.models || [];
  const o = { errTarget: err };
  return h('section', { class: 'panel' },
    h('h2', {}, `Models (${r.total_count ?? models.length}, ${r.total_size_human || fmtBytes(r.total_size)})`),
    models.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'models' },
      h('thead', {}, h('tr', {}, h('th', {}, 'File'), h('th', {}, 'Type'), h('th', {}, 'Size'), h('th', {}, 'Used by'), h('th', {}, ''))),
      h('tbody', {}, models.map((m) => {
        const used = m.used_by_projects || [];
        const path = m.path.split('/').map(encodeURIComponent).join('/');
        const remove = async () => {
          try {
            await api.del('/api/models/' + path);
          } catch (e) {
            if (e.status !== 409 || !window.confirm(`${m.path} is used by ${(e.body.projects || used).join(', ')}. Delete it anyway?`)) throw e;
            await api.del('/api/models/' + path + '?force=true');
          }
          toast(`${m.path} deleted`);
          await reload();
        };
        return h('tr', { dataset: { path: m.path } },
          h('td', { class: 'mono' }, m.path), h('td', {}, m.type), h('td', {}, m.size_human || fmtBytes(m.size)),
          h('td', {}, used.length ? used.map((p) => h('a', { href: '#/project/' + encodeURIComponent(p), class: 'badge info' }, p)) : h('span', { class: 'muted' }, 'none')),
          h('td', {}, actionButton('Delete', remove, { ...o, class: 'danger', aria: 'Delete ' + m.path, confirm: used.length ? null : `Delete ${m.path}?` })));
      })))) : h('p', { class: 'muted' }, 'No models in the store.'));
}
