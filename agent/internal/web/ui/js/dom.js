// Small DOM helpers: element construction, formatting, and the error display every page uses.

/** h builds an element: h('a', {href: '#', onclick: fn}, 'text', child). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked' || k === 'disabled') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** replace puts children into el instead of what it held. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtBytes(n) {
  if (n === null || n === undefined || isNaN(n)) return '–';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)) + ' ' + u[i];
}

export function fmtMB(mb) {
  if (mb === null || mb === undefined) return '–';
  return mb >= 1024 ? (mb / 1024).toFixed(1) + ' GB' : mb + ' MB';
}

export function fmtDuration(s) {
  if (!isFinite(s) || s <= 0) return '–';
  if (s < 60) return Math.round(s) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
}

export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString();
}

/** errorBox shows an API error with its type and suggestions (role=alert reads it out). */
export function errorBox(err) {
  const sugg = (err && err.suggestions) || [];
  return h('div', { class: 'alert bad', role: 'alert' },
    h('strong', {}, (err && err.message) || String(err)),
    err && err.type ? h('span', { class: 'small' }, ' (' + err.type + ')') : null,
    sugg.length ? h('ul', {}, sugg.map((s) => h('li', {}, s))) : null);
}

/** toast shows a short confirmation or error in the corner. */
export function toast(msg, kind = 'ok') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: 'toast ' + kind }, msg);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'bad' ? 9000 : 4000);
}

/** bar draws a stacked bar; parts are [{cls, value, label}] out of total. */
export function bar(parts, total, label) {
  const el = h('div', { class: 'bar', role: 'img', 'aria-label': label });
  for (const p of parts) {
    const s = h('span', { class: p.cls, title: p.label });
    s.style.width = total > 0 ? Math.max(0, Math.min(100, (p.value / total) * 100)) + '%' : '0%';
    el.append(s);
  }
  return el;
}

export function progress(value, label) {
  return h('progress', { max: 100, value: Math.max(0, Math.min(100, value || 0)), 'aria-label': label });
}

/** button runs an async action, disabled while it runs; errors become a toast plus the box in errTarget. */
export function actionButton(label, fn, opts = {}) {
  const b = h('button', { type: 'button', class: opts.class, 'aria-label': opts.aria, title: opts.title, dataset: { label } });
  b.textContent = label;
  b.addEventListener('click', async () => {
    if (opts.confirm && !window.confirm(opts.confirm)) return;
    b.disabled = true;
    try {
      await fn();
    } catch (err) {
      showError(err, opts.errTarget);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

export function showError(err, target) {
  if (target) replace(target, errorBox(err));
  toast((err && err.message) || String(err), 'bad');
}
