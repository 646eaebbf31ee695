// Import a workflow: drop or pick a JSON file (UI, API, wrapped or launcher format), see what it
// needs before anything is installed, then import it as a project.
import * as api from '../api.js';
import { h, replace, errorBox, toast, fmtMB, fmtBytes } from '../dom.js';

export function render(view) {
  const err = h('div');
  const preview = h('div', { id: 'preview' });
  const file = h('input', { type: 'file', accept: '.json,application/json', id: 'wf-file' });
  const drop = h('div', { class: 'drop', id: 'drop' },
    h('p', {}, 'Drop a workflow JSON here, or ', h('label', { for: 'wf-file', class: 'btn' }, 'choose a file'), file),
    h('p', { class: 'small muted' }, 'ComfyUI UI or API format, a file that wraps one, or a launcher JSON. Nothing is installed until you import.'));
  file.classList.add('visually-hidden');
  file.addEventListener('change', () => file.files[0] && read(file.files[0]));
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer.files[0]) read(e.dataTransfer.files[0]);
  });
  view.append(h('h1', {}, 'Import a workflow'), drop, err, preview);

  async function read(f) {
    replace(err);
    replace(preview, h('p', { class: 'muted' }, 'Reading ' + f.name + '…'));
    let wf;
    try {
      wf = JSON.parse(await f.text());
    } catch (e) {
      replace(preview);
      replace(err, errorBox({ message: `${f.name} is not valid JSON: ${e.message}`, suggestions: ['Export the workflow from ComfyUI again (Workflow → Export)'] }));
      return;
    }
    try {
      const v = await api.post('/api/workflow/validate', { workflow_json: wf });
      replace(preview, showPreview(f.name, wf, v));
    } catch (e) {
      replace(preview);
      replace(err, errorBox(e));
    }
  }
}

function sourceOf(ref) {
  if (!ref || !ref.url) return '';
  let host = ref.url;
  try { host = new URL(ref.url).host; } catch { /* keep the raw text */ }
  return host + (ref.url_source ? ` (via ${ref.url_source})` : '');
}

