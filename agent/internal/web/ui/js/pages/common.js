// Pieces several pages share: project state badges, progress and failure blocks.
import * as api from '../api.js';
import { h, progress, errorBox, toast, actionButton } from '../dom.js';

const INSTALLING = ['download_comfyui', 'install_comfyui', 'install_custom_nodes', 'download_files'];
export const isInstalling = (s) => INSTALLING.includes(s);

export function stateBadge(state) {
  const cls = state === 'running' ? 'ok' : state === 'failed' ? 'bad' : state === 'ready' ? 'info' : 'warn';
  return h('span', { class: 'badge ' + cls, dataset: { state } }, state.replace(/_/g, ' '));
}

/** installProgress is the bar with the stage and the current file. */
export function installProgress(p) {
  p = p || {};
  const pct = Math.round(p.progress || 0);
  const file = p.current_file
    ? p.current_file + (p.total ? ` (${p.current}/${p.total})` : '') + (p.file_progress ? ` ${Math.round(p.file_progress)}%` : '')
    : '';
  return h('div', { class: 'install-progress' },
    h('div', { class: 'spread small' },
      h('span', { class: 'stage' }, (p.stage || 'waiting').replace(/_/g, ' ')),
      h('span', { class: 'pct' }, pct + '%')),
    progress(pct, 'Install progress'),
    file ? h('div', { class: 'small muted file mono' }, file) : null);
}

/** failureBox is the failed step, the error and its suggestions. */
export function failureBox(st) {
  const f = st.failure || { step: st.failed_step, error: st.error, suggestions: st.suggestions };
  return h('div', { class: 'failure' },
    errorBox({ message: `${f.step ? f.step.replace(/_/g, ' ') + ' failed: ' : ''}${f.error || 'failed'}`, type: f.type, suggestions: f.suggestions }));
}

/** projectActions are the buttons a project's state allows; onDone(action) runs after each. */
export function projectActions(p, { errTarget, onDone }) {
  const st = p.state || {};
  const state = st.state;
  const name = st.name || p.id;
  const o = { errTarget };
  const act = (action, msg) => async () => {
    await api.post(`/api/projects/${encodeURIComponent(p.id)}/${action}`);
    toast(msg);
    await onDone(action);
  };
  const row = h('div', { class: 'row actions' });
  if (state === 'running') {
    row.append(h('a', { class: 'btn primary', href: p.url || `/comfy/${encodeURIComponent(p.id)}/`, target: '_blank', rel: 'noopener', 'data-action': 'open' }, 'Open ComfyUI'));
    row.append(actionButton('Stop', act('stop', `${name} stopped`), o));
    row.append(actionButton('Restart', act('restart', `${name} restarted`), o));
  } else if (state === 'ready') {
    row.append(actionButton('Start', act('start', `${name} started`), { ...o, class: 'primary' }));
  } else if (state === 'failed') {
    row.append(actionButton('Retry', act('retry', `Retrying ${name}`), { ...o, class: 'primary' }));
  }
  if (state !== 'running' && state !== 'starting' && state !== 'stopping') {
    row.append(actionButton('Delete', act('delete', `${name} deleted`),
      { ...o, class: 'danger', confirm: `Delete project ${name}? Its ComfyUI checkout and venv are removed; shared models stay.` }));
  }
  for (const b of row.querySelectorAll('button')) b.dataset.action = b.textContent.toLowerCase();
  return row;
}
