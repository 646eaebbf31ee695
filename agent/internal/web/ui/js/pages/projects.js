// Projects: every project with its state, port, GPU and VRAM, live install progress, actions,
// and the create form (template or ComfyUI ref).
import * as api from '../api.js';
import { h, replace, errorBox, toast, fmtMB } from '../dom.js';
import { stateBadge, installProgress, failureBox, isInstalling, projectActions } from './common.js';

export async function render(view, scope) {
  const list = h('div', { class: 'grid', id: 'project-list' });
  const listErr = h('div');
  view.append(
    h('div', { class: 'spread' }, h('h1', {}, 'Projects')),
    await createForm(() => refresh()),
    listErr, list);

  const cards = new Map(); // id -> {el, project}
  const seenOps = new Set(); // install operations of projects not listed yet
  let placement = {}; // project id -> {gpu, reserved_mb, used_mb}

  async function loadPlacement() {
    try {
      const g = await api.get('/api/gpus');
      placement = {};
      for (const gpu of g.gpus || []) {
        for (const p of gpu.projects || []) placement[p.project_id] = { gpu: `${gpu.index}: ${gpu.name}`, reserved_mb: p.reserved_mb, used_mb: p.used_mb };
      }
      for (const id of g.cpu_projects || []) placement[id] = { gpu: 'CPU' };
    } catch { placement = {}; }
  }

  async function refresh() {
    let ps;
    try {
      [ps] = await Promise.all([api.get('/api/projects'), loadPlacement()]);
    } catch (err) {
      replace(listErr, errorBox(err));
      return;
    }
    replace(listErr);
    const seen = new Set();
    for (const p of ps) {
      seen.add(p.id);
      if (!cards.has(p.id)) {
        const el = h('article', { class: 'panel project', dataset: { id: p.id } });
        cards.set(p.id, { el, project: p });
        scope.subscribe('project', { project_id: p.id });
      }
      const c = cards.get(p.id);
      c.project = p;
      drawCard(c);
    }
    for (const [id, c] of cards) if (!seen.has(id)) { c.el.remove(); cards.delete(id); }
    replace(list, ...[...cards.values()].map((c) => c.el));
    if (!ps.length) list.append(h('p', { class: 'muted' }, 'No projects yet. Create one above or import a workflow.'));
  }

  async function refreshOne(id) {
    const c = cards.get(id);
    if (!c) return refresh();
    try {
      const [p] = await Promise.all([api.get('/api/projects/' + encodeURIComponent(id)), loadPlacement()]);
      c.project = p;
      drawCard(c);
    } catch (err) {
      if (err.status === 404) { c.el.remove(); cards.delete(id); } else c.el.append(errorBox(err));
    }
  }

  function drawCard(c) {
    const p = c.project;
    const st = p.state || {};
    const state = st.state || 'unknown';
    const place = placement[p.id] || {};
    const errBox = h('div', { class: 'card-error' });
    const name = st.name || p.id;
    const actions = projectActions(p, { errTarget: errBox, onDone: (action) => (action === 'delete' ? refresh() : refreshOne(p.id)) });
    actions.append(h('a', { class: 'btn', href: '#/project/' + encodeURIComponent(p.id) }, 'Details'));
    c.el.dataset.state = state;
    replace(c.el,
      h('div', { class: 'spread' }, h('h3', {}, name), stateBadge(state)),
      h('div', { class: 'small muted' }, st.status_message || ''),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Port'), h('dd', {}, p.port ?? '–'),
        h('dt', {}, 'GPU'), h('dd', {}, place.gpu || (st.gpu && st.gpu.mode) || '–'),
        h('dt', {}, 'VRAM'), h('dd', {}, place.reserved_mb ? `${fmtMB(place.used_mb ?? 0)} used / ${fmtMB(place.reserved_mb)} reserved` : '–')),
      isInstalling(state) ? installProgress(st.progress) : null,
      state === 'failed' ? failureBox(st) : null,
      errBox, actions);
  }

  scope.on('progress_update', (d) => {
    const c = cards.get(d.project_id);
    if (!c) return;
    const pr = d.progress || {};
    const state = (c.project.state || {}).state;
    if (isInstalling(pr.stage) && isInstalling(state)) {
      // The common case, many times a second: update the bar in place.
      c.project.state.progress = pr;
      const bar = c.el.querySelector('.install-progress');
      if (bar && pr.stage === state) bar.replaceWith(installProgress(pr)); // keeps focus on the buttons
      else { c.project.state.state = pr.stage; drawCard(c); }
    } else if (pr.stage !== state || pr.stage === 'complete') {
      refreshOne(d.project_id);
    }
  });
  // A project another client creates shows up with its install operation.
  scope.subscribe('recovery', { operation_id: 'all' });
  scope.on('recovery_update', (d) => {
    if (d.function_name !== 'install_project') return;
    const known = [...cards.values()].some((c) => (c.project.state || {}).install_op === d.operation_id);
    if (!known && !seenOps.has(d.operation_id)) { seenOps.add(d.operation_id); refresh(); }
  });
  await refresh();
}

async function createForm(onCreated) {
  let templates = [{ id: 'empty', name: 'Empty' }];
  try { templates = (await api.get('/api/templates')).templates; } catch { /* older agent: empty only */ }
  const err = h('div');
  const name = h('input', { name: 'name', required: true, placeholder: 'my project', id: 'new-name' });
  const tpl = h('select', { name: 'template', id: 'new-template' },
    templates.map((t) => h('option', { value: t.id, title: t.description || '' }, t.name + (t.id !== 'empty' && t.name !== t.id ? ` (${t.id})` : ''))));
  const ref = h('input', { name: 'ref', placeholder: 'default branch', id: 'new-ref', title: 'A commit, tag or branch of ComfyUI' });
  const port = h('input', { name: 'port', type: 'number', min: 1024, max: 65535, placeholder: 'auto', id: 'new-port' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create');
  const form = h('form', {
    class: 'inline', id: 'create-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { name: name.value.trim(), template_id: tpl.value };
      if (port.value) body.port = Number(port.value);
      if (ref.value.trim()) {
        if (tpl.value !== 'empty') {
          replace(err, errorBox({ message: 'A ComfyUI ref can only be combined with the Empty template', suggestions: ['Choose Empty, or clear the ref'] }));
          return;
        }
        body.launcher_json = { format: 'comfyui_launcher', version: '1.0', workflow_json: null,
          snapshot_json: { comfyui: ref.value.trim(), git_custom_nodes: {} }, files: [], pip_requirements: [] };
      }
      submit.disabled = true;
      try {
        const r = await api.post('/api/create_project', body);
        replace(err);
        toast(`Project ${r.id} created; installing`);
        form.reset();
        await onCreated(r.id);
      } catch (e2) {
        replace(err, errorBox(e2));
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('label', { for: 'new-name' }, 'Name', name),
  h('label', { for: 'new-template' }, 'Template', tpl),
  h('label', { for: 'new-ref' }, 'ComfyUI ref (optional)', ref),
  h('label', { for: 'new-port' }, 'Port (optional)', port),
  submit);
  return h('section', { class: 'panel', 'aria-labelledby': 'create-h' }, h('h2', { id: 'create-h', class: 'small' }, 'New project'), form, err);
}
