// GET /options against a real `lunar-nova serve` started with smaller
// limits: the limits it reports are the ones it was started with, and the
// option table it serves is the one POST /generate applies. For every
// numeric option a value one past either end of its range is refused with
// the message built from the table's own words ("the field 'x' wants
// <accepts> (got '<value>')") and leaves nothing stored; jobs with every
// option at its lowest and at its highest value are accepted, and the job
// record holds those values.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, synth, tmpDir, form, json, snapshot, waitJob } from './server.mjs';

const MAX_IMAGES = 3;
const MAX_UPLOAD_MB = 1;

let srv;
let mug;
let views;
let info;

before(async () => {
  const dir = tmpDir('options');
  mug = fs.readFileSync(synth('photo', path.join(dir, 'mug.png'), 96));
  views = synth('views', path.join(dir, 'box'), 4, 64).map((f) => fs.readFileSync(f));
  srv = await startServer(['--max-images', MAX_IMAGES, '--max-upload-mb', MAX_UPLOAD_MB].map(String));
  const res = await fetch(`${srv.url}/options`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  info = await json(res);
});

after(async () => {
  if (srv) await srv.stop();
});

const post = (fields, files = [{ field: 'image', name: 'mug.png', bytes: mug }], route = '/generate') =>
  fetch(`${srv.url}${route}`, { method: 'POST', body: form(files, fields) });

const numeric = () => info.options.filter((o) => o.api && (o.type === 'int' || o.type === 'real'));

// A value just outside [min, max]: the next integer, or a thousandth of
// the bound (at least 0.001) further out.
function pastMax(o) {
  return o.type === 'int' ? o.max + 1 : o.max + Math.max(Math.abs(o.max) * 1e-3, 1e-3);
}
function pastMin(o) {
  return o.type === 'int' ? o.min - 1 : o.min - Math.abs(o.min) * 1e-3;
}

test('the limits are the server\'s settings', () => {
  assert.equal(info.limits.max_images, MAX_IMAGES);
  assert.equal(info.limits.min_images, 2);
  assert.equal(info.limits.max_file_bytes, MAX_UPLOAD_MB * 1024 * 1024);
  assert.ok(info.limits.max_request_bytes >= info.limits.max_file_bytes);
  assert.ok(info.limits.max_pixels > 0);
  assert.deepEqual(info.limits.image_types, ['image/png', 'image/jpeg', 'image/webp']);
  assert.deepEqual(info.formats, ['glb', 'obj', 'ply', 'stl']);
  assert.ok(info.engines.includes('sculpt'), JSON.stringify(info.engines));
});

test('every option is described once, with a default inside its range', () => {
  const names = info.options.map((o) => o.name);
  assert.equal(new Set(names).size, names.length);
  for (const want of ['resolution', 'faces', 'foreground_ratio', 'remove_bg', 'engine', 'view', 'size', 'origin'])
    assert.ok(names.includes(want), want);
  for (const o of info.options) {
    assert.equal(typeof o.help, 'string', o.name);
    assert.equal(typeof o.accepts, 'string', o.name);
    assert.ok(Array.isArray(o.engines), o.name);
    assert.ok(o.cli.length > 0, `${o.name} has a command-line flag`);
    if (o.type === 'int' || o.type === 'real') {
      assert.ok(o.default === 0 && o.zero_off ? true : o.default >= o.min && o.default <= o.max, `${o.name} default ${o.default}`);
    }
    if (o.type === 'enum' && o.default !== null) assert.ok(o.choices.includes(o.default), o.name);
  }
});

test('one past either end of a range is refused with the table\'s words, and nothing is stored', async () => {
  const before = snapshot(srv.outputs);
  for (const o of numeric()) {
    const bad = [pastMax(o), pastMin(o)];
    if (o.zero_off && o.min > 1) bad.push(o.min - 1); // between 0 (off) and min
    for (const v of bad) {
      if (v === 0 && o.zero_off) continue;
      const res = await post([[o.name, v]]);
      const body = await json(res);
      assert.equal(res.status, 400, `${o.name}=${v}: ${JSON.stringify(body)}`);
      assert.equal(body.error.code, 'EINVAL');
      assert.equal(body.error.message, `the field '${o.name}' wants ${o.accepts} (got '${String(v)}')`);
    }
  }
  for (const o of info.options.filter((x) => x.api && (x.type === 'enum' || x.type === 'bool') && x.name !== 'engine')) {
    const res = await post([[o.name, 'maybe']]);
    const body = await json(res);
    assert.equal(res.status, 400, `${o.name}=maybe`);
    assert.equal(body.error.message, `the field '${o.name}' wants ${o.accepts} (got 'maybe')`);
  }
  assert.deepEqual(snapshot(srv.outputs), before);
});

test('the lowest and the highest values are accepted and recorded', async () => {
  const low = [];
  const high = [];
  for (const o of info.options.filter((x) => x.api && !x.per_view && x.name !== 'engine')) {
    if (o.type === 'int' || o.type === 'real') {
      low.push([o.name, o.min]);
      high.push([o.name, o.max]);
    } else if (o.type === 'enum') {
      // The first and the last choice; a model of background removal is
      // not on every server, so that choice is left to the others.
      const usable = o.choices.filter((c) => !(o.name === 'remove_bg' && c === 'model'));
      low.push([o.name, usable[0]]);
      high.push([o.name, usable[usable.length - 1]]);
    } else if (o.type === 'bool') {
      low.push([o.name, 'false']);
      high.push([o.name, 'true']);
    }
  }
  // Only the acceptance and the record are checked here: the highest
  // values ask for the largest grid and the lowest for an object a tenth
  // of the frame wide on the smallest grid, so both jobs are canceled at
  // once. Whatever becomes of them, no run refuses an option the upload
  // accepted.
  for (const fields of [low, high]) {
    const res = await post(fields);
    const job = await json(res);
    assert.equal(res.status, 202, JSON.stringify(job));
    await fetch(`${srv.url}/jobs/${job.id}/cancel`, { method: 'POST' });
    for (const [name, v] of fields) {
      const o = info.options.find((x) => x.name === name);
      const got = job.options[name];
      if (o.type === 'bool') assert.equal(got, v === 'true', name);
      else if (o.type === 'real') assert.ok(Math.abs(got - v) <= Math.abs(v) * 1e-6, `${name}: ${got} for ${v}`);
      else assert.equal(got, v, name);
    }
    const done = await waitJob(srv.url, job.id, { timeoutMs: 120000 });
    if (done.status === 'failed') assert.doesNotMatch(done.error.message, / wants /, JSON.stringify(done.error));
  }
});

test('the image limits reported are the ones applied', async () => {
  // One view more than max_images.
  const files = views.slice(0, info.limits.max_images + 1).map((bytes, i) => ({ field: 'images', name: `v${i}.png`, bytes }));
  let res = await post([], files, '/generate/multi');
  let body = await json(res);
  assert.equal(res.status, 400, JSON.stringify(body));
  assert.equal(body.error.message, `too many images (at most ${info.limits.max_images})`);
  // One byte more than max_file_bytes.
  const big = Buffer.concat([mug, Buffer.alloc(info.limits.max_file_bytes + 1 - mug.length)]);
  res = await post([], [{ field: 'image', name: 'big.png', bytes: big }]);
  body = await json(res);
  assert.equal(res.status, 413, JSON.stringify(body));
  assert.match(body.error.message, new RegExp(`limit of ${info.limits.max_file_bytes} bytes`));
  // A per-view option is a field of multi-view uploads only.
  const view = info.options.find((o) => o.per_view);
  res = await post([[view.name, '0,0']]);
  body = await json(res);
  assert.equal(res.status, 400);
  assert.equal(body.error.message, `unknown field '${view.name}'`);
});
