// The "Create a model" panel: one image or several views picked by drag and
// drop, the file picker or paste; thumbnails with a view (azimuth,
// elevation) per image for multi-view; options; checks that mirror the
// server's limits before anything is sent; then POST /generate or
// /generate/multi with the field names of the API. The limits, and each
// option's range, default and choices, are the server's: GET /options
// (setOptions below); until it answers, the page checks only what every
// server refuses, and the server has the last word anyway.

import { api, describeError, isTokenError, newIdempotencyKey, whenTokenAccepted } from './api.js';
import { h, formatBytes, viewName } from './format.js';

const EXTENSIONS = /\.(png|jpe?g|webp)$/i;

// The server's limits, from GET /options: bytes per file, images per
// multi-view job, image types. null until the server has answered.
const limits = { maxFileBytes: null, minViews: 2, maxViews: null, types: new Set(['image/png', 'image/jpeg', 'image/webp']) };

// Why a file cannot be sent, or null when it can.
export function fileProblem(file) {
  const typeOk = limits.types.has(file.type) || (!file.type && EXTENSIONS.test(file.name));
  if (!typeOk) return `"${file.name}" is not a PNG, JPEG or WebP image.`;
  if (file.size === 0) return `"${file.name}" is empty.`;
  if (limits.maxFileBytes !== null && file.size > limits.maxFileBytes)
    return `"${file.name}" is ${formatBytes(file.size)}; the limit is ${formatBytes(limits.maxFileBytes)} per image.`;
  return null;
}

// "2–8": the number of views a multi-view job takes ("2 or more" until known).
function viewRange(sep = '–') {
  return limits.maxViews === null ? `${limits.minViews} or more` : `${limits.minViews}${sep}${limits.maxViews}`;
}

// "0.1–1" for an option of the table; "0 (off) or 4–100000000" when 0 turns it off.
function optionRange(row) {
  const range = `${row.min}–${row.max}`;
  return row.zero_off && row.min > 0 ? `0 (off) or ${range}` : range;
}

// Whether the server takes this value of a numeric option (the table's
// type and range, as the server applies them).
function optionAccepts(row, text) {
  const v = Number(text);
  const ok =
    text.trim() !== '' &&
    Number.isFinite(v) &&
    (row.type !== 'int' || Number.isInteger(v)) &&
    ((row.zero_off && v === 0) || (v >= row.min && v <= row.max));
  return ok;
}

// The default views of n images: azimuths 360/n apart (front, right, back,
// left for four), elevation 0, as the server assumes without views.
export function defaultAzimuth(i, n) {
  return Math.round(((i * 360) / n) * 100) / 100;
}

