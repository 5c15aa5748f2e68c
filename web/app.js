// Lunar Nova's web UI: wires the create panel, the job history with its
// live jobs, and the viewer with a job's downloads, mesh stats and input
// images. The server is the only source of truth: the history is GET /jobs
// (so it survives reloads and restarts), live jobs follow their event
// streams, and the selected job is kept in the address (#job=<id>).

import { api, watchJob, isFinal, describeError, ApiError, isTokenError, whenTokenAccepted } from './api.js';
import { initCreate } from './create.js';
import { initToken } from './token.js';
import {
  h,
  formatBytes,
  formatCount,
  formatSeconds,
  formatTime,
  jobSeconds,
  jobTitle,
  stageWord,
  statusWord,
  viewName,
} from './format.js';

const PAGE_SIZE = 8;
const FORMATS = [
  { ext: 'glb', label: 'GLB', what: 'glTF binary with vertex colours: viewers, Blender, game engines' },
  { ext: 'obj', label: 'OBJ', what: 'Wavefront OBJ with vertex colours' },
  { ext: 'ply', label: 'PLY', what: 'binary PLY with vertex colours' },
  { ext: 'stl', label: 'STL', what: 'binary STL for 3D printing (no colours)' },
];
// Offered beside them for a model with a baked texture: the OBJ, its
// material and the texture image in one archive.
const OBJ_ZIP = { ext: 'zip', label: 'OBJ + texture', what: 'Wavefront OBJ with its material and texture image, as one zip' };

const $ = (id) => document.getElementById(id);
const el = {
  status: $('server-status'),
  device: $('server-device'),
  deviceName: $('server-device-name'),
  list: $('job-list'),
  historyError: $('history-error'),
  pageInfo: $('page-info'),
  newer: $('page-newer'),
  older: $('page-older'),
  refresh: $('refresh'),
  stage: $('stage'),
  message: $('viewer-message'),
  caption: $('viewer-caption'),
  reset: $('reset-view'),
  wire: $('toggle-wireframe'),
  texture: $('toggle-texture'),
  grid: $('toggle-grid'),
  downloads: $('downloads'),
  stats: $('stats'),
  inputs: $('inputs'),
};

const state = {
  offset: 0,
  total: 0,
  pageIds: [],
  jobs: new Map(), // id → latest record
  nodes: new Map(), // id → <li> of the history
  watchers: new Map(), // id → stop()
  selected: null,
  shownModel: null, // id whose model the viewer holds
  shownInputs: null,
  listSeq: 0, // bumped by every change of the list; an older answer is dropped
};

let viewer = null;
// Why this browser shows no 3D view ({text, detail}), once known: the
// viewer's files could not be loaded, or there is no WebGL.
let viewerProblem = null;
let historyWaitsForToken = false;
let viewerReady = null;
let create = null;
// Jobs sent by others (scripts, another tab) show up within this long.
const HISTORY_REFRESH_MS = 15000;

// ---- server status ------------------------------------------------------

function setStatus(text, kind = 'ok') {
  el.status.textContent = text;
  el.status.dataset.kind = kind;
}

// serve --pull-models: the download of missing weights, as /health reports it.
function downloadText(d) {
  if (!d) return '';
  if (d.state === 'downloading') {
    const file = d.file ? d.file.split('/').pop() : '';
    const part = d.total ? ` ${Math.floor((100 * d.done) / d.total)}% of ${formatBytes(d.total)}` : d.done ? ` ${formatBytes(d.done)}` : '';
    return `downloading ${d.model}${file ? ` (${file}${part})` : ''}`;
  }
  if (d.state === 'ready') return d.restart_needed ? `${d.model} downloaded: restart the server to use it` : `${d.model} downloaded and in use`;
  return `download of ${d.model} failed: ${d.message}`;
}

