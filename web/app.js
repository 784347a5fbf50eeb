// The page of `dits serve` (docs/WEB.md): drawn in the browser from the
// server's JSON endpoints (docs/PROTOCOL.md, "Web endpoints"). Every name
// that comes from a repository is set as text, never parsed as HTML.
'use strict';

const main = document.getElementById('main');
const crumbs = document.getElementById('crumbs');
let stopPolling = null;

// ---- small helpers --------------------------------------------------------

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

const enc = encodeURIComponent;
const encPath = (p) => p.split('/').map(enc).join('/');

function bytes(n) {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + ' ' + u[i];
}

function when(t) {
  if (!t) return '';
  const d = new Date(t * 1000), s = (Date.now() - d.getTime()) / 1000;
  if (s < 60) return 'just now';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  return d.toISOString().slice(0, 16).replace('T', ' ');
}

const short = (id) => (id || '').slice(0, 12);
const firstLine = (m) => (m || '').split('\n')[0] || '(no message)';

class AuthError extends Error {}

async function api(url) {
  const r = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (r.status === 401) throw new AuthError('authentication required');
  const j = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

function setCrumbs(parts) {
  crumbs.replaceChildren();
  parts.forEach(([label, href], i) => {
    if (i) crumbs.append(h('span', { class: 'sep' }, '/'));
    crumbs.append(href ? h('a', { href }, label) : h('span', {}, label));
  });
}

function show(...nodes) { main.replaceChildren(...nodes); }

function fail(e) {
  if (e instanceof AuthError) return loginPage();
  show(h('div', { class: 'panel' }, h('h1', {}, 'Something went wrong'), h('p', { class: 'error' }, e.message)));
}

const content = (repo, id, name) => '/' + enc(repo) + '/content/' + id + '/' + enc(name);

// ---- login ----------------------------------------------------------------

function loginPage() {
  const params = new URLSearchParams(location.search);
  const next = location.pathname === '/_login' ? (params.get('next') || '/') : location.pathname;
  setCrumbs([['Log in']]);
  show(h('div', { class: 'login panel' },
    h('h1', {}, 'Log in'),
    h('p', { class: 'muted' }, 'This server needs a token to show its repositories.'),
    params.get('failed') ? h('p', { class: 'error', id: 'login-failed' }, 'That token is not known here.') : null,
    h('form', { method: 'post', action: '/_login' },
      h('label', { for: 'token' }, 'Token'),
      h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true }),
      h('input', { type: 'hidden', name: 'next', value: next }),
      h('button', { type: 'submit' }, 'Log in'))));
}

// ---- repositories ---------------------------------------------------------

async function reposPage() {
  setCrumbs([['Repositories']]);
  const j = await api('/_repos');
  const list = h('div', { class: 'grid', id: 'repos' });
  for (const r of j.repositories) {
    const jobs = r.jobs || {};
    list.append(h('a', { class: 'card', href: '/' + enc(r.name) },
      h('div', { class: 'body' },
        h('span', { class: 'name' }, r.name),
        h('div', { class: 'muted' }, r.message ? firstLine(r.message) : 'no commits yet'),
        h('div', { class: 'meta' }, h('span', {}, (r.head || '').replace('refs/heads/', '')),
          h('span', {}, when(r.time))),
        h('div', { class: 'chips' },
          h('span', { class: 'chip' }, r.branches + ' branches'),
          h('span', { class: 'chip' }, r.tags + ' tags'),
          jobs.queued || jobs.running ? h('span', { class: 'chip' }, (jobs.queued + jobs.running) + ' jobs') : null,
          jobs.failed ? h('span', { class: 'chip' }, jobs.failed + ' failed') : null))));
  }
  show(h('h1', {}, 'Repositories'),
    j.repositories.length ? list : h('p', { class: 'muted' }, 'No repository yet: push one with dits push.'));
}

// ---- one repository: header, tabs -----------------------------------------

