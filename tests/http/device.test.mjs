// The device in the job records, and jobs that do not fit the device's
// memory (docs/vulkan.md, "Jobs and server"). A job record names what
// computed it ("device": "cpu" or "vulkan:N (name)": the process's device
// for a TripoSR job and for a matting network's run, the CPU for a sculpt job
// separated without one), kept across a restart. On Mesa's lavapipe (the Vulkan driver on the CPU,
// VK_ICD_FILENAMES) with the tiny TripoSR model (tests/data/triposr-tiny):
// under a memory budget too small for the network (LN_GPU_MEMORY_LIMIT)
// a TripoSR job fails with the budget's line (needed, in use, available)
// and the server stays up and runs the next job, a sculpt job; without
// that limit the same TripoSR job succeeds on the GPU. The Vulkan tests
// are skipped, with the reason, where lavapipe is not installed or the
// program runs under Wine (no Vulkan driver reaches it there). On the
// PostgreSQL store, a `lunar-nova worker --device` process writes its own
// device into the records of the jobs it runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { startServer, withServer, tmpDir, form, json, waitJob, BIN, NO_WEIGHTS_ENV, PG, SLOW, WINE } from './server.mjs';

const TINY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'data', 'triposr-tiny');
const ARCH = { x64: 'x86_64', arm64: 'aarch64' }[process.arch] || process.arch;
const LVP = `/usr/share/vulkan/icd.d/lvp_icd.${ARCH}.json`;
const noVulkan = WINE ? 'under Wine: no Vulkan driver reaches the Windows program here'
  : !fs.existsSync(LVP) ? `no Vulkan driver: ${LVP} not found (Debian's mesa-vulkan-drivers)` : false;
// Far below what the tiny model needs on the device (about 3 MiB), above nothing.
const LIMIT = 65536;

let input; // the tiny model's test image

before(() => {
  input = fs.readFileSync(path.join(TINY, 'input.png'));
});

const single = (fields = []) =>
  form([{ field: 'image', name: 'input.png', bytes: input }],
    fields.some(([k]) => k === 'resolution') ? fields : [['resolution', 32], ...fields]);

async function submit(srv, fields) {
  const res = await fetch(`${srv.url}/generate`, { method: 'POST', body: single(fields) });
  const job = await json(res);
  assert.equal(res.status, 202, JSON.stringify(job));
  return job;
}

// A TripoSR server on vulkan:0 (lavapipe), with the tiny model.
function vulkanServer(env, prefix) {
  return startServer(['--model', 'golden/triposr-tiny', '--device', 'vulkan:0'], {
    env: { HF_HOME: path.join(TINY, 'hf_home'), VK_ICD_FILENAMES: LVP, ...env },
    prefix,
  });
}

test('a job record names the device it ran on, cpu here, and keeps it across a restart', async () => {
  const outputs = path.join(tmpDir('device-cpu'), 'outputs');
  let srv = await startServer(['--device', 'cpu'], { outputs });
  let id;
  try {
    const job = await submit(srv, []);
    id = job.id;
    const done = await waitJob(srv.url, id, { timeoutMs: 60000 });
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.device, 'cpu');
    const list = await json(await fetch(`${srv.url}/jobs`));
    assert.equal(list.jobs.find((j) => j.id === id).device, 'cpu', 'the listing too');
  } finally {
    await srv.stop();
  }
  srv = await startServer(['--device', 'cpu'], { outputs });
  try {
    const again = await json(await fetch(`${srv.url}/jobs/${id}`));
    assert.equal(again.device, 'cpu', 'after a restart');
  } finally {
    await srv.stop();
  }
});

test('a job waiting in the queue has no device yet', async () => {
  // The device is written when the job's engine runs: the second job waits
  // behind a long first one (one worker).
  const srv = await startServer(['--device', 'cpu', '--workers', '1'], { prefix: 'device-queued' });
  try {
    const first = await submit(srv, [['resolution', 384]]);
    const second = await submit(srv, []);
    const rec = await json(await fetch(`${srv.url}/jobs/${second.id}`));
    if (rec.status === 'queued') assert.equal(rec.device, undefined);
    else console.log(`# the first job ended before the second was read (${rec.status}): not checked`);
    await fetch(`${srv.url}/jobs/${first.id}/cancel`, { method: 'POST' });
    const done = await waitJob(srv.url, second.id, { timeoutMs: 60000 });
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.device, 'cpu');
  } finally {
    await srv.stop();
  }
});