// What computes the network, as /health says: "cpu" or "vulkan:N (name)",
// with the reason serve chose it (device_reason) as the tooltip, so that a
// user who expected the GPU sees why the CPU computes.
function showDevice(hl) {
  if (!hl.device) {
    el.device.hidden = true;
    return;
  }
  const cpu = hl.device === 'cpu';
  el.deviceName.textContent = hl.device;
  el.device.dataset.kind = cpu ? 'cpu' : 'gpu';
  const who = cpu ? 'The CPU computes the network' : `The GPU ${hl.device} computes the network`;
  const named = `the server was started with --device ${hl.device.split(' ')[0]}`;
  const why = hl.device_reason === 'asked for' ? named : hl.device_reason;
  el.device.title = why ? `${who}: ${why}` : `${who}.`;
  el.device.hidden = false;
}

let downloadTimer = null;

async function checkHealth() {
  try {
    const hl = await api.health();
    const dl = downloadText(hl.download);
    setStatus(`Ready · engine ${hl.engine} · ${hl.queue ? `${hl.queue.depth} queued, ${hl.queue.running} running` : ''}`.replace(/ · $/, '') + (dl ? ` · ${dl}` : ''),
      hl.download && hl.download.state === 'failed' ? 'warn' : 'ok');
    showDevice(hl);
    create.setEngines(hl.engines || (hl.engine ? [hl.engine] : []));
    create.setBackground(hl.background);
    // While weights come down, follow them every two seconds.
    clearTimeout(downloadTimer);
    if (hl.download && hl.download.state === 'downloading') downloadTimer = setTimeout(checkHealth, 2000);
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 503) setStatus('The server is starting: the engine is loading…', 'warn');
    else setStatus(describeError(err), 'error');
    return false;
  }
}

// ---- history ------------------------------------------------------------

function showHistoryError(text) {
  el.historyError.textContent = text || '';
  el.historyError.hidden = !text;
}

async function loadPage() {
  const seq = ++state.listSeq;
  try {
    const page = await api.listJobs(PAGE_SIZE, state.offset);
    if (seq !== state.listSeq) return; // the list changed meanwhile
    if (page.jobs.length === 0 && state.offset > 0 && page.total > 0) {
      state.offset = Math.max(0, Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE);
      return loadPage();
    }
    state.total = page.total;
    state.pageIds = page.jobs.map((j) => j.id);
    for (const job of page.jobs) remember(job);
    showHistoryError('');
    renderList();
  } catch (err) {
    if (seq === state.listSeq) showHistoryError(`The job history cannot be read. ${describeError(err)}`);
    // Read again as soon as the API token is given.
    if (isTokenError(err) && !historyWaitsForToken) {
      historyWaitsForToken = true;
      whenTokenAccepted().then(() => {
        historyWaitsForToken = false;
        loadPage();
      });
    }
  }
}

// How far a job has come: a record of the list may be older than the one
// its event stream brought meanwhile, and must not undo it.
function reach(job) {
  const rank = { queued: 0, running: 1 }[job.status] ?? 2;
  return rank + (rank === 1 ? Math.min(Math.max(job.progress || 0, 0), 1) * 0.99 : 0);
}

function remember(job) {
  const known = state.jobs.get(job.id);
  if (!known || reach(job) >= reach(known)) state.jobs.set(job.id, job);
  if (!isFinal(state.jobs.get(job.id))) follow(job.id);
}

function follow(id) {
  if (state.watchers.has(id)) return;
  const stop = watchJob(id, {
    onUpdate: (job) => {
      state.jobs.set(job.id, job);
      const node = state.nodes.get(job.id);
      if (node) updateItem(node, job);
      if (state.selected === job.id) showJob(job);
      if (isFinal(job)) {
        state.watchers.delete(job.id);
        checkHealth();
      }
    },
    onGone: () => {
      state.watchers.delete(id);
      forget(id);
    },
    onTrouble: (err) => {
      if (err) setStatus(`Connection to the server lost; retrying… (${describeError(err)})`, 'error');
      else if (el.status.dataset.kind === 'error') setStatus('Connected again.');
    },
  });
  state.watchers.set(id, stop);
}