async function repoHeader(repo, tab, rev) {
  const refs = await api('/' + enc(repo) + '/refs');
  const names = Object.keys(refs.refs);
  const head = (refs.head || '').replace('refs/heads/', '');
  const sel = h('select', { id: 'rev', 'aria-label': 'Branch or tag',
    onchange: (e) => { location.href = '/' + enc(repo) + '/-/' + (tab === 'log' ? 'log' : 'tree') + '/' + enc(e.target.value); } });
  const cur = rev || head;
  let found = false;
  for (const group of ['heads', 'tags']) {
    const og = h('optgroup', { label: group === 'heads' ? 'Branches' : 'Tags' });
    for (const n of names.filter((x) => x.startsWith('refs/' + group + '/'))) {
      const short = n.slice(6 + group.length);
      if (short === cur) found = true;
      og.append(h('option', { value: short, selected: short === cur }, short));
    }
    if (og.children.length) sel.append(og);
  }
  if (rev && !found) sel.prepend(h('option', { value: rev, selected: true }, short(rev)));
  const base = '/' + enc(repo);
  const t = (id, label, href) => h('a', { href, class: tab === id ? 'on' : '' }, label);
  return [
    h('div', { class: 'bar' }, h('h1', {}, repo), names.length ? sel : null,
      h('span', { class: 'chips' },
        h('span', { class: 'chip' }, names.filter((x) => x.startsWith('refs/heads/')).length + ' branches'),
        h('span', { class: 'chip' }, names.filter((x) => x.startsWith('refs/tags/')).length + ' tags'))),
    h('nav', { class: 'tabs' },
      t('tree', 'Files', rev ? base + '/-/tree/' + enc(rev) : base),
      t('log', 'History', base + '/-/log/' + enc(rev || head)),
      t('queue', 'Queue', base + '/-/queue')),
  ];
}

// ---- scrubbing over a sprite sheet ----------------------------------------

const vttCache = new Map();

function parseTime(s) {
  const p = s.trim().split(':').map(Number);
  return p.reduce((a, b) => a * 60 + b, 0);
}

