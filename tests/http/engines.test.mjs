// The engine choice of a server that has TripoSR weights (the tiny
// random-weight model in tests/data/triposr-tiny: its meshes are arbitrary
// but valid): triposr for single images, sculpt for several views, and a
// named engine checked against the image count before a job exists.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, synth, tmpDir, form, json, waitJob } from './server.mjs';

const TINY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'data', 'triposr-tiny');

let srv;
let input; // the tiny model's test image
let views; // bytes of 2 views of a box

before(async () => {
  input = fs.readFileSync(path.join(TINY, 'input.png'));
  const dir = tmpDir('engines-in');
  views = synth('views', path.join(dir, 'box'), 2, 96).map((p) => fs.readFileSync(p));
  srv = await startServer(['--model', 'golden/triposr-tiny'], {
    env: { HF_HOME: path.join(TINY, 'hf_home') },
    prefix: 'engines',
  });
});

after(async () => {
  if (srv) await srv.stop();
});

const post = (p, body) => fetch(srv.url + p, { method: 'POST', body });
const single = (fields = []) =>
  form([{ field: 'image', name: 'input.png', bytes: input }], [['resolution', 32], ...fields]);
const multi = (fields = []) =>
  form(views.map((bytes, i) => ({ field: 'images', name: `box-${i}.png`, bytes })), [['resolution', 48], ...fields]);

async function generate(p, body, engine) {
  const res = await post(p, body);
  const job = await json(res);
  assert.equal(res.status, 202, JSON.stringify(job));
  assert.equal(job.engine, engine, 'chosen at submit');
  const done = await waitJob(srv.url, job.id, { timeoutMs: 120000 });
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.engine, engine);
  assert.ok(done.mesh.faces > 0);
  return done;
}

test('the log names triposr with its weights, then the model is initialized', () => {
  const log = srv.log();
  assert.match(log, /engine: triposr \(weights from .*golden\/triposr-tiny.*\) for single images; sculpt for several views/);
  assert.ok(log.indexOf('engine: triposr') < log.indexOf('Model initialized.'));
});

test('/health reports triposr as the default and lists both engines', async () => {
  const h = await json(await fetch(`${srv.url}/health`));
  assert.equal(h.status, 'ok');
  assert.equal(h.engine, 'triposr');
  assert.deepEqual(h.engines, ['triposr', 'sculpt']);
});

test('one image runs on triposr', async () => {
  await generate('/generate', single(), 'triposr');
});

test('several views run on sculpt', async () => {
  await generate('/generate/multi', multi(), 'sculpt');
});

test('engine=sculpt on one image runs sculpt', async () => {
  await generate('/generate', single([['engine', 'sculpt']]), 'sculpt');
});

test('engine=triposr with several views is 400 naming the field', async () => {
  const res = await post('/generate/multi', multi([['engine', 'triposr']]));
  assert.equal(res.status, 400);
  const e = (await json(res)).error;
  assert.equal(e.code, 'EINVAL');
  assert.match(e.message, /'engine'.*the triposr engine takes one image/);
  const other = await post('/generate', single([['engine', 'magic']]));
  assert.equal(other.status, 400);
  assert.match((await json(other)).error.message, /engine 'magic' is not available \(available: triposr, sculpt\)/);
});