function forget(id) {
  const stop = state.watchers.get(id);
  if (stop) stop();
  state.watchers.delete(id);
  state.jobs.delete(id);
  state.nodes.delete(id);
  state.pageIds = state.pageIds.filter((x) => x !== id);
  if (state.selected === id) select(null);
  renderList();
}

function renderList() {
  const nodes = state.pageIds.map((id) => {
    let node = state.nodes.get(id);
    if (!node) {
      node = makeItem(id);
      state.nodes.set(id, node);
    }
    updateItem(node, state.jobs.get(id));
    return node;
  });
  if (nodes.length === 0) {
    el.list.replaceChildren(h('li', { class: 'empty' }, 'No jobs yet. Create one above: the finished models are listed here.'));
  } else {
    // Re-inserting nodes that are already in place keeps their focus.
    nodes.forEach((node, i) => {
      if (el.list.children[i] !== node) el.list.insertBefore(node, el.list.children[i] || null);
    });
    while (el.list.children.length > nodes.length) el.list.lastElementChild.remove();
  }
  for (const id of [...state.nodes.keys()]) if (!state.pageIds.includes(id)) state.nodes.delete(id);
  const first = state.total === 0 ? 0 : state.offset + 1;
  const last = state.offset + state.pageIds.length;
  el.pageInfo.textContent = state.total === 0 ? '' : `${first}–${last} of ${state.total}`;
  el.newer.disabled = state.offset === 0;
  el.older.disabled = last >= state.total;
}

function makeItem(id) {
  const thumb = h('span', { class: 'thumb', 'aria-hidden': 'true' });
  const title = h('span', { class: 'job-title', id: `job-${id}-title` });
  const badge = h('span', { class: 'badge', id: `job-${id}-status` });
  const meta = h('span', { class: 'job-meta', id: `job-${id}-meta` });
  const bar = h('progress', { max: 1, value: 0 });
  const stage = h('span', { class: 'job-stage', id: `job-${id}-stage` });
  const progress = h('span', { class: 'job-progress' }, bar, stage);
  const error = h('span', { class: 'job-error', id: `job-${id}-error` });
  // The button's name is the job and its status; the live stage and
  // percentage are its description, read when it gets the focus, so a
  // screen reader does not announce the name again at every percent.
  const selectBtn = h(
    'button',
    {
      type: 'button', class: 'job-select', 'aria-pressed': 'false', onclick: () => select(id),
      'aria-labelledby': `job-${id}-title job-${id}-status`,
      'aria-describedby': `job-${id}-meta job-${id}-stage job-${id}-error`,
    },
    thumb,
    h('span', { class: 'job-main' }, title, h('span', { class: 'job-line' }, badge, meta), progress, error),
  );
  const cancel = h('button', { type: 'button', class: 'cancel secondary small', onclick: () => cancelJob(id) }, 'Cancel');
  const del = h('button', { type: 'button', class: 'delete secondary small', onclick: () => deleteJob(id, del) }, 'Delete');
  const li = h('li', { class: 'job', 'data-id': id }, selectBtn, h('div', { class: 'job-actions' }, cancel, del));
  li._parts = { thumb, title, badge, meta, bar, stage, progress, error, selectBtn, cancel, del };
  return li;
}

// How the object was separated, in words: a model's name stays as it is.
function backgroundWord(b) {
  return b.split(', ').map((m) => ({ alpha: 'the image\'s alpha channel', classic: 'by colour', off: 'kept as it is' }[m] || `rembg model ${m}`)).join(', ');
}