// The WebVTT sprite index: [{start, end, x, y, w, h}]
async function loadVtt(repo, id) {
  if (!vttCache.has(id)) {
    vttCache.set(id, fetch(content(repo, id, 'sprite.vtt'), { credentials: 'same-origin' })
      .then((r) => r.text()).then((text) => {
        const cues = [];
        const lines = text.split(/\r?\n/);
        for (let i = 0; i < lines.length; i++) {
          const m = lines[i].match(/^([\d:.]+)\s+-->\s+([\d:.]+)/);
          if (!m) continue;
          const xy = (lines[i + 1] || '').match(/#xywh=(\d+),(\d+),(\d+),(\d+)/);
          if (xy) cues.push({ start: parseTime(m[1]), end: parseTime(m[2]), x: +xy[1], y: +xy[2], w: +xy[3], h: +xy[4] });
        }
        return cues;
      }));
  }
  return vttCache.get(id);
}

function cueAt(cues, frac) {
  if (!cues.length) return null;
  const t = frac * cues[cues.length - 1].end;
  return cues.find((c) => t >= c.start && t < c.end) || cues[cues.length - 1];
}

// Shows the tile of the cue under the pointer in el (sized to box), scaled to fit.
function showTile(el, sprite, cue, boxW, boxH) {
  const scale = Math.min(boxW / cue.w, boxH / cue.h);
  el.style.backgroundImage = 'url("' + sprite + '")';
  el.style.backgroundSize = 'auto';
  el.style.width = cue.w + 'px';
  el.style.height = cue.h + 'px';
  el.style.transformOrigin = '0 0';
  el.style.transform = 'scale(' + scale + ')';
  el.style.backgroundPosition = (-cue.x) + 'px ' + (-cue.y) + 'px';
  el.dataset.tile = cue.x + ',' + cue.y;
}

function scrubCard(thumb, repo, f) {
  if (!f.sprite || !f.vtt) return;
  const tile = h('div', { class: 'tile' }), head = h('div', { class: 'head' });
  thumb.append(tile, head);
  const sprite = content(repo, f.sprite, 'sprite.jpg');
  thumb.addEventListener('pointermove', async (e) => {
    const cues = await loadVtt(repo, f.vtt);
    const r = thumb.getBoundingClientRect();
    const frac = Math.min(Math.max((e.clientX - r.left) / r.width, 0), 0.9999);
    const cue = cueAt(cues, frac);
    if (!cue) return;
    thumb.classList.add('scrubbing');
    head.style.left = (frac * 100) + '%';
    showTile(tile, sprite, cue, r.width, r.height);
    const s = Math.min(r.width / cue.w, r.height / cue.h);
    tile.style.left = ((r.width - cue.w * s) / 2) + 'px';
    tile.style.top = ((r.height - cue.h * s) / 2) + 'px';
  });
  thumb.addEventListener('pointerleave', () => thumb.classList.remove('scrubbing'));
}

// ---- files at a revision --------------------------------------------------

function fileCard(repo, rev, f, i) {
  const href = '/' + enc(repo) + '/-/asset/' + enc(rev) + '/' + encPath(f.path);
  const state = f.video ? f.proxy.state : null;
  const thumb = h('a', { class: 'thumb', href, 'aria-label': f.name },
    f.poster
      ? h('img', { src: content(repo, f.poster, 'poster.jpg'), alt: f.name, class: 'poster',
        loading: i < 48 ? 'eager' : 'lazy', decoding: 'async' })
      : h('span', { class: 'icon ' + (f.video ? 'film' : 'file') }),
    state && state !== 'none' ? h('span', { class: 'badge ' + state }, state) : null);
  scrubCard(thumb, repo, f);
  return h('div', { class: 'card asset-card', 'data-path': f.path },
    thumb,
    h('div', { class: 'body' },
      h('a', { class: 'name', href, title: f.path }, f.name),
      h('div', { class: 'meta' }, h('span', {}, bytes(f.size)),
        f.proxy && f.proxy.type ? h('span', {}, f.proxy.type.replace('proxy_', '')) : null),
      state === 'failed' && f.proxy.reason ? h('div', { class: 'reason' }, f.proxy.reason) : null));
}

async function treePage(repo, rev, dir) {
  const base = '/' + enc(repo);
  setCrumbs([[repo, base], ...(dir ? dir.split('/').map((d, i, a) =>
    [d, base + '/-/tree/' + enc(rev || 'HEAD') + '/' + encPath(a.slice(0, i + 1).join('/'))]) : [])]);
  const header = await repoHeader(repo, 'tree', rev);
  const url = (off) => base + '/tree?limit=120&offset=' + off + (rev ? '&rev=' + enc(rev) : '') + '&path=' + enc(dir || '');
  const j = await api(url(0));
  const r = j.commit ? (rev || j.commit) : null;
  const grid = h('div', { class: 'grid', id: 'grid' });
  for (const d of j.dirs) {
    const href = base + '/-/tree/' + enc(rev || 'HEAD') + '/' + encPath((dir ? dir + '/' : '') + d.name);
    grid.append(h('div', { class: 'card folder' },
      h('a', { class: 'thumb', href }, h('span', { class: 'icon folder' })),
      h('div', { class: 'body' }, h('a', { class: 'name', href }, d.name), h('div', { class: 'meta' }, 'folder'))));
  }
  let shown = 0;
  const add = (files) => { for (const f of files) grid.append(fileCard(repo, r, f, shown++)); };
  add(j.files);
  const more = h('div', { class: 'more' });
  const loadMore = async () => {
    if (shown >= j.total || more.dataset.busy) return;
    more.dataset.busy = '1';
    add((await api(url(shown))).files);
    delete more.dataset.busy;
    more.textContent = shown < j.total ? shown + ' of ' + j.total + ' files' : '';
    if (shown < j.total) io.observe(more);
  };
  const io = new IntersectionObserver((es) => { if (es.some((e) => e.isIntersecting)) { io.unobserve(more); loadMore(); } });
  if (shown < j.total) { more.textContent = shown + ' of ' + j.total + ' files'; io.observe(more); }
  const summary = h('div', { class: 'bar muted' },
    j.commit ? h('span', {}, 'at ', h('a', { class: 'mono', href: base + '/-/commit/' + j.commit }, short(j.commit))) : 'no commits yet',
    h('span', {}, j.total + ' files'),
    j.videos ? h('span', { id: 'proxy-summary' }, j.proxies_ready + ' of ' + j.videos + ' videos have a proxy') : null);
  show(...header, summary, grid, more);
}

// ---- one asset --------------------------------------------------------------

function fmtRate(r) {
  if (!r) return '—';
  const [a, b] = r.split('/').map(Number);
  return b ? (a / b).toFixed(3).replace(/\.?0+$/, '') + ' fps' : r;
}

function fmtAudio(f) {
  if (!f || !f.audio) return '—';
  if (!f.audio.length) return 'none';
  return f.audio.map((a) => (a.layout || a.channels + 'ch') + ' ' + (a.sample_rate / 1000) + ' kHz ' + a.codec).join(', ');
}

function factRows(m, p) {
  const rows = [
    ['Frame size', (f) => f.width + '×' + f.height],
    ['Frame rate', (f) => fmtRate(f.frame_rate)],
    ['Frame count', (f) => f.frame_count],
    ['Start timecode', (f) => f.timecode || '—'],
    ['Audio', fmtAudio],
    ['Duration', (f) => (+f.video_duration).toFixed(3) + ' s'],
    ['Codec', (f) => f.video_codec + ' / ' + f.container],
  ];
  return rows.map(([label, fn]) => h('tr', {}, h('th', {}, label),
    h('td', { class: 'fact-master' }, m ? String(fn(m)) : '—'),
    h('td', { class: 'fact-proxy' }, p ? String(fn(p)) : '—')));
}

function scrubBar(repo, a, video) {
  const bar = h('div', { class: 'scrub', id: 'scrub', role: 'slider', 'aria-label': 'Scrub' });
  const fill = h('div', { class: 'fill' }), hover = h('div', { class: 'hover' });
  const pop = h('div', { class: 'pop', id: 'scrub-tile' }), label = h('span', {});
  pop.append(label);
  bar.append(fill, hover, pop);
  if (video) video.addEventListener('timeupdate', () => {
    if (video.duration) fill.style.width = (100 * video.currentTime / video.duration) + '%';
  });
  if (!a.sprite || !a.vtt) return bar;
  const sprite = content(repo, a.sprite, 'sprite.jpg');
  const at = async (e) => {
    const cues = await loadVtt(repo, a.vtt);
    const r = bar.getBoundingClientRect();
    const frac = Math.min(Math.max((e.clientX - r.left) / r.width, 0), 0.9999);
    const cue = cueAt(cues, frac);
    return cue && { cue, frac, r, t: frac * cues[cues.length - 1].end };
  };
  bar.addEventListener('pointermove', async (e) => {
    const p = await at(e);
    if (!p) return;
    bar.classList.add('on');
    hover.style.left = (p.frac * 100) + '%';
    showTile(pop, sprite, p.cue, p.cue.w, p.cue.h);
    pop.style.transform = '';
    const x = Math.min(Math.max(p.frac * p.r.width - p.cue.w / 2, 0), Math.max(p.r.width - p.cue.w, 0));
    pop.style.left = x + 'px';
    label.textContent = p.t.toFixed(1) + ' s';
  });
  bar.addEventListener('pointerleave', () => bar.classList.remove('on'));
  bar.addEventListener('click', async (e) => {
    const p = await at(e);
    if (p && video && video.duration) video.currentTime = p.frac * video.duration;
  });
  return bar;
}

async function assetPage(repo, rev, path) {
  const base = '/' + enc(repo);
  const parts = path.split('/');
  setCrumbs([[repo, base], ...parts.map((d, i) => [d, i < parts.length - 1
    ? base + '/-/tree/' + enc(rev) + '/' + encPath(parts.slice(0, i + 1).join('/')) : null])]);
  const a = await api(base + '/asset?rev=' + enc(rev) + '&path=' + enc(path));
  const name = parts[parts.length - 1];
  let video = null;
  let stage;
  if (a.preview) {
    video = h('video', { id: 'preview', src: content(repo, a.preview, 'preview.webm'),
      poster: a.poster ? content(repo, a.poster, 'poster.jpg') : null,
      autoplay: true, muted: true, loop: true, playsinline: true, controls: true, preload: 'auto' });
    video.muted = true;
    stage = video;
  } else if (a.poster) {
    stage = h('img', { src: content(repo, a.poster, 'poster.jpg'), alt: name });
  } else {
    stage = h('div', { class: 'thumb' }, h('span', { class: 'icon ' + (a.video ? 'film' : 'file') }));
  }
  const st = a.proxy.state;
  const proxyPanel = a.video ? h('div', { class: 'panel', id: 'proxy-state' },
    h('div', { class: 'bar' }, h('strong', {}, 'Proxy'), h('span', { class: 'badge ' + st }, st),
      a.proxy.type ? h('span', { class: 'muted' }, a.proxy.type + ' · ' + bytes(a.proxy.size)) : null),
    st === 'failed' ? h('div', { class: 'reason', id: 'proxy-reason' }, a.proxy.reason || 'no reason recorded') : null,
    a.proxy.warnings ? h('div', { class: 'muted' }, 'Warning: ' + a.proxy.warnings) : null,
    a.jobs.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Job'), h('th', {}, 'State'), h('th', {}, 'Attempts'))),
      h('tbody', {}, a.jobs.map((j) => h('tr', {}, h('td', { class: 'mono' }, '#' + j.id + ' ' + j.target),
        h('td', {}, h('span', { class: 'badge ' + j.state }, j.state), j.error && j.state !== 'done' ? h('div', { class: 'reason' }, j.error) : null),
        h('td', { class: 'num' }, j.attempts))))) : null) : null;
  const facts = a.video ? h('div', { class: 'panel' },
    h('table', { id: 'facts' }, h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, 'Master'), h('th', {}, 'Proxy'))),
      h('tbody', {}, factRows(a.master_facts, a.proxy_facts))),
    a.master_facts ? null : h('p', { class: 'muted' }, 'Facts are measured when the proxy is made.')) : null;
  const checks = a.checks && a.checks.length ? h('div', { class: 'panel', id: 'checks' },
    h('div', { class: 'bar' }, h('strong', {}, 'Attach rules'),
      h('span', { class: 'badge ' + (a.checks.every((c) => c.pass) ? 'ready' : 'failed') },
        a.checks.filter((c) => c.pass).length + ' / ' + a.checks.length + ' pass')),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Rule'), h('th', {}, 'Master'), h('th', {}, 'Proxy'), h('th', {}, ''))),
      h('tbody', {}, a.checks.map((c) => h('tr', {}, h('td', {}, c.rule), h('td', {}, c.master), h('td', {}, c.proxy),
        h('td', {}, h('span', { class: 'badge ' + (c.pass ? 'ready' : 'failed') }, c.pass ? 'pass' : 'fail'))))))) : null;
  const dl = h('div', { class: 'downloads' },
    h('a', { class: 'button', id: 'dl-master', href: content(repo, a.id, name) + '?download=1' }, 'Download master · ' + bytes(a.size)),
    a.proxy.manifest ? h('a', { class: 'button ghost', id: 'dl-proxy',
      href: content(repo, a.proxy.manifest, name.replace(/\.[^.]*$/, '') + '.proxy.mov') + '?download=1' }, 'Download proxy · ' + bytes(a.proxy.size)) : null);
  show(h('div', { class: 'bar' }, h('h1', { id: 'asset-name' }, name)),
    h('div', { class: 'asset' },
      h('div', {}, h('div', { class: 'player' }, stage, a.video ? scrubBar(repo, a, video) : null), dl),
      h('div', {},
        h('div', { class: 'panel' }, h('table', {}, h('tbody', {},
          h('tr', {}, h('th', {}, 'Path'), h('td', { id: 'asset-path' }, a.path)),
          h('tr', {}, h('th', {}, 'Size'), h('td', {}, bytes(a.size))),
          h('tr', {}, h('th', {}, 'Content'), h('td', { class: 'mono' }, short(a.id))),
          h('tr', {}, h('th', {}, 'Commit'), h('td', {}, h('a', { class: 'mono', href: base + '/-/commit/' + a.commit }, short(a.commit))))))),
        proxyPanel, facts, checks)));
}

