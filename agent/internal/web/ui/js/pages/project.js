// Project detail: state and actions, live logs (follow, level filter, older pages), run
// settings, and the models it uses.
import * as api from '../api.js';
import { h, replace, errorBox, fmtBytes, fmtTime } from '../dom.js';
import { stateBadge, installProgress, failureBox, isInstalling, projectActions } from './common.js';

// Log lines per page; ?log_page_size=N in the address changes it.
const PER_PAGE = Math.min(1000, Math.max(1, Number(new URLSearchParams(location.search).get('log_page_size')) || 100));

export async function render(view, scope, [id]) {
  const enc = encodeURIComponent(id);
  const head = h('div');
  const err = h('div');
  view.append(h('p', {}, h('a', { href: '#/projects' }, '← Projects')), head, err);

  async function drawHead() {
    try {
      const p = await api.get('/api/projects/' + enc);
      const st = p.state || {};
      replace(head,
        h('div', { class: 'spread' }, h('h1', {}, st.name || p.id), stateBadge(st.state || 'unknown')),
        projectActions(p, { errTarget: err, onDone: (a) => (a === 'delete' ? (location.hash = '#/projects') : drawHead()) }),
        isInstalling(st.state) ? installProgress(st.progress) : null,
        st.state === 'failed' ? failureBox(st) : null,
        settingsPanel(p));
    } catch (e) {
      replace(head, errorBox(e));
    }
  }
  await drawHead();
  scope.subscribe('project', { project_id: id });
  scope.on('progress_update', (d) => {
    if (d.project_id !== id) return;
    const bar = head.querySelector('.install-progress');
    if (bar && isInstalling(d.progress.stage)) bar.replaceWith(installProgress(d.progress));
    else drawHead();
  });

  view.append(logsPanel(id, scope)); // attached first, so follow can scroll it
  view.append(await modelsPanel(id));
}

function settingsPanel(p) {
  const st = p.state || {};
  const gpu = st.gpu && Object.keys(st.gpu).length ? JSON.stringify(st.gpu) : 'agent chooses';
  return h('section', { class: 'panel', 'aria-labelledby': 'settings-h' },
    h('h2', { id: 'settings-h' }, 'Settings'),
    h('dl', { class: 'kv' },
      h('dt', {}, 'Id'), h('dd', { class: 'mono' }, p.id),
      h('dt', {}, 'Port'), h('dd', {}, p.port ?? 'leased at start'),
      h('dt', {}, 'GPU'), h('dd', { class: 'mono' }, gpu),
      h('dt', {}, 'Restart'), h('dd', {}, st.restart || '–'),
      h('dt', {}, 'Launch args'), h('dd', { class: 'mono' }, (st.launch_args || []).join(' ') || '–'),
      h('dt', {}, 'Folder'), h('dd', { class: 'mono' }, p.project_folder_path || '–'),
      st.install_op ? [h('dt', {}, 'Install operation'), h('dd', { class: 'mono' }, st.install_op)] : null,
      h('dt', {}, 'Proxy URL'), h('dd', { class: 'mono' }, p.url)));
}

function logsPanel(id, scope) {
  const box = h('div', { class: 'logs', id: 'logs', role: 'log', 'aria-live': 'off', tabindex: 0, 'aria-label': 'Project log' });
  const err = h('div');
  const level = h('select', { id: 'log-level', 'aria-label': 'Level' },
    h('option', { value: '' }, 'All levels'), h('option', { value: 'info' }, 'Info'),
    h('option', { value: 'warning' }, 'Warnings'), h('option', { value: 'error' }, 'Errors'));
  const follow = h('input', { type: 'checkbox', id: 'log-follow', checked: true });
  const older = h('button', { type: 'button', id: 'log-older' }, 'Load older');
  const seen = new Set();
  let oldestPage = 1;
  let newest = 0; // time of the newest line shown: older live lines belong to older pages
  let pending = null; // live lines that arrive while a page loads

  const key = (e) => e.timestamp + '|' + e.level + '|' + e.message;
  const line = (e) => h('div', { class: 'log ' + e.level },
    h('span', { class: 't' }, fmtTime(e.timestamp)), ' ', h('span', { class: 'l' }, e.level.toUpperCase()), ' ', e.message);
  const wanted = (e) => !level.value || e.level === level.value;

  async function load() {
    delete box.dataset.loaded;
    replace(box);
    seen.clear();
    newest = 0;
    pending = [];
    const q = (page) => `/api/logs/${encodeURIComponent(id)}?per_page=${PER_PAGE}&page=${page}${level.value ? '&level=' + level.value : ''}`;
    try {
      const first = await api.get(q(1));
      const pages = Math.max(1, first.pagination.pages);
      const last = pages === 1 ? first : await api.get(q(pages));
      oldestPage = pages;
      for (const e of last.logs) add(e, false);
      const live = pending;
      pending = null;
      for (const e of live) add(e, false);
      older.disabled = oldestPage <= 1;
      older.onclick = async () => {
        try {
          const r = await api.get(q(--oldestPage));
          const anchor = box.firstChild;
          const hBefore = box.scrollHeight;
          for (const e of r.logs) if (!seen.has(key(e))) { seen.add(key(e)); box.insertBefore(line(e), anchor); }
          box.scrollTop += box.scrollHeight - hBefore;
          older.disabled = oldestPage <= 1;
        } catch (e) { replace(err, errorBox(e)); }
      };
      replace(err);
      scroll();
      box.dataset.loaded = level.value || 'all';
    } catch (e) {
      pending = null;
      replace(err, errorBox(e));
    }
  }
  function add(e, live) {
    if (pending && live) { pending.push(e); return; }
    const at = Date.parse(e.timestamp) || 0;
    if (!wanted(e) || seen.has(key(e)) || at < newest) return;
    seen.add(key(e));
    newest = at;
    box.append(line(e));
    if (live) scroll();
  }
  function scroll() { if (follow.checked) box.scrollTop = box.scrollHeight; }

  level.addEventListener('change', load);
  scope.subscribe('logs', { project_id: id });
  scope.on('log_entry', (d) => { if (d.project_id === id && d.log) add(d.log, true); });
  load();
  return h('section', { class: 'panel', 'aria-labelledby': 'logs-h' },
    h('div', { class: 'spread' }, h('h2', { id: 'logs-h' }, 'Logs'),
      h('div', { class: 'row' }, level, h('label', { class: 'row', for: 'log-follow' }, follow, 'Follow'), older)),
    err, box);
}

async function modelsPanel(id) {
  const sec = h('section', { class: 'panel', 'aria-labelledby': 'pm-h' }, h('h2', { id: 'pm-h' }, 'Models'));
  try {
    const r = await api.get('/api/models');
    const mine = (r.models || []).filter((m) => (m.used_by_projects || []).includes(id));
    sec.append(mine.length
      ? h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'File'), h('th', {}, 'Type'), h('th', {}, 'Size'))),
        h('tbody', {}, mine.map((m) => h('tr', {}, h('td', { class: 'mono' }, m.path), h('td', {}, m.type), h('td', {}, m.size_human || fmtBytes(m.size)))))))
      : h('p', { class: 'muted' }, 'This project uses no models from the shared store.'));
  } catch (e) {
    sec.append(errorBox(e));
  }
  return sec;
}