function updateItem(li, job) {
  if (!job) return;
  const p = li._parts;
  li.dataset.status = job.status;
  p.title.textContent = jobTitle(job);
  p.title.title = jobTitle(job);
  p.badge.textContent = statusWord(job.status);
  p.badge.className = `badge ${job.status}`;
  const bits = [job.engine];
  if (isFinal(job)) bits.push(formatSeconds(jobSeconds(job)));
  if (job.mesh) bits.push(`${formatCount(job.mesh.faces)} faces`);
  bits.push(formatTime(job.created_at));
  p.meta.textContent = bits.filter(Boolean).join(' · ');
  const active = !isFinal(job);
  p.progress.hidden = !active;
  if (active) {
    p.bar.value = job.progress || 0;
    p.bar.setAttribute('aria-label', `Progress of ${jobTitle(job)}`);
    p.stage.textContent = job.status === 'queued' ? 'waiting for a worker' : `${stageWord(job.stage)} · ${Math.round((job.progress || 0) * 100)}%`;
  }
  p.error.hidden = job.status !== 'failed';
  p.error.textContent = job.status === 'failed' ? (job.error && job.error.message) || 'failed' : '';
  const wantPreview = job.status === 'succeeded';
  if (wantPreview && !p.thumb.querySelector('img')) {
    p.thumb.replaceChildren(h('img', { src: `/jobs/${job.id}/preview.png`, alt: '', width: 56, height: 56, loading: 'lazy' }));
  } else if (!wantPreview) {
    p.thumb.replaceChildren(h('span', { class: `thumb-icon ${job.status}` }));
  }
  // Focus on a button that disappears moves to the job itself.
  if (!active && document.activeElement === p.cancel) p.selectBtn.focus();
  p.cancel.hidden = !active;
  p.cancel.setAttribute('aria-label', `Cancel ${jobTitle(job)}`);
  p.del.setAttribute('aria-label', deleteLabel(job.id, p.del));
  const selected = state.selected === job.id;
  p.selectBtn.setAttribute('aria-pressed', String(selected));
  li.classList.toggle('selected', selected);
}

async function cancelJob(id) {
  try {
    const job = await api.cancelJob(id);
    state.jobs.set(id, job);
    const node = state.nodes.get(id);
    if (node) updateItem(node, job);
    if (state.selected === id) showJob(job);
    showHistoryError('');
  } catch (err) {
    showHistoryError(describeError(err));
  }
}

// The Delete button's accessible name says what it does now: delete, or
// (armed) confirm the deletion.
function deleteLabel(id, button) {
  const job = state.jobs.get(id);
  const name = job ? jobTitle(job) : 'this job';
  return button.classList.contains('confirm') ? `Really delete ${name}? Press again to delete` : `Delete ${name}`;
}

// Deleting asks once more on the same button, so one stray click or key
// press loses nothing.
async function deleteJob(id, button) {
  if (!button.classList.contains('confirm')) {
    button.classList.add('confirm');
    button.textContent = 'Really delete?';
    button.setAttribute('aria-label', deleteLabel(id, button));
    button._timer = setTimeout(() => {
      button.classList.remove('confirm');
      button.textContent = 'Delete';
      button.setAttribute('aria-label', deleteLabel(id, button));
    }, 5000);
    return;
  }
  clearTimeout(button._timer);
  button.disabled = true;
  try {
    await api.deleteJob(id);
    showHistoryError('');
    const pos = state.pageIds.indexOf(id);
    forget(id);
    await loadPage();
    // The focus goes to the next job, or the list's heading.
    const next = el.list.querySelectorAll('.job-select')[Math.min(pos, state.pageIds.length - 1)];
    (next || $('history-title')).focus?.();
  } catch (err) {
    button.disabled = false;
    button.classList.remove('confirm');
    button.textContent = 'Delete';
    if (err instanceof ApiError && err.status === 404) forget(id);
    else showHistoryError(describeError(err));
  }
}

// ---- selection and the viewer --------------------------------------------

async function select(id) {
  state.selected = id;
  const url = new URL(location.href);
  url.hash = id ? `job=${id}` : '';
  history.replaceState(null, '', id ? url : url.pathname + url.search);
  for (const [jid, node] of state.nodes) {
    node._parts.selectBtn.setAttribute('aria-pressed', String(jid === id));
    node.classList.toggle('selected', jid === id);
  }
  if (!id) {
    showNothing();
    return;
  }
  let job = state.jobs.get(id);
  if (!job) {
    try {
      job = await api.getJob(id);
      remember(job);
    } catch (err) {
      showNothing(err instanceof ApiError && err.status === 404 ? 'That job no longer exists.' : describeError(err));
      if (isTokenError(err))
        whenTokenAccepted().then(() => {
          if (state.selected === id && !state.jobs.has(id)) select(id);
        });
      return;
    }
  }
  if (state.selected !== id) return;
  showJob(job);
}