// ---- history and one commit -------------------------------------------------

async function logPage(repo, rev) {
  const base = '/' + enc(repo);
  setCrumbs([[repo, base], ['History']]);
  const header = await repoHeader(repo, 'log', rev);
  const list = h('div', { class: 'list', id: 'log' });
  const more = h('div', { class: 'more' });
  const load = async (from) => {
    const j = await api(base + '/log?limit=30' + (from ? '&rev=' + enc(from) : ''));
    for (const c of j.commits) {
      const p = c.proxies || {};
      list.append(h('div', { class: 'row' },
        h('div', { class: 'grow' }, h('a', { href: base + '/-/commit/' + c.id }, firstLine(c.message)),
          h('div', { class: 'muted' }, c.author.name + ' · ' + when(c.author.time))),
        h('span', { class: 'side' }, p.videos ? p.ready + '/' + p.videos + ' proxies' + (p.failed ? ', ' + p.failed + ' failed' : '') : c.files + ' files'),
        h('a', { class: 'side mono', href: base + '/-/tree/' + c.id }, short(c.id))));
    }
    more.replaceChildren(j.next ? h('button', { onclick: () => load(j.next) }, 'Older commits') : '');
  };
  await load(rev);
  show(...header, list, more);
}

async function commitPage(repo, id) {
  const base = '/' + enc(repo);
  setCrumbs([[repo, base], ['Commit ' + short(id)]]);
  const c = await api(base + '/commit?id=' + enc(id));
  const t = c.totals;
  show(h('div', { class: 'panel' },
    h('h1', { id: 'commit-title' }, firstLine(c.message)),
    c.message.trim().includes('\n') ? h('p', { class: 'muted' }, c.message.trim().split('\n').slice(1).join('\n').trim()) : null,
    h('div', { class: 'muted' }, c.author.name + ' <' + c.author.email + '> · ' + when(c.author.time)),
    h('div', { class: 'chips' }, h('span', { class: 'chip mono' }, c.id),
      ...c.parents.map((p) => h('a', { class: 'chip mono', href: base + '/-/commit/' + p }, 'parent ' + short(p))),
      h('a', { class: 'chip', href: base + '/-/tree/' + c.id }, 'Browse files'))),
  h('h2', {}, t.files + ' files changed · ' + bytes(t.bytes_new) + ' new · ' + bytes(t.bytes_shared) + ' shared'),
  h('div', { class: 'panel' }, h('table', { class: 'diff', id: 'diff' },
    h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, 'File'), h('th', { class: 'num hide-narrow' }, 'Size'),
      h('th', { class: 'num' }, 'New'), h('th', { class: 'num' }, 'Shared'))),
    h('tbody', {}, c.files.map((f) => h('tr', {},
      h('td', {}, h('span', { class: 'badge ' + f.status }, { A: 'added', M: 'modified', D: 'removed' }[f.status] || f.status)),
      h('td', {}, f.status === 'D' ? f.path : h('a', { href: base + '/-/asset/' + c.id + '/' + encPath(f.path) }, f.path)),
      h('td', { class: 'num hide-narrow' }, f.status === 'A' ? bytes(f.new_size) : bytes(f.old_size) + ' → ' + bytes(f.new_size)),
      h('td', { class: 'num' }, bytes(f.bytes_new)),
      h('td', { class: 'num' }, bytes(f.bytes_shared))))))));
}

