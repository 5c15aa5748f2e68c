// Background removal over HTTP: the remove_bg field's modes, what /health
// says of rembg's models, and the method each job records. One server has
// no model; the other has the small U^2-Net-shaped fixture network
// (tests/data/onnx) as rembg's u2net.onnx in its U2NET_HOME.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, stopAll, synth, tmpDir, form, json, waitJob } from './server.mjs';

const ONNX = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'data', 'onnx');

let bare, withModel, photo;

before(async () => {
  const dir = tmpDir('bg-in');
  photo = fs.readFileSync(synth('photo', path.join(dir, 'photo.png'), 128));
  const home = tmpDir('bg-u2net');
  fs.copyFileSync(path.join(ONNX, 'u2net-tiny-op11.onnx'), path.join(home, 'u2net.onnx'));
  bare = await startServer([], { prefix: 'bg-bare' });
  withModel = await startServer([], { env: { U2NET_HOME: home }, prefix: 'bg-model' });
});

after(() => stopAll(bare, withModel));

const upload = (srv, fields) => fetch(`${srv.url}/generate`, {
  method: 'POST',
  body: form([{ field: 'image', name: 'photo.png', bytes: photo }], [['resolution', 48], ...fields]),
});

async function finished(srv, fields) {
  const res = await upload(srv, fields);
  const job = await json(res);
  assert.equal(res.status, 202, JSON.stringify(job));
  const done = await waitJob(srv.url, job.id, { timeoutMs: 60000 });
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  return done;
}

test('/health lists rembg models found and the one in use', async () => {
  const none = await json(await fetch(`${bare.url}/health`));
  assert.deepEqual(none.background, { models: [], model: null });
  const some = await json(await fetch(`${withModel.url}/health`));
  assert.deepEqual(some.background, { models: ['u2net'], model: 'u2net' });
  assert.match(bare.log(), /background removal: classical separation \(no rembg model found/);
  assert.match(withModel.log(), /background removal: u2net \(rembg model\)/);
});

test('each mode is recorded in the job, and auto uses the model when there is one', async () => {
  for (const [srv, mode, method] of [[bare, 'auto', 'classic'], [bare, 'classic', 'classic'],
    [bare, 'off', 'off'], [withModel, 'auto', 'u2net'], [withModel, 'model', 'u2net'],
    [withModel, 'classic', 'classic']]) {
    const done = await finished(srv, [['remove_bg', mode]]);
    assert.equal(done.options.remove_bg, mode);
    assert.equal(done.background, method, `${mode} on ${srv === bare ? 'no model' : 'u2net'}`);
  }
  // The boolean of earlier versions still works: true is auto.
  const done = await finished(withModel, [['remove_bg', 'true']]);
  assert.equal(done.options.remove_bg, 'auto');
  assert.equal(done.background, 'u2net');
});

test('remove_bg=model on a server without a model is refused before a job exists', async () => {
  const res = await upload(bare, [['remove_bg', 'model']]);
  const body = await json(res);
  assert.equal(res.status, 400);
  assert.match(body.error.message, /no background model.*models pull u2net/);
  const list = await json(await fetch(`${bare.url}/jobs?limit=100`));
  assert.ok(list.jobs.every((j) => j.options.remove_bg !== 'model'));
});