function showNothing(text) {
  state.shownModel = null;
  delete el.stage.dataset.model;
  state.shownInputs = null;
  if (viewer) viewer.clear();
  if (text) setMessage(text);
  else if (viewerProblem) setMessage(viewerProblem.text, 'error', viewerProblem.detail);
  else setMessage('No model selected.');
  el.caption.textContent = 'Pick a finished job to look at its model.';
  setTools(false);
  el.downloads.replaceChildren(h('p', { class: 'hint' }, 'Nothing to download yet.'));
  el.stats.replaceChildren(stat('Model', 'none'));
  el.inputs.replaceChildren();
}

// The stage's message: a line, and an optional smaller one under it.
function setMessage(text, kind = '', detail = '') {
  el.message.replaceChildren(...(text ? [h('span', {}, text)] : []),
    ...(detail ? [' ', h('span', { class: 'stage-detail' }, detail)] : []));
  el.message.hidden = !text;
  el.message.dataset.kind = kind;
}

function setTools(on) {
  el.reset.disabled = !on;
  el.wire.disabled = !on;
  el.grid.disabled = !on;
  // Only a model with a baked texture has the choice.
  const tex = on && viewer && viewer.hasTexture();
  el.texture.hidden = !tex;
  el.texture.disabled = !tex;
}

function stat(name, value) {
  return h('div', {}, h('dt', {}, name), h('dd', {}, value));
}

function showJob(job) {
  el.caption.textContent = `${jobTitle(job)} · ${statusWord(job.status)}${job.created_at ? ` · ${formatTime(job.created_at)}` : ''}`;
  showInputs(job);
  showStats(job);
  showDownloads(job);
  if (job.status === 'succeeded') {
    if (state.shownModel !== job.id) showModel(job);
    return;
  }
  state.shownModel = null;
  delete el.stage.dataset.model;
  if (viewer) viewer.clear();
  setTools(false);
  if (job.status === 'queued') setMessage('Queued: waiting for a worker…', 'busy');
  else if (job.status === 'running') setMessage(`${stageWord(job.stage)}… ${Math.round((job.progress || 0) * 100)}%`, 'busy');
  else if (job.status === 'failed') setMessage(`This job failed: ${(job.error && job.error.message) || 'no reason given'}.`, 'error');
  else setMessage('This job was canceled before it finished.');
}

async function showModel(job) {
  state.shownModel = job.id;
  setTools(false);
  if (!viewer) {
    if (!viewerProblem) {
      setMessage('Loading the 3D viewer…', 'busy');
      await viewerReady;
    }
    if (state.selected !== job.id) return;
    if (!viewer) {
      // No 3D view in this browser: say why; the downloads are shown.
      setMessage(viewerProblem.text, 'error', viewerProblem.detail);
      return;
    }
  }
  delete el.stage.dataset.model;
  setMessage('Loading the model…', 'busy');
  try {
    const shown = await viewer.load(`/jobs/${job.id}/model.glb`);
    if (!shown || state.selected !== job.id) return;
    setMessage('');
    setTools(true);
    el.stage.dataset.model = job.id;
  } catch (err) {
    state.shownModel = null;
    setMessage(`The model cannot be shown: ${err && err.message ? err.message : err}`, 'error');
  }
}