// ---- the queue, polled --------------------------------------------------------

async function queuePage(repo) {
  const base = '/' + enc(repo);
  setCrumbs([[repo, base], ['Queue']]);
  const header = await repoHeader(repo, 'queue', null);
  const body = h('div', { id: 'queue' });
  const draw = (j) => {
    const c = j.counts;
    const sec = (title, state, rows) => rows.length ? [h('h2', {}, title + ' (' + rows.length + ')'),
      h('div', { class: 'list', id: 'jobs-' + state }, rows.map((x) => h('div', { class: 'row job', 'data-job': x.id, 'data-state': x.state },
        h('div', { class: 'grow' },
          h('a', { href: base + '/-/asset/HEAD/' + encPath(x.path || '') }, x.path || short(x.asset)),
          h('span', { class: 'muted' }, ' → ' + x.target),
          x.state === 'running' ? h('div', { class: 'progress' }, h('div', { style: null, 'data-p': x.progress })) : null,
          x.error && x.state !== 'done' ? h('div', { class: 'reason' }, x.error) : null),
        h('span', { class: 'side' }, h('span', { class: 'badge ' + x.state }, x.state),
          ' ' + (x.state === 'running' ? Math.round(100 * x.progress) + ' %' : when(x.updated))))))] : [];
    const by = (s) => j.jobs.filter((x) => x.state === s);
    body.replaceChildren(
      h('div', { class: 'chips', id: 'counts' },
        ...['running', 'queued', 'failed', 'done'].map((s) => h('span', { class: 'chip', 'data-count': s }, c[s] + ' ' + s))),
      ...sec('Running', 'running', by('running')), ...sec('Queued', 'queued', by('queued')),
      ...sec('Failed', 'failed', by('failed')), ...sec('Done', 'done', by('done')),
      j.jobs.length ? '' : h('p', { class: 'muted' }, 'No jobs: proxies are made when videos are pushed.'));
    for (const el of body.querySelectorAll('[data-p]')) el.style.width = (100 * el.dataset.p) + '%';
  };
  draw(await api(base + '/queue'));
  show(...header, body);
  let alive = true;
  const timer = setInterval(async () => {
    if (!alive) return;
    try { draw(await api(base + '/queue')); } catch (e) { /* the next poll tries again */ }
  }, 1000);
  stopPolling = () => { alive = false; clearInterval(timer); };
}

// ---- routing ------------------------------------------------------------------

async function route() {
  if (stopPolling) { stopPolling(); stopPolling = null; }
  const segs = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  try {
    if (!segs.length) return await reposPage();
    if (segs[0] === '_login') return loginPage();
    const repo = segs[0];
    if (segs.length === 1 || segs[1] !== '-') return await treePage(repo, null, '');
    const [view, arg, ...rest] = segs.slice(2);
    if (view === 'tree') return await treePage(repo, arg === 'HEAD' ? null : arg, rest.join('/'));
    if (view === 'asset') return await assetPage(repo, arg, rest.join('/'));
    if (view === 'log') return await logPage(repo, arg || null);
    if (view === 'commit') return await commitPage(repo, arg);
    if (view === 'queue') return await queuePage(repo);
    return await treePage(repo, null, '');
  } catch (e) {
    fail(e);
  } finally {
    document.title = [crumbs.textContent.replace(/\//g, ' / '), 'Dits'].filter(Boolean).join(' · ');
    main.dataset.ready = '1';
    performance.mark('dits-rendered'); // bench/web.sh reads it: time to first render
  }
}

route();
