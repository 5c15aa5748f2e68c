// Small helpers shared by the UI's modules: building DOM nodes and turning
// job records into the words and numbers a person reads.

// h('li', {class: 'x', onclick: fn}, child, 'text', …): an element. Keys that
// start with "on" add listeners; null/false attributes are left out.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1048576).toFixed(n < 10485760 ? 1 : 0)} MB`;
}

export function formatCount(n) {
  return Number(n).toLocaleString('en-US');
}

export function formatSeconds(s) {
  if (!Number.isFinite(s) || s < 0) return '—';
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

// Seconds a job took: its worker's total, else finished minus started.
export function jobSeconds(job) {
  if (job.timings && Number.isFinite(job.timings.total)) return job.timings.total;
  if (job.started_at && job.finished_at) return (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000;
  return NaN;
}

export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return sameDay ? time : `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`;
}

// "mug.png" for one input, "4 views: front.png, …" for several.
export function jobTitle(job) {
  const inputs = job.inputs || [];
  if (inputs.length === 0) return `Job ${job.id.slice(0, 8)}`;
  if (inputs.length === 1) return inputs[0].name || 'image';
  return `${inputs.length} views: ${inputs.map((i) => i.name).join(', ')}`;
}

const STATUS_WORDS = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Done',
  failed: 'Failed',
  canceled: 'Canceled',
};

export function statusWord(status) {
  return STATUS_WORDS[status] || status;
}

// The stage name as a phrase ("simplifying" → "Simplifying").
export function stageWord(stage) {
  if (!stage) return '';
  return stage.charAt(0).toUpperCase() + stage.slice(1).replace(/_/g, ' ');
}

// The name of a view direction: the four sides by name, others by degrees.
export function viewName(az, el = 0) {
  const a = ((Math.round(az) % 360) + 360) % 360;
  const names = { 0: 'front', 90: 'right', 180: 'back', 270: 'left' };
  const side = names[a] || `${a}°`;
  if (!el) return side;
  return `${side}, ${Math.abs(el)}° ${el > 0 ? 'up' : 'down'}`;
}
