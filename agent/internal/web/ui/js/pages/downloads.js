// Downloads: live progress with speed and ETA, pause / resume / cancel, start one by URL.
import * as api from '../api.js';
import { h, replace, errorBox, toast, actionButton, progress, fmtBytes, fmtDuration } from '../dom.js';

const ACTIVE = ['pending', 'in_progress', 'recovering'];
const FOLDERS = ['checkpoints', 'loras', 'vae', 'clip', 'text_encoders', 'diffusion_models', 'unet', 'controlnet', 'upscale_models', 'embeddings', 'clip_vision', 'ipadapter'];

export async function render(view, scope) {
  const err = h('div');
  const body = h('tbody');
  const rows = new Map();
  view.append(h('h1', {}, 'Downloads'), startForm(() => load()), err,
    h('section', { class: 'panel' }, h('div', { class: 'table-wrap' }, h('table', { id: 'downloads' },
      h('thead', {}, h('tr', {}, h('th', {}, 'File'), h('th', {}, 'Progress'), h('th', { class: 'opt' }, 'Speed'), h('th', { class: 'opt' }, 'ETA'), h('th', {}, 'State'), h('th', {}, ''))),
      body))));

  // A row keeps its cells and, while the actions it offers stay the same, its buttons:
  // progress redraws it several times a second, and a button replaced between a press and
  // its release would lose the click.
  function draw(d) {
    let tr = rows.get(d.id);
    if (!tr) {
      tr = h('tr', { dataset: { id: d.id } }, h('td'), h('td'), h('td', { class: 'opt' }), h('td', { class: 'opt' }), h('td'), h('td'));
      rows.set(d.id, tr);
    }
    tr._d = d; // the last known view, which live updates patch
    const [file, prog, speed, etaCell, state, actions] = tr.children;
    const active = ACTIVE.includes(d.state);
    const eta = d.speed_bps > 0 && d.total_bytes > 0 ? (d.total_bytes - d.bytes_downloaded) / d.speed_bps : 0;
    replace(file, h('div', { class: 'mono' }, (d.folder ? d.folder + '/' : '') + (d.filename || d.url)), h('div', { class: 'small muted' }, d.url || d.source || ''),
      d.error ? h('div', { class: 'small', role: 'note' }, h('span', { class: 'badge bad' }, 'error'), ' ', d.error) : null);
    replace(prog, progress(d.progress, 'Download progress'), h('div', { class: 'small muted' }, `${fmtBytes(d.bytes_downloaded)} / ${d.total_bytes ? fmtBytes(d.total_bytes) : '?'} (${Math.round(d.progress || 0)}%)`));
    replace(speed, active && d.speed_bps ? fmtBytes(d.speed_bps) + '/s' : '–');
    replace(etaCell, active ? fmtDuration(eta) : '–');
    replace(state, h('span', { class: 'badge ' + (d.state === 'success' ? 'ok' : active ? 'info' : 'bad') }, d.paused ? 'paused' : d.state),
      d.attempt ? h('div', { class: 'small muted' }, `attempt ${d.attempt}/${d.max_attempts}`) : null);
    const can = { pause: d.can_pause && !d.paused, resume: d.can_resume || d.paused, cancel: active };
    const key = JSON.stringify(can);
    if (tr._actions !== key) {
      tr._actions = key;
      const o = { errTarget: err };
      const call = (a) => async () => { await api.post(`/api/downloads/${encodeURIComponent(d.id)}/${a}`); toast(`Download ${a}d`); await load(); };
      replace(actions, h('div', { class: 'row' },
        can.pause ? actionButton('Pause', call('pause'), o) : null,
        can.resume ? actionButton('Resume', call('resume'), o) : null,
        can.cancel ? actionButton('Cancel', call('cancel'), { ...o, class: 'danger', confirm: 'Cancel this download?' }) : null));
    }
    return tr;
  }

  // Loads overlap (after an action, on every completed download); only the latest one
  // started is shown, so an answer from before a pause cannot overwrite the paused state.
  let loads = 0;
  async function load() {
    const n = ++loads;
    try {
      const r = await api.get('/api/downloads');
      if (n !== loads) return;
      const list = (r.downloads || []).sort((a, b) => (b.created_at || '').localeCompare(a.created_at || ''));
      const trs = list.map(draw);
      if (!list.length) replace(body, h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No downloads.')));
      else if (trs.length !== body.children.length || trs.some((tr, i) => body.children[i] !== tr)) replace(body, trs);
      replace(err);
    } catch (e) {
      if (n === loads) replace(err, errorBox(e));
    }
  }

  scope.subscribe('recovery', { operation_id: 'all' });
  scope.on('recovery_update', (u) => {
    if (u.function_name !== 'download_model') return;
    const tr = rows.get(u.operation_id);
    if (!tr || !tr._d) return load();
    draw(Object.assign(tr._d, {
      state: u.state, attempt: u.attempt, max_attempts: u.max_attempts, error: u.error,
      progress: u.progress ?? tr._d.progress, bytes_downloaded: u.bytes_downloaded ?? tr._d.bytes_downloaded,
      total_bytes: u.total_bytes ?? tr._d.total_bytes, speed_bps: u.speed_bps ?? tr._d.speed_bps,
    }));
  });
  scope.on('recovery_completed', (u) => { if (u.function_name === 'download_model') load(); });
  await load();
}

function startForm(onStarted) {
  const err = h('div');
  const url = h('input', { id: 'dl-url', type: 'url', required: true, placeholder: 'https://huggingface.co/…/resolve/main/model.safetensors' });
  const folder = h('select', { id: 'dl-folder' }, FOLDERS.map((f) => h('option', { value: f }, f)));
  const name = h('input', { id: 'dl-name', placeholder: 'from the URL' });
  const form = h('form', {
    class: 'inline',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        const body = { url: url.value.trim(), folder: folder.value };
        if (name.value.trim()) body.filename = name.value.trim();
        await api.post('/api/models/download', body);
        replace(err);
        toast('Download started');
        form.reset();
        await onStarted();
      } catch (e2) {
        replace(err, errorBox(e2));
      }
    },
  },
  h('label', { for: 'dl-url', class: 'wide' }, 'URL', url), h('label', { for: 'dl-folder' }, 'Folder', folder),
  h('label', { for: 'dl-name' }, 'File name (optional)', name), h('button', { type: 'submit', class: 'primary' }, 'Download'));
  return h('section', { class: 'panel', 'aria-labelledby': 'dl-h' }, h('h2', { id: 'dl-h' }, 'Start a download'), form, err);
}