function showInputs(job) {
  const key = `${job.id}:${(job.inputs || []).length}`;
  if (state.shownInputs === key) return;
  state.shownInputs = key;
  el.inputs.replaceChildren(
    ...(job.inputs || []).map((input, n) => {
      const v = job.views && job.views[n];
      const view = v ? ` · ${viewName(v.azimuth, v.elevation)} (${v.azimuth}°, ${v.elevation}°)` : '';
      const src = `/jobs/${job.id}/inputs/${n}`;
      return h(
        'li',
        {},
        h(
          'a',
          { href: src, target: '_blank', rel: 'noopener', title: `Open ${input.name} in a new tab` },
          h('img', { src, alt: `Input ${n + 1}: ${input.name}`, loading: 'lazy' }),
        ),
        h('span', { class: 'input-caption' }, `${input.name}${view} · ${formatBytes(input.bytes)}`),
      );
    }),
  );
}

function showStats(job) {
  const rows = [];
  const m = job.mesh;
  if (m) {
    const size = m.bbox_max.map((v, i) => v - m.bbox_min[i]);
    const fmt = (a) => a.map((v) => v.toFixed(3)).join(', ');
    rows.push(stat('Vertices', formatCount(m.vertices)));
    rows.push(stat('Faces', formatCount(m.faces)));
    rows.push(stat('Size (x × y × z)', `${size.map((v) => v.toFixed(3)).join(' × ')} m`));
    rows.push(stat('Bounding box', `(${fmt(m.bbox_min)}) to (${fmt(m.bbox_max)})`));
    rows.push(stat('Watertight', m.watertight ? 'yes' : 'no'));
    if (m.texture)
      rows.push(stat('Texture', `${m.texture.size} × ${m.texture.size} ${m.texture.format.toUpperCase()}, ${formatCount(m.texture.charts)} charts`));
    if (m.components !== undefined) rows.push(stat('Parts', formatCount(m.components)));
  } else {
    rows.push(stat('Model', job.status === 'succeeded' ? 'no statistics' : statusWord(job.status).toLowerCase()));
  }
  rows.push(stat('Engine', job.engine || '—'));
  // What its worker computed on (records before the Vulkan backend have none).
  if (job.device) rows.push(stat('Computed on', job.device));
  if (isFinal(job)) rows.push(stat('Time', formatSeconds(jobSeconds(job))));
  if (job.options) rows.push(stat('Resolution', String(job.options.resolution)));
  if (job.options) rows.push(stat('Origin', job.options.origin === 'bottom' ? 'bottom (y = 0)' : 'centre'));
  if (job.background) rows.push(stat('Background', backgroundWord(job.background)));
  for (const w of job.warnings || []) rows.push(stat('Warning', w));
  el.stats.replaceChildren(...rows);
}

function showDownloads(job) {
  if (job.status !== 'succeeded') {
    el.downloads.replaceChildren(
      h('p', { class: 'hint' }, isFinal(job) ? 'This job has no model to download.' : 'The downloads appear when the model is ready.'),
    );
    return;
  }
  const formats = job.mesh && job.mesh.texture ? [...FORMATS, OBJ_ZIP] : FORMATS;
  el.downloads.replaceChildren(
    ...formats.map((f) =>
      h(
        'a',
        {
          class: 'button download',
          href: `/jobs/${job.id}/model.${f.ext}`,
          download: `${job.id}.${f.ext}`,
          title: f.what,
          'aria-label': `Download ${f.label}: ${f.what}`,
          'data-format': f.ext,
        },
        f.label,
      ),
    ),
  );
}

// ---- the 3D viewer's start ---------------------------------------------

const NO_WEBGL = {
  text: 'WebGL is not available in this browser, so the model cannot be shown here.',
  detail: 'The downloads below still work. Turning on hardware acceleration in the browser\'s settings, or another browser, may help.',
};

// three.js draws with WebGL 2: a context on a throwaway canvas says whether
// this browser has it, before three.js is loaded at all.
function webglAvailable() {
  try {
    const gl = document.createElement('canvas').getContext('webgl2');
    if (!gl) return false;
    const lose = gl.getExtension('WEBGL_lose_context');
    if (lose) lose.loseContext();
    return true;
  } catch {
    return false;
  }
}

// The address of three.js in the page's import map (/vendor/three/…).
function threeUrl() {
  try {
    return JSON.parse(document.querySelector('script[type="importmap"]').textContent).imports.three;
  } catch {
    return null;
  }
}