export function initCreate({ onCreated }) {
  const form = document.getElementById('create-form');
  const fileInput = document.getElementById('file-input');
  const fileLabel = document.getElementById('file-label');
  const dropZone = document.getElementById('drop-zone');
  const picked = document.getElementById('picked');
  const viewsHint = document.getElementById('views-hint');
  const errorBox = document.getElementById('create-error');
  const submitButton = document.getElementById('submit');
  const clearButton = document.getElementById('clear');
  const modeSingle = document.getElementById('mode-single');
  const modeMulti = document.getElementById('mode-multi');
  const engineSelect = document.getElementById('opt-engine');
  // The option controls: every named field of the options panel; the name
  // is the API field, the server's table says what it takes. The page has
  // its own controls for the common options; setOptions adds one under
  // "More options" for each other option of the server's table.
  const optionsPanel = document.getElementById('options');
  let optionControls = Array.from(optionsPanel.querySelectorAll('[name]'));
  const removeBg = document.getElementById('opt-remove-bg');
  let table = new Map(); // option name -> row of GET /options

  // Each picked image: {file, url, az, el, edited} (edited: the person set
  // its view, so adding or removing images leaves it alone).
  let items = [];
  let busy = false;
  let idempotencyKey = null;
  let pasted = 0;
  let retryOnToken = false; // a send refused for want of the API token goes again once it is given
  const multi = () => modeMulti.checked;

  function showError(text, focusTarget = null) {
    errorBox.textContent = text || '';
    errorBox.hidden = !text;
    if (!text) return;
    if (focusTarget) focusTarget.focus();
    errorBox.scrollIntoView({ block: 'nearest' });
  }

  function changed() {
    idempotencyKey = null; // a different request from now on
  }

  function applyMode() {
    const m = multi();
    document.getElementById('views-range').textContent = viewRange();
    fileInput.multiple = m;
    fileInput.name = m ? 'images' : 'image';
    const upTo = limits.maxFileBytes === null ? '' : `, up to ${formatBytes(limits.maxFileBytes)}`;
    fileLabel.textContent = m
      ? `Images of the views (${viewRange()}; PNG, JPEG or WebP${upTo}${upTo ? ' each' : ''})`
      : `Image (PNG, JPEG or WebP${upTo})`;
    viewsHint.hidden = !m;
    if (!m && items.length > 1) {
      for (const it of items.slice(1)) URL.revokeObjectURL(it.url);
      items = items.slice(0, 1);
    }
    resetViews();
    render();
  }

  function resetViews() {
    items.forEach((it, i) => {
      if (!it.edited) {
        it.az = defaultAzimuth(i, items.length);
        it.el = 0;
      }
    });
  }

  function addFiles(fileList, how) {
    const files = Array.from(fileList || []);
    if (files.length === 0) return;
    if (!multi() && files.length > 1) {
      // Several files at once mean several views.
      modeMulti.checked = true;
      applyMode();
    }
    const problems = [];
    for (const file of files) {
      const p = fileProblem(file);
      if (p) {
        problems.push(p);
        continue;
      }
      const item = { file, url: URL.createObjectURL(file), az: 0, el: 0, edited: false };
      if (!multi()) {
        for (const it of items) URL.revokeObjectURL(it.url);
        items = [item];
      } else if (limits.maxViews !== null && items.length >= limits.maxViews) {
        URL.revokeObjectURL(item.url);
        problems.push(`At most ${limits.maxViews} views per job: "${file.name}" was left out.`);
      } else {
        items.push(item);
      }
    }
    resetViews();
    changed();
    render();
    showError(problems.join(' '));
    if (how === 'paste' && problems.length === 0) {
      const last = picked.lastElementChild && picked.lastElementChild.querySelector('button');
      if (last) last.focus();
    }
  }

  function removeItem(index) {
    const [it] = items.splice(index, 1);
    if (it) URL.revokeObjectURL(it.url);
    resetViews();
    changed();
    render();
    const next = picked.querySelectorAll('.remove')[Math.min(index, items.length - 1)];
    (next || fileInput).focus();
  }

  function render() {
    picked.replaceChildren(
      ...items.map((it, i) => {
        const id = `view-${i}`;
        const viewInputs = multi()
          ? h(
              'div',
              { class: 'view-fields' },
              h(
                'label',
                {},
                'Azimuth °',
                h('input', {
                  type: 'number',
                  id: `${id}-az`,
                  class: 'az',
                  step: 'any',
                  value: String(it.az),
                  inputmode: 'decimal',
                  'aria-label': `Azimuth of image ${i + 1} in degrees`,
                  oninput: (e) => {
                    it.az = e.target.value === '' ? NaN : Number(e.target.value);
                    it.edited = true;
                    changed();
                    e.target.closest('li').querySelector('.view-name').textContent = Number.isFinite(it.az)
                      ? viewName(it.az, it.el)
                      : '';
                  },
                }),
              ),
              h(
                'label',
                {},
                'Elevation °',
                h('input', {
                  type: 'number',
                  id: `${id}-el`,
                  class: 'el',
                  step: 'any',
                  min: '-90',
                  max: '90',
                  value: String(it.el),
                  inputmode: 'decimal',
                  'aria-label': `Elevation of image ${i + 1} in degrees`,
                  oninput: (e) => {
                    it.el = e.target.value === '' ? NaN : Number(e.target.value);
                    it.edited = true;
                    changed();
                    e.target.closest('li').querySelector('.view-name').textContent = Number.isFinite(it.el)
                      ? viewName(it.az, it.el)
                      : '';
                  },
                }),
              ),
            )
          : null;
        return h(
          'li',
          { class: 'picked-item' },
          h('img', {
            src: it.url,
            alt: `Image ${i + 1}: ${it.file.name}`,
            width: 72,
            height: 72,
            // The browser cannot draw it; the server has the last word.
            onerror: (e) =>
              e.target.replaceWith(
                h('span', { class: 'picked-broken', role: 'img', 'aria-label': `Image ${i + 1}: no preview` }, 'no preview'),
              ),
          }),
          h(
            'div',
            { class: 'picked-meta' },
            h('span', { class: 'picked-name', title: it.file.name }, it.file.name),
            h('span', { class: 'hint' }, formatBytes(it.file.size)),
            multi() ? h('span', { class: 'view-name' }, viewName(it.az, it.el)) : null,
          ),
          viewInputs,
          h('button', {
            type: 'button',
            class: 'remove secondary small',
            'aria-label': `Remove ${it.file.name}`,
            text: 'Remove',
            onclick: () => removeItem(i),
          }),
        );
      }),
    );
    const n = items.length;
    submitButton.textContent = busy ? 'Sending…' : multi() ? `Generate from ${n || 'the'} view${n === 1 ? '' : 's'}` : 'Generate';
    submitButton.disabled = busy;
    clearButton.disabled = busy || n === 0;
  }

  // Problems with what is about to be sent: [message, element to focus].
  function check() {
    if (items.length === 0)
      return [multi() ? `Choose ${viewRange(' to ')} images of the views.` : 'Choose an image first.', fileInput];
    if (multi() && items.length < limits.minViews)
      return [`Several views need ${viewRange(' to ')} images; there is ${items.length}.`, fileInput];
    if (multi()) {
      for (let i = 0; i < items.length; i++) {
        const { az, el } = items[i];
        if (!Number.isFinite(az)) return [`Give image ${i + 1} an azimuth in degrees.`, document.getElementById(`view-${i}-az`)];
        if (!Number.isFinite(el) || el < -90 || el > 90)
          return [`The elevation of image ${i + 1} must be from -90 to 90 degrees.`, document.getElementById(`view-${i}-el`)];
      }
    }
    for (const el of optionControls) {
      const row = table.get(el.name);
      if (!row || (row.type !== 'int' && row.type !== 'real')) continue;
      if (!optionAccepts(row, el.value)) {
        const more = el.closest('details.more-options');
        if (more) more.open = true;
        return [`${row.label || row.name} must be ${row.accepts}.`, el];
      }
    }
    return null;
  }

  function buildForm() {
    const fd = new FormData();
    const field = multi() ? 'images' : 'image';
    for (const it of items) fd.append(field, it.file, it.file.name);
    if (multi()) for (const it of items) fd.append('view', `${it.az},${it.el}`);
    // Each option under its API field; an empty choice is the server's default.
    for (const el of optionControls) {
      if (el.type === 'checkbox') fd.append(el.name, el.checked ? 'true' : 'false');
      else if (el.value === '') continue;
      else fd.append(el.name, el.type === 'number' ? String(Number(el.value)) : el.value);
    }
    return fd;
  }

  async function submit(ev) {
    ev.preventDefault();
    await send();
  }

  async function send() {
    if (busy) return;
    const problem = check();
    if (problem) {
      showError(problem[0], problem[1]);
      return;
    }
    showError('');
    busy = true;
    render();
    if (!idempotencyKey) idempotencyKey = newIdempotencyKey();
    try {
      const job = await api.submit(multi(), buildForm(), idempotencyKey);
      clear();
      onCreated(job);
    } catch (err) {
      if (isTokenError(err)) {
        // The images and options stay as they are, and go as soon as the
        // server has a token it accepts (a wrong one asks again).
        showError(`${describeError(err)} The images and options chosen are kept and sent once the token is accepted.`);
        if (!retryOnToken) {
          retryOnToken = true;
          whenTokenAccepted().then(() => {
            retryOnToken = false;
            if (items.length > 0) send();
          });
        }
      } else {
        showError(describeError(err));
      }
      // A refusal is final for this request; a lost answer may be retried
      // with the same key.
      if (err.status !== 0) idempotencyKey = null;
    } finally {
      busy = false;
      render();
    }
  }

  function clear() {
    for (const it of items) URL.revokeObjectURL(it.url);
    items = [];
    fileInput.value = '';
    changed();
    showError('');
    render();
  }

  fileInput.addEventListener('change', () => {
    addFiles(fileInput.files, 'picker');
    // The list above holds the files; the input is free for more.
    fileInput.value = '';
  });
  for (const r of [modeSingle, modeMulti]) r.addEventListener('change', () => {
    changed();
    showError('');
    applyMode();
  });
  // A value the person chose is kept when the server's defaults arrive.
  function watchControl(el) {
    const touched = () => {
      el.dataset.touched = 'true';
      changed();
    };
    el.addEventListener('input', touched);
    el.addEventListener('change', touched);
  }
  optionControls.forEach(watchControl);

  // A control for an option of the table the page has none for: a number
  // field, a list of the choices or a check box, labelled and explained by
  // the table.
  function makeControl(row) {
    if (row.type === 'bool')
      return h('label', { class: 'check', title: row.help }, h('input', { type: 'checkbox', name: row.name }), row.label || row.name);
    let input;
    if (row.type === 'enum') {
      input = h('select', { name: row.name }, ...row.choices.map((c) => h('option', { value: c }, c)));
    } else {
      input = h('input', {
        type: 'number',
        name: row.name,
        step: row.type === 'int' ? '1' : 'any',
        inputmode: row.type === 'int' ? 'numeric' : 'decimal',
      });
    }
    return h('label', { title: row.help }, h('span', {}, row.label || row.name), input);
  }

  ['dragenter', 'dragover'].forEach((type) =>
    dropZone.addEventListener(type, (e) => {
      if (!e.dataTransfer || !Array.from(e.dataTransfer.types || []).includes('Files')) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      dropZone.classList.add('dragging');
    }),
  );
  ['dragleave', 'dragend'].forEach((type) =>
    dropZone.addEventListener(type, (e) => {
      if (e.target === dropZone || !dropZone.contains(e.relatedTarget)) dropZone.classList.remove('dragging');
    }),
  );
  dropZone.addEventListener('drop', (e) => {
    e.preventDefault();
    dropZone.classList.remove('dragging');
    addFiles(e.dataTransfer && e.dataTransfer.files, 'drop');
  });
  // A file dropped beside the zone would make the browser leave the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());

  document.addEventListener('paste', (e) => {
    const files = Array.from((e.clipboardData && e.clipboardData.files) || []);
    if (files.length === 0) return; // text pastes go where they were meant
    e.preventDefault();
    // Browsers call every pasted picture "image.png": number them instead.
    const named = files.map((f) =>
      f.name && f.name !== 'image.png'
        ? f
        : new File([f], `pasted-${++pasted}.${(f.type.split('/')[1] || 'png').replace('jpeg', 'jpg')}`, { type: f.type }),
    );
    addFiles(named, 'paste');
  });

  form.addEventListener('submit', submit);
  clearButton.addEventListener('click', () => {
    clear();
    fileInput.focus();
  });

  applyMode();

  return {
    // Takes the server's option table and limits (GET /options): each
    // control's range, step, default and choices, the label's range, the
    // size and count limits of the pictures. Marks the form
    // data-options="loaded" for whoever waits on it.
    setOptions(info) {
      table = new Map((info.options || []).map((row) => [row.name, row]));
      const missing = Array.from(table.values()).filter(
        (row) => row.api && !row.per_view && ['int', 'real', 'enum', 'bool'].includes(row.type) && !optionControls.some((el) => el.name === row.name),
      );
      if (missing.length > 0 && !optionsPanel.querySelector('details.more-options')) {
        optionsPanel.append(
          h('details', { class: 'more-options' }, h('summary', {}, 'More options'), h('div', { class: 'option-grid' }, ...missing.map(makeControl))),
        );
        const added = Array.from(optionsPanel.querySelectorAll('details.more-options [name]'));
        added.forEach(watchControl);
        optionControls = optionControls.concat(added);
      }
      const l = info.limits || {};
      if (Number.isFinite(l.max_file_bytes)) limits.maxFileBytes = l.max_file_bytes;
      if (Number.isFinite(l.min_images)) limits.minViews = l.min_images;
      if (Number.isFinite(l.max_images)) limits.maxViews = l.max_images;
      if (Array.isArray(l.image_types) && l.image_types.length) limits.types = new Set(l.image_types);
      for (const el of optionControls) {
        const row = table.get(el.name);
        if (!row) continue;
        el.title = row.help;
        if (row.type === 'int' || row.type === 'real') {
          el.min = String(row.zero_off ? Math.min(0, row.min) : row.min);
          el.max = String(row.max);
          if (row.type === 'int') el.step = '1';
          const range = form.querySelector(`[data-range="${row.name}"]`);
          if (range) range.textContent = optionRange(row);
        }
        // The engines are the ones loaded now (setEngines), not every kind.
        if (row.type === 'enum' && el.tagName === 'SELECT' && Array.isArray(row.choices) && row.name !== 'engine') {
          // The page's wording for the choices it knows; the bare name for
          // a choice it does not; none for a choice the server lacks.
          for (const o of Array.from(el.options)) if (o.value && !row.choices.includes(o.value)) o.remove();
          for (const c of row.choices) if (!Array.from(el.options).some((o) => o.value === c)) el.append(h('option', { value: c }, c));
        }
        if (row.default === null || row.default === undefined || el.dataset.touched === 'true') continue;
        if (el.type === 'checkbox') el.checked = row.default === true;
        else el.value = String(row.default);
      }
      applyMode();
      form.dataset.options = 'loaded';
    },
    // Fills the engine choice from /health (the engines the server has loaded).
    setEngines(names) {
      const keep = engineSelect.value;
      engineSelect.replaceChildren(
        h('option', { value: '' }, 'server default'),
        ...names.map((n) => h('option', { value: n }, n)),
      );
      engineSelect.value = names.includes(keep) ? keep : '';
    },
    // Names the background-removal choices after /health's background
    // block: the rembg model the server uses, or that it has none.
    setBackground(bg) {
      const model = bg && bg.model;
      const choice = (v) => removeBg.querySelector(`option[value="${v}"]`);
      if (!choice('auto') || !choice('model')) return;
      choice('auto').textContent = model ? `remove automatically (${model})` : 'remove automatically (by colour: no model on the server)';
      choice('model').textContent = model ? `remove with ${model}` : 'remove with a rembg model (none on the server)';
      choice('model').disabled = !model;
      if (!model && removeBg.value === 'model') removeBg.value = 'auto';
    },
  };
}
