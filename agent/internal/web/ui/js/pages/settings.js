// Settings: the source tokens the original UI keeps (credentials.*.apikey), shown masked, and
// the agent's read-only settings.
import * as api from '../api.js';
import { h, replace, errorBox, toast } from '../dom.js';

export async function render(view) {
  const err = h('div');
  const status = h('div', { role: 'status', 'aria-live': 'polite', id: 'settings-status' });
  view.append(h('h1', {}, 'Settings'), err);
  let cfg, settings;
  try {
    [cfg, settings] = await Promise.all([api.get('/api/get_config'), api.get('/api/settings')]);
  } catch (e) {
    replace(err, errorBox(e));
    return;
  }
  const creds = (cfg && cfg.credentials) || {};
  const sources = Object.keys(creds).length ? Object.keys(creds) : ['civitai'];
  const inputs = {};
  const fields = sources.map((src) => {
    const cur = (creds[src] && creds[src].apikey) || '';
    const id = 'token-' + src;
    inputs[src] = h('input', { id, type: 'password', autocomplete: 'off', placeholder: cur ? cur : 'not set', 'aria-describedby': id + '-hint' });
    return h('label', { for: id }, `${src} API token`, inputs[src],
      h('span', { id: id + '-hint', class: 'small muted' }, cur ? `saved: ${cur} (type to replace, or clear below)` : 'not set'));
  });
  const clear = h('input', { type: 'checkbox', id: 'tokens-clear' });
  const form = h('form', {
    class: 'inline', id: 'settings-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const next = {};
      for (const src of sources) {
        const typed = inputs[src].value.trim();
        // Posting the mask back keeps the stored key.
        next[src] = { ...(creds[src] || {}), apikey: clear.checked ? '' : typed || (creds[src] && creds[src].apikey) || '' };
      }
      try {
        await api.post('/api/update_config', { credentials: next });
        replace(err);
        // The fields show the stored (masked) tokens before "Saved" is announced, so what the
        // page says and what it shows never disagree.
        let note = 'Saved. Downloads use the new tokens from now on.';
        try {
          const fresh = await api.get('/api/get_config');
          for (const src of sources) {
            const v = (fresh.credentials && fresh.credentials[src] && fresh.credentials[src].apikey) || '';
            inputs[src].value = '';
            inputs[src].placeholder = v || 'not set';
            inputs[src].nextElementSibling.textContent = v ? `saved: ${v} (type to replace, or clear below)` : 'not set';
          }
          clear.checked = false;
        } catch {
          note += ' Reload the page to see the stored tokens.';
        }
        replace(status, h('div', { class: 'alert ok' }, note));
        toast('Settings saved');
      } catch (e2) {
        replace(status);
        replace(err, errorBox(e2));
      }
    },
  }, fields, h('label', { for: 'tokens-clear', class: 'row' }, clear, 'Clear the saved tokens'), h('button', { type: 'submit', class: 'primary' }, 'Save'));
  view.append(
    h('section', { class: 'panel', 'aria-labelledby': 'tok-h' }, h('h2', { id: 'tok-h' }, 'Model source tokens'), form, status),
    h('section', { class: 'panel', 'aria-labelledby': 'agent-h' }, h('h2', { id: 'agent-h' }, 'Agent'),
      h('dl', { class: 'kv' }, Object.entries(settings).map(([k, v]) => [h('dt', {}, k), h('dd', { class: 'mono' }, String(v))]))),
    h('section', { class: 'panel', 'aria-labelledby': 'session-h' }, h('h2', { id: 'session-h' }, 'Session'),
      api.auth.token ? h('button', { type: 'button', onclick: () => { api.auth.set(''); location.reload(); } }, 'Log out')
        : h('p', { class: 'muted' }, 'This agent does not ask for a token.')));
}