// Loads the viewer (viewer.js and three.js, served by the server from its
// vendor folder) and creates it on the stage. Resolves to null once
// `viewer` is set, or to {text, detail} saying why there is no 3D view.
async function startViewer() {
  if (!webglAvailable()) return NO_WEBGL;
  let mod;
  try {
    mod = await import('./viewer.js');
  } catch (err) {
    // Name the file the server lacks when it is three.js itself.
    let what = err && err.message ? err.message : String(err);
    const url = threeUrl();
    if (url) {
      try {
        const r = await fetch(url, { method: 'HEAD', cache: 'no-store' });
        if (!r.ok) what = `${url} answers ${r.status}`;
      } catch {
        // the server cannot be reached: keep the import's own message
      }
    }
    return {
      text: `3D viewer files are missing on the server (${what}).`,
      detail: 'The model cannot be shown here; the downloads below still work. The server\'s log names the missing files and how to install them.',
    };
  }
  viewer = mod.createViewer(el.stage);
  return viewer ? null : NO_WEBGL;
}

// ---- start-up -------------------------------------------------------------

function jobFromHash() {
  const m = /job=([0-9a-f]+)/.exec(location.hash);
  return m ? m[1] : null;
}

async function main() {
  initToken({
    onAccepted: () => $('create-title').focus(),
    // Without the token the history is refused, which brings the form back.
    onForgotten: () => loadPage(),
    announce: (text) => {
      $('announce').textContent = text;
    },
  });
  create = initCreate({
    onCreated: (job) => {
      state.listSeq++;
      state.jobs.set(job.id, job);
      if (state.offset !== 0) {
        state.offset = 0;
        loadPage();
      } else {
        state.pageIds = [job.id, ...state.pageIds.filter((x) => x !== job.id)].slice(0, PAGE_SIZE);
        state.total += 1;
        renderList();
      }
      follow(job.id);
      select(job.id);
      checkHealth();
    },
  });

  viewerReady = startViewer().then((problem) => {
    if (!problem) return;
    viewerProblem = problem;
    // A job whose model was waiting for the viewer says why (showModel);
    // with nothing selected, the stage says it at once.
    if (!state.selected) showNothing();
  });

  el.reset.addEventListener('click', () => viewer && viewer.resetView());
  el.wire.addEventListener('click', () => {
    const on = el.wire.getAttribute('aria-pressed') !== 'true';
    el.wire.setAttribute('aria-pressed', String(on));
    if (viewer) viewer.setWireframe(on);
  });
  el.grid.addEventListener('click', () => {
    const on = el.grid.getAttribute('aria-pressed') !== 'true';
    el.grid.setAttribute('aria-pressed', String(on));
    if (viewer) viewer.setGrid(on);
  });
  el.texture.addEventListener('click', () => {
    const on = el.texture.getAttribute('aria-pressed') !== 'true';
    el.texture.setAttribute('aria-pressed', String(on));
    if (viewer) viewer.setTexture(on);
  });
  el.refresh.addEventListener('click', () => loadPage());
  el.newer.addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    loadPage();
  });
  el.older.addEventListener('click', () => {
    state.offset += PAGE_SIZE;
    loadPage();
  });
  window.addEventListener('hashchange', () => {
    const id = jobFromHash();
    if (id !== state.selected) select(id);
  });

  // The options and limits this server takes (GET /options, answered even
  // while the engine loads); without them the form keeps its own values
  // and the server has the last word.
  try {
    create.setOptions(await api.options());
  } catch (err) {
    console.warn(`GET /options: ${describeError(err)}`);
  }
  // A server still loading its engine answers 503: ask again until ready.
  while (!(await checkHealth())) await new Promise((r) => setTimeout(r, 2000));
  await loadPage();
  const wanted = jobFromHash();
  if (wanted) select(wanted);
  else showNothing();
  setInterval(() => {
    if (document.visibilityState === 'visible') loadPage();
  }, HISTORY_REFRESH_MS);
}

main();
