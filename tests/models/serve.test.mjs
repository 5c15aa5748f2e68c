// `lunar-nova serve --pull-models` against the hub of hub.mjs: the server
// answers with sculpt at once, /health shows the download as it runs and
// how it ended, then the same server gives single images to TripoSR (and
// the next start serves TripoSR from the cache).
// Without the flag nothing is fetched and the log names the command that
// would; offline (HF_HUB_OFFLINE=1) the server starts without delay and no
// request reaches the hub.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { SLOW, form, json, startServer, tmpDir, waitJob } from '../http/server.mjs';
import { startHub } from './hub.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const GOLDEN = path.join(HERE, '..', 'data', 'triposr-tiny');

let hub;
before(async () => {
  hub = await startHub({
    repos: {
      'golden/triposr-tiny': {
        commit: '059b2aa0d5a3fbd7594962ec71d273e2c455974d',
        files: { 'config.yaml': fs.readFileSync(path.join(GOLDEN, 'config.yaml')), 'model.ckpt': fs.readFileSync(path.join(GOLDEN, 'model.ckpt')) },
        lfs: new Set(['model.ckpt']),
      },
      'golden/dino-vit-tiny': { commit: '2acdd4f76f2edc19a8f0909fb9c48a4ae1f6d654', files: { 'config.json': fs.readFileSync(path.join(GOLDEN, 'vit_config.json')) } },
    },
  });
});
after(() => hub.close());

function cacheEnv(home, extra = {}) {
  return {
    HF_HOME: path.join(home, 'hf'),
    HF_HUB_CACHE: path.join(home, 'hf', 'hub'),
    HUGGINGFACE_HUB_CACHE: path.join(home, 'hf', 'hub'),
    HF_ENDPOINT: hub.url,
    HF_HUB_OFFLINE: '',
    ...extra,
  };
}

async function health(url) {
  const res = await fetch(`${url}/health`);
  assert.equal(res.status, 200);
  return res.json();
}

async function waitFor(url, pred, ms = 30000 * SLOW) {
  const t0 = Date.now();
  for (;;) {
    const h = await health(url);
    if (pred(h)) return h;
    if (Date.now() - t0 > ms) throw new Error(`gave up waiting; last /health: ${JSON.stringify(h)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('--pull-models: sculpt serves while the weights come down, /health shows it, then triposr serves', async () => {
  const home = tmpDir('pull-models');
  hub.faults = { slowBytesPerTick: 50000 }; // about 0.6 s for the checkpoint
  const srv = await startServer(['--model', 'golden/triposr-tiny', '--pull-models'], { env: cacheEnv(home), prefix: 'pull-models' });
  try {
    const first = await health(srv.url);
    assert.equal(first.engine, 'sculpt', 'sculpt serves at once');
    assert.deepEqual(first.engines, ['sculpt']);
    assert.equal(first.download.model, 'golden/triposr-tiny');
    const moving = await waitFor(srv.url, (h) => h.download.state !== 'downloading' || (h.download.file.endsWith('model.ckpt') && h.download.done > 0));
    if (moving.download.state === 'downloading')
      assert.equal(moving.download.total, fs.statSync(path.join(GOLDEN, 'model.ckpt')).size);
    const done = await waitFor(srv.url, (h) => h.download.state !== 'downloading');
    assert.equal(done.download.state, 'ready', done.download.message);
    assert.equal(done.download.restart_needed, false);
    assert.match(done.download.message, /the triposr engine now takes single images/);
    assert.match(srv.log(), /models: golden\/triposr-tiny TripoSR weights downloaded/);
    // No restart: the same server now gives single images to triposr.
    const now = await health(srv.url);
    assert.equal(now.engine, 'triposr');
    assert.deepEqual(now.engines, ['triposr', 'sculpt']);
    const input = fs.readFileSync(path.join(GOLDEN, 'input.png'));
    const res = await fetch(`${srv.url}/generate`, {
      method: 'POST', body: form([{ field: 'image', name: 'input.png', bytes: input }], [['resolution', 32]]),
    });
    const job = await json(res);
    assert.equal(res.status, 202, JSON.stringify(job));
    assert.equal(job.engine, 'triposr');
    const finished = await waitJob(srv.url, job.id, { timeoutMs: 120000 * SLOW });
    assert.equal(finished.status, 'succeeded', JSON.stringify(finished.error));
    assert.equal(finished.engine, 'triposr');
  } finally {
    hub.faults = {};
    await srv.stop();
  }
  const n = hub.requests.length;
  const again = await startServer(['--model', 'golden/triposr-tiny', '--pull-models'], { env: cacheEnv(home), prefix: 'pull-models-2' });
  try {
    const h = await health(again.url);
    assert.equal(h.engine, 'triposr');
    assert.equal(h.download, undefined, 'nothing to download');
    assert.equal(hub.requests.length, n, 'the cache answered');
  } finally {
    await again.stop();
  }
});

test('without --pull-models nothing is fetched and the log names the command', async () => {
  const home = tmpDir('no-pull');
  const n = hub.requests.length;
  const srv = await startServer([], { env: cacheEnv(home), prefix: 'no-pull' });
  try {
    const h = await health(srv.url);
    assert.equal(h.engine, 'sculpt');
    assert.equal(h.download, undefined);
    assert.match(srv.log(), /`lunar-nova models pull stabilityai\/TripoSR` downloads them, or start with --pull-models/);
  } finally {
    await srv.stop();
  }
  assert.equal(hub.requests.length, n);
  assert.ok(!fs.existsSync(path.join(home, 'hf', 'hub', 'models--stabilityai--TripoSR')));
});

test('--pull-models offline: no delay, no request, /health says why', async () => {
  const home = tmpDir('pull-offline');
  const n = hub.requests.length;
  const srv = await startServer(['--model', 'golden/triposr-tiny', '--pull-models'], { env: cacheEnv(home, { HF_HUB_OFFLINE: '1' }), prefix: 'pull-offline' });
  try {
    assert.ok(srv.startMs < 10000 * SLOW, `started in ${srv.startMs} ms`);
    const h = await waitFor(srv.url, (x) => x.download.state !== 'downloading', 10000 * SLOW);
    assert.equal(h.download.state, 'failed');
    assert.match(h.download.message, /HF_HUB_OFFLINE is set/);
    assert.equal(h.engine, 'sculpt');
  } finally {
    await srv.stop();
  }
  assert.equal(hub.requests.length, n);
});