function showPreview(fileName, wf, v) {
  const md = v.metadata || {};
  const missing = new Map((v.missing_models || []).map((m) => [(m.folder || '') + '/' + m.filename, m]));
  const choices = new Map(); // missing key -> select
  const rows = (md.required_models || []).map((m) => {
    const key = (m.folder || '') + '/' + m.filename;
    const miss = missing.get(key);
    let status;
    if (!miss) status = h('span', { class: 'badge ok' }, 'in store');
    else if (miss.downloadable) status = h('span', {}, h('span', { class: 'badge info' }, 'downloadable'), ' ', h('span', { class: 'small muted' }, sourceOf(m)));
    else {
      status = h('span', {}, h('span', { class: 'badge bad' }, 'missing'));
      if ((miss.suggestions || []).length) {
        const sel = h('select', { 'aria-label': 'Source for ' + m.filename },
          h('option', { value: '' }, 'choose a source…'),
          miss.suggestions.map((s, i) => h('option', { value: i }, `${s.source}: ${s.filename}${s.size ? ' (' + fmtBytes(s.size) + ')' : ''}`)));
        choices.set(key, { sel, miss });
        status.append(' ', sel);
      }
    }
    return h('tr', { dataset: { model: m.filename, status: miss ? (miss.downloadable ? 'downloadable' : 'missing') : 'present' } },
      h('td', { class: 'mono' }, m.filename), h('td', {}, m.folder || '?'), h('td', { class: 'opt' }, m.node_type), h('td', {}, status));
  });
  const packs = md.required_custom_nodes || [];
  const vram = md.vram || {};
  const name = h('input', { id: 'import-name', required: true, value: fileName.replace(/\.json$/i, '').replace(/[_.]+/g, ' ').trim() });
  const skip = h('input', { type: 'checkbox', id: 'import-skip' });
  const nMissing = [...missing.values()].filter((m) => !m.downloadable).length;
  const result = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Import');
  const form = h('form', {
    class: 'inline', id: 'import-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const resolved = [];
      for (const { sel, miss } of choices.values()) {
        if (sel.value === '') continue;
        const s = miss.suggestions[Number(sel.value)];
        resolved.push({ filename: miss.filename, node_type: miss.node_type, dest_relative_path: miss.dest_relative_path,
          source: { type: s.source, file_id: s.hf_file_id || s.civitai_file_id || s.url, url: s.url } });
      }
      submit.disabled = true;
      try {
        const r = await api.post('/api/import_project', { name: name.value.trim(), import_json: wf,
          resolved_missing_models: resolved, skipping_model_validation: skip.checked });
        toast(`Project ${r.id} imported; installing`);
        location.hash = '#/project/' + encodeURIComponent(r.id);
      } catch (e2) {
        replace(result, errorBox(e2));
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('label', { for: 'import-name' }, 'Project name', name),
  nMissing ? h('label', { for: 'import-skip', class: 'row' }, skip, `Import without the ${nMissing} missing model(s)`) : null,
  submit);

  return h('div', {},
    h('section', { class: 'panel', 'aria-labelledby': 'pv-h' },
      h('h2', { id: 'pv-h' }, 'Preview: ' + fileName),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Format'), h('dd', {}, (md.format || '?') + (md.wrapper ? ' in ' + md.wrapper : '')),
        h('dt', {}, 'Type'), h('dd', { id: 'pv-type' }, md.workflow_type || 'unknown'),
        h('dt', {}, 'VRAM estimate'), h('dd', { id: 'pv-vram' }, fmtMB(md.estimated_vram) + (vram.minimum_mb ? ` (at least ${fmtMB(vram.minimum_mb)} with offload)` : '') + (vram.family ? ', ' + vram.family : '')),
        h('dt', {}, 'Nodes'), h('dd', {}, h('details', {}, h('summary', {}, `${(md.nodes || []).length} nodes`),
          h('ul', { class: 'small' }, (md.nodes || []).map((n) => h('li', {}, `${n.id}: ${n.type}${n.title && n.title !== n.type ? ' – ' + n.title : ''}${n.muted ? ' (muted)' : ''}${n.bypassed ? ' (bypassed)' : ''}`)))))),
      (md.warnings || []).length ? h('div', { class: 'alert info' }, h('ul', {}, md.warnings.map((w) => h('li', {}, w)))) : null),
    h('section', { class: 'panel', 'aria-labelledby': 'pm-h' },
      h('h2', { id: 'pm-h' }, `Models (${rows.length}; ${nMissing} missing)`),
      rows.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'pv-models' },
        h('thead', {}, h('tr', {}, h('th', {}, 'File'), h('th', {}, 'Folder'), h('th', { class: 'opt' }, 'Node'), h('th', {}, 'Status'))),
        h('tbody', {}, rows))) : h('p', { class: 'muted' }, 'No models.')),
    h('section', { class: 'panel', 'aria-labelledby': 'pp-h' },
      h('h2', { id: 'pp-h' }, `Custom node packs (${packs.length})`),
      packs.length ? h('ul', { id: 'pv-packs' }, packs.map((p) => h('li', {}, p.repo ? h('a', { href: p.repo, target: '_blank', rel: 'noopener' }, p.title || p.repo) : (p.title || p.cnr_id),
        h('span', { class: 'small muted' }, ' – ' + (p.node_types || []).join(', '))))) : h('p', { class: 'muted' }, 'Core nodes only.'),
      (md.unresolved_node_types || []).length ? h('div', { class: 'alert bad' }, 'No pack found for: ' + md.unresolved_node_types.join(', ')) : null),
    h('section', { class: 'panel', 'aria-labelledby': 'pi-h' }, h('h2', { id: 'pi-h' }, 'Import'), form, result));
}