test('out of device memory: the job fails with the budget\'s line, the server runs the next job', { skip: noVulkan }, async () => {
  const srv = await vulkanServer({ LN_GPU_MEMORY_LIMIT: String(LIMIT) }, 'device-oom');
  await withServer(srv, async () => {
    const health = await json(await fetch(`${srv.url}/health`));
    assert.match(health.device, /^vulkan:0 \(.+\)$/);

    const job = await submit(srv, []);
    assert.equal(job.engine, 'triposr');
    const failed = await waitJob(srv.url, job.id, { timeoutMs: 120000 });
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error.code, 'ENOMEM');
    // The floor's line: what was asked, what is in use of the budget, where.
    assert.match(failed.error.message,
      /^GPU memory: the TripoSR image encoder and backbone \(\d+ [KM]iB of weights, \d+ [KM]iB of activations\) needs \d+ [KM]iB, \d+ [KM]iB of 64 KiB in use on vulkan:0 \(.+\); --device cpu runs it on the CPU$/);
    assert.equal(failed.device, health.device, 'it was computed there until it failed');
    // Checked before any stage ran: no background removal either.
    assert.equal(failed.background, undefined, 'it failed before background removal ran');
    assert.equal(failed.mesh, null, 'no mesh');
    assert.notEqual((await fetch(`${srv.url}/jobs/${job.id}/model.glb`)).status, 200, 'no model');

    // The server is up and takes the next job: sculpt computes on the CPU.
    const h2 = await fetch(`${srv.url}/health`);
    assert.equal(h2.status, 200);
    const next = await submit(srv, [['engine', 'sculpt']]);
    const done = await waitJob(srv.url, next.id, { timeoutMs: 120000 });
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.engine, 'sculpt');
    assert.equal(done.device, 'cpu', 'sculpt computes on the CPU, whatever the server\'s device');
    assert.ok(done.mesh.faces > 0);

    // And a TripoSR job again meets the same budget, the same way.
    const again = await waitJob(srv.url, (await submit(srv, [])).id, { timeoutMs: 120000 });
    assert.equal(again.status, 'failed');
    assert.equal(again.error.message, failed.error.message);
    assert.match(srv.log(), /GPU memory: the TripoSR image encoder and backbone \(.+\) needs/);
  });
});

test('a TripoSR job that fits runs on the GPU and its record says so', { skip: noVulkan }, async () => {
  const srv = await vulkanServer({}, 'device-gpu');
  await withServer(srv, async () => {
    const job = await submit(srv, []);
    const done = await waitJob(srv.url, job.id, { timeoutMs: 180000 });
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.engine, 'triposr');
    assert.match(done.device, /^vulkan:0 \(.+\)$/);
    assert.ok(done.mesh.faces > 0);
    const glb = await fetch(`${srv.url}/jobs/${job.id}/model.glb`);
    assert.equal(glb.status, 200);
    assert.equal(Buffer.from(await glb.arrayBuffer()).toString('ascii', 0, 4), 'glTF');
  });
});

test('a sculpt job whose matting network ran on the GPU names the GPU; one separated without a network, the CPU', { skip: noVulkan }, async () => {
  // The tiny U^2-Net of tests/data/onnx as rembg's u2net.onnx: with a
  // device selected, the matting network runs there (docs/vulkan.md).
  const home = tmpDir('device-u2net');
  fs.copyFileSync(path.join(TINY, '..', 'onnx', 'u2net-tiny-op11.onnx'), path.join(home, 'u2net.onnx'));
  const srv = await vulkanServer({ U2NET_HOME: home }, 'device-matting');
  await withServer(srv, async () => {
    const model = await waitJob(srv.url, (await submit(srv, [['engine', 'sculpt'], ['remove_bg', 'model']])).id,
      { timeoutMs: 180000 });
    assert.equal(model.status, 'succeeded', JSON.stringify(model.error));
    assert.equal(model.background, 'u2net');
    assert.match(model.device, /^vulkan:0 \(.+\)$/);
    const classic = await waitJob(srv.url, (await submit(srv, [['engine', 'sculpt'], ['remove_bg', 'classic']])).id,
      { timeoutMs: 180000 });
    assert.equal(classic.status, 'succeeded', JSON.stringify(classic.error));
    assert.equal(classic.device, 'cpu');
  });
});

test('lunar-nova worker --device: the jobs it runs name its device', { skip: PG ? false : 'separate workers need the PostgreSQL store (LN_HTTP_STORE=postgres)' }, async () => {
  // Refused at once, before any job is taken: a bad device, a missing one.
  const bad = spawnSync(BIN, ['worker', '--store', 'postgres://nobody@127.0.0.1:1/none', '--device', 'gpu'],
    { encoding: 'utf8', env: { ...process.env, ...NO_WEIGHTS_ENV } });
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /^lunar-nova: worker: --device: device wants cpu, auto, vulkan or vulkan:N/);

  const srv = await startServer(['--workers', '0', '--model', 'golden/triposr-tiny', '--device', 'cpu'],
    { env: { HF_HOME: path.join(TINY, 'hf_home') }, prefix: 'device-worker' });
  try {
    // On lavapipe where it is installed (and the engine is TripoSR, which
    // computes there); on the CPU elsewhere.
    const device = noVulkan ? 'cpu' : 'vulkan:0';
    const job = await submit(srv, []);
    assert.equal(job.engine, 'triposr');
    const run = spawnSync(BIN, ['worker', '--store', srv.store, '--once', '--device', device,
      '--model', 'golden/triposr-tiny', '--scratch', path.join(tmpDir('device-worker'), 'scratch')], {
      encoding: 'utf8',
      timeout: 120000 * SLOW,
      env: { ...process.env, ...NO_WEIGHTS_ENV, HF_HOME: path.join(TINY, 'hf_home'), ...(noVulkan ? {} : { VK_ICD_FILENAMES: LVP }) },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, noVulkan ? /device: cpu \(asked for\)/ : /device: vulkan:0 \(.+\), .*\(asked for\)/);
    const done = await waitJob(srv.url, job.id, { timeoutMs: 30000 });
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.engine, 'triposr');
    if (noVulkan) assert.equal(done.device, 'cpu');
    else assert.match(done.device, /^vulkan:0 \(.+\)$/);
  } finally {
    await srv.stop();
  }
});
