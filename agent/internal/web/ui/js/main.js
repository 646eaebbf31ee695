// Dashboard entry: hash routes (#/projects, #/project/<id>, ...), the login page, and the live
// indicator. Each page module exports render(view, scope) and keeps itself current from events.
import * as api from './api.js';
import * as events from './events.js';
import { h, replace, errorBox } from './dom.js';
import * as projects from './pages/projects.js';
import * as project from './pages/project.js';
import * as importPage from './pages/import.js';
import * as downloads from './pages/downloads.js';
import * as models from './pages/models.js';
import * as gpus from './pages/gpus.js';
import * as operations from './pages/operations.js';
import * as extensions from './pages/extensions.js';
import * as settings from './pages/settings.js';

const pages = { projects, project, import: importPage, downloads, models, gpus, operations, extensions, settings };
const view = document.getElementById('view');
let scope = new events.Scope();
let needLogin = false;

function route() {
  if (needLogin) return;
  const [name, ...rest] = (location.hash.replace(/^#\/?/, '') || 'projects').split('/');
  const page = pages[name] || projects;
  scope.dispose();
  scope = new events.Scope();
  for (const a of document.querySelectorAll('#nav a')) {
    const cur = a.dataset.page === name || (name === 'project' && a.dataset.page === 'projects');
    cur ? a.setAttribute('aria-current', 'page') : a.removeAttribute('aria-current');
  }
  replace(view);
  view.dataset.page = name;
  Promise.resolve(page.render(view, scope, rest.map(decodeURIComponent)))
    .then(() => performance.mark('page-rendered')) // read by scripts/bench/web.sh
    .catch((err) => view.append(errorBox(err)));
}

function showLogin(message) {
  needLogin = true;
  scope.dispose();
  document.getElementById('live').textContent = 'locked';
  view.dataset.page = 'login';
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', required: true, id: 'token' });
  const msg = h('div');
  if (message) msg.append(errorBox(message));
  const form = h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      api.auth.set(input.value.trim());
      try {
        await api.get('/api/settings');
      } catch (err) {
        api.auth.set('');
        replace(msg, errorBox(err));
        input.select();
        return;
      }
      needLogin = false;
      await api.comfyCookie();
      events.reconnect();
      route();
    },
  },
  h('label', { for: 'token' }, 'API token', input),
  h('button', { type: 'submit', class: 'primary' }, 'Log in'));
  replace(view, h('section', { class: 'panel login', 'aria-labelledby': 'login-h' },
    h('h1', { id: 'login-h' }, 'Log in'),
    h('p', { class: 'muted' }, 'This agent needs its API token. It is kept for this browser session only.'),
    msg, form));
  input.focus();
}

window.addEventListener('auth-required', () => {
  if (!needLogin) {
    const had = api.auth.token;
    api.auth.set('');
    showLogin(had ? { message: 'The saved token was refused', suggestions: ['Enter the current token'] } : null);
  }
});
window.addEventListener('hashchange', route);

events.onStatus((up) => {
  const el = document.getElementById('live');
  el.dataset.state = up ? 'on' : 'off';
  el.textContent = up ? 'live' : 'reconnecting…';
});

async function boot() {
  try {
    await api.get('/api/settings');
  } catch (err) {
    if (err.status === 401) return; // the auth-required handler shows the login page
    view.append(errorBox(err));
    return;
  }
  await api.comfyCookie();
  events.connect();
  route();
}
boot();
