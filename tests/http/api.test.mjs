// The HTTP API as a client sees it, against a real `lunar-nova serve`:
// health, single- and multi-view generation through to every download, the
// event stream, the job list and its paging, cancel and delete, idempotent
// submission, metrics, the static UI, and routing errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startServer, synth, tmpDir, form, json, waitJob, PG, SLOW, wineSkip } from './server.mjs';

let srv;
let mug; // bytes of a synthetic photo
let views; // bytes of 4 views of a box
let firstJob; // the single-image job, succeeded

before(async () => {
  const dir = tmpDir('api-in');
  mug = fs.readFileSync(synth('photo', path.join(dir, 'mug.png'), 128));
  views = synth('views', path.join(dir, 'box'), 4, 128).map((p) => fs.readFileSync(p));
  srv = await startServer();
});

after(async () => {
  if (srv) await srv.stop();
});

const post = (p, body, headers = {}) => fetch(srv.url + p, { method: 'POST', body, headers });
const mugForm = (fields = [['resolution', 64]]) =>
  form([{ field: 'image', name: 'mug.png', bytes: mug }], fields);

// Raw GET so that the path reaches the server exactly as written (fetch
// would resolve "..").
function rawGet(p) {
  return new Promise((resolve, reject) => {
    const u = new URL(srv.url);
    const req = http.request({ host: u.hostname, port: u.port, path: p, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// Reads a Server-Sent Events stream to its end; returns the parsed events.
async function readEvents(id) {
  const res = await fetch(`${srv.url}/jobs/${id}/events`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  const text = await res.text(); // the server closes the stream after the final state
  const events = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n');
    const ev = lines.find((l) => l.startsWith('event: '));
    const data = lines.find((l) => l.startsWith('data: '));
    if (ev && data) events.push({ event: ev.slice(7), job: JSON.parse(data.slice(6)) });
  }
  return events;
}

// The kernel set a CPU with these flags runs (from /proc/cpuinfo, not from
// the program): avx512 needs AVX-512 F/DQ/BW/VL with AVX2, FMA, BMI1/2.
function widestKernelSet() {
  if (process.arch !== 'x64') return 'baseline';
  const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
  const flags = new Set((line || '').split(':')[1]?.trim().split(/\s+/) ?? []);
  const avx2 = ['avx2', 'fma', 'bmi1', 'bmi2'].every((f) => flags.has(f));
  if (avx2 && ['avx512f', 'avx512dq', 'avx512bw', 'avx512vl'].every((f) => flags.has(f))) return 'avx512';
  return avx2 ? 'avx2' : 'baseline';
}

test('GET /health names the kernel set: the widest, or the lower one LN_CPU asks for', async () => {
  const lower = await startServer([], { env: { LN_CPU: 'baseline' }, prefix: 'kernels' });
  try {
    const h = await json(await fetch(`${lower.url}/health`));
    assert.equal(h.kernels, 'baseline');
  } finally {
    await lower.stop();
  }
});

// OPENBLAS_CORETYPE naming a family whose instructions this CPU lacks: a
// warning at start and in /health (whether it lacks them: /proc/cpuinfo).
test('GET /health names OpenBLAS\'s kernels and warns where this CPU cannot run them',
  { skip: process.arch !== 'x64' ? 'x86-64 only' : wineSkip('the Windows build has other OpenBLAS kernels') },
  async () => {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    const flags = new Set((line || '').split(':')[1]?.trim().split(/\s+/) ?? []);
    const cases = [
      ['Bulldozer', 'FMA4', flags.has('fma4')],
      ['Sandybridge', 'AVX', flags.has('avx')],
    ];
    for (const [core, needs, has] of cases) {
      const s = await startServer([], { env: { OPENBLAS_CORETYPE: core }, prefix: 'blas' });
      try {
        const h = await json(await fetch(`${s.url}/health`));
        assert.equal(h.blas, core);
        if (has) {
          assert.equal(h.blas_warning, null);
        } else {
          assert.match(h.blas_warning, new RegExp(`${core} kernels .*need ${needs}: this CPU lacks it`));
          assert.match(s.log(), /\bwarn\b.*OPENBLAS_CORETYPE=/);
        }
      } finally {
        await s.stop();
      }
    }
  });

test('GET /health answers 200 with the engine, queue, uptime and version', async () => {
  const res = await fetch(`${srv.url}/health`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  const h = await json(res);
  assert.equal(h.status, 'ok');
  assert.equal(h.engine, 'sculpt');
  assert.deepEqual(h.engines, ['sculpt']);
  assert.equal(h.model_loaded, true);
  assert.equal(typeof h.queue.depth, 'number');
  assert.equal(h.queue.capacity, 64);
  assert.equal(typeof h.queue.running, 'number');
  assert.ok(h.uptime_s >= 0);
  assert.match(h.version, /^\d+\.\d+\.\d+/);
  assert.equal(h.kernels, widestKernelSet());
  const head = await fetch(`${srv.url}/health`, { method: 'HEAD' });
  assert.equal(head.status, 200);
});

test('POST /generate queues a job that succeeds, with every download', async () => {
  const res = await post('/generate', mugForm());
  assert.equal(res.status, 202);
  const job = await json(res);
  assert.match(job.id, /^[0-9a-f]{24}$/);
  assert.equal(res.headers.get('location'), `/jobs/${job.id}`);
  assert.ok(['queued', 'running', 'succeeded'].includes(job.status));
  assert.equal(job.options.resolution, 64);
  assert.equal(job.inputs[0].name, 'mug.png');
  assert.equal(job.inputs[0].content_type, 'image/png');
  assert.equal(job.inputs[0].bytes, mug.length);

  const done = await waitJob(srv.url, job.id);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.ok(done.mesh.faces > 100);
  assert.ok(fs.existsSync(srv.jobDir(job.id)));
  firstJob = done;

  const want = {
    glb: 'model/gltf-binary',
    obj: 'model/obj',
    ply: 'application/x-ply',
    stl: 'model/stl',
    zip: 'application/zip', // the OBJ alone for a model without a texture
  };
  for (const [ext, mime] of Object.entries(want)) {
    const r = await fetch(`${srv.url}/jobs/${job.id}/model.${ext}`);
    assert.equal(r.status, 200, ext);
    assert.equal(r.headers.get('content-type'), mime);
    assert.equal(r.headers.get('content-disposition'), `attachment; filename="${job.id}.${ext}"`);
    const bytes = Buffer.from(await r.arrayBuffer());
    assert.ok(bytes.length > 100, `${ext} is ${bytes.length} bytes`);
    if (ext === 'glb') assert.equal(bytes.subarray(0, 4).toString('latin1'), 'glTF');
    if (ext === 'ply') assert.equal(bytes.subarray(0, 3).toString('latin1'), 'ply');
    if (ext === 'obj') assert.match(bytes.toString('latin1'), /^v /m);
    if (ext === 'stl') assert.equal(bytes.length, 84 + 50 * bytes.readUInt32LE(80));
    if (ext === 'zip') {
      const zip = path.join(tmpDir('api-zip-plain'), 'model.zip');
      fs.writeFileSync(zip, bytes);
      assert.equal(execFileSync('unzip', ['-Z1', zip], { encoding: 'utf8' }), `${job.id}.obj\n`);
    }
  }
  const png = await fetch(`${srv.url}/jobs/${job.id}/preview.png`);
  assert.equal(png.status, 200);
  assert.equal(png.headers.get('content-type'), 'image/png');
  const pngBytes = Buffer.from(await png.arrayBuffer());
  assert.deepEqual([...pngBytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);

  const input = await fetch(`${srv.url}/jobs/${job.id}/inputs/0`);
  assert.equal(input.status, 200);
  assert.equal(input.headers.get('content-type'), 'image/png');
  assert.ok(Buffer.from(await input.arrayBuffer()).equals(mug), 'inputs/0 is the upload');
  assert.equal((await fetch(`${srv.url}/jobs/${job.id}/inputs/1`)).status, 404);
  assert.equal((await fetch(`${srv.url}/jobs/${job.id}/inputs/x`)).status, 404);
  assert.equal((await fetch(`${srv.url}/jobs/${job.id}/model.fbx`)).status, 404);
});

// The glTF JSON chunk of a GLB.
function glbJson(bytes) {
  const n = bytes.readUInt32LE(12);
  return JSON.parse(bytes.subarray(20, 20 + n).toString('utf8'));
}

test('POST /generate with texture and texture_format bakes a texture into the GLB', async () => {
  const res = await post('/generate', mugForm([['resolution', 64], ['texture', 256], ['texture_format', 'jpeg']]));
  assert.equal(res.status, 202);
  const job = await json(res);
  assert.equal(job.options.texture, 256);
  assert.equal(job.options.texture_format, 'jpeg');
  const done = await waitJob(srv.url, job.id);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.mesh.texture.size, 256);
  assert.equal(done.mesh.texture.format, 'jpeg');
  assert.ok(done.mesh.texture.charts >= 1);
  const glb = Buffer.from(await (await fetch(`${srv.url}/jobs/${job.id}/model.glb`)).arrayBuffer());
  const doc = glbJson(glb);
  const prim = doc.meshes[0].primitives[0];
  assert.ok(prim.attributes.TEXCOORD_0 !== undefined, 'TEXCOORD_0');
  assert.equal(prim.attributes.COLOR_0, undefined, 'no COLOR_0 to multiply into the texture');
  assert.equal(doc.images[0].mimeType, 'image/jpeg');
  assert.equal(doc.materials[prim.material].pbrMetallicRoughness.baseColorTexture.index, 0);
  // Converted downloads keep the colours (from _COLOR_0) and the UVs.
  const obj = await (await fetch(`${srv.url}/jobs/${job.id}/model.obj`)).text();
  assert.match(obj, /^vt [0-9.]+ [0-9.]+$/m);
  assert.match(obj, /^v \S+ \S+ \S+ \S+ \S+ \S+$/m);
  // The OBJ with its material and texture, as one zip (read by Info-ZIP's
  // unzip): the entries named after the job, the image the GLB's own.
  const zres = await fetch(`${srv.url}/jobs/${job.id}/model.zip`);
  assert.equal(zres.status, 200);
  assert.equal(zres.headers.get('content-type'), 'application/zip');
  assert.match(zres.headers.get('content-disposition'), new RegExp(`filename="${job.id}\\.zip"`));
  const zip = path.join(tmpDir('api-zip'), 'model.zip');
  fs.writeFileSync(zip, Buffer.from(await zres.arrayBuffer()));
  const names = execFileSync('unzip', ['-Z1', zip], { encoding: 'utf8' }).trim().split('\n').sort();
  assert.deepEqual(names, [`${job.id}.jpg`, `${job.id}.mtl`, `${job.id}.obj`]);
  const unzipped = (name) => execFileSync('unzip', ['-p', zip, name], { maxBuffer: 1 << 28 });
  assert.match(unzipped(`${job.id}.obj`).toString(), new RegExp(`^mtllib ${job.id}\\.mtl$`, 'm'));
  assert.match(unzipped(`${job.id}.mtl`).toString(), new RegExp(`^map_Kd ${job.id}\\.jpg$`, 'm'));
  const bin = glb.subarray(20 + glb.readUInt32LE(12) + 8);
  const view = doc.bufferViews[doc.images[0].bufferView];
  assert.deepEqual(unzipped(`${job.id}.jpg`), bin.subarray(view.byteOffset || 0, (view.byteOffset || 0) + view.byteLength));
  // Out of range: refused with the table's words, nothing queued.
  const bad = await post('/generate', mugForm([['texture', 32]]));
  assert.equal(bad.status, 400);
  assert.match((await json(bad)).error.message, /64 to 8192/);
});

test('GET /jobs/{id}/events streams changes and ends with the final state', async () => {
  const res = await post('/generate', mugForm([['resolution', 96]]));
  assert.equal(res.status, 202);
  const { id } = await json(res);
  const events = await readEvents(id);
  assert.ok(events.length >= 1, 'at least one event');
  assert.ok(events.every((e) => e.event === 'job' && e.job.id === id));
  assert.equal(events.at(-1).job.status, 'succeeded');
  // A finished job: one event, the final state, then the end.
  const again = await readEvents(id);
  assert.equal(again.length, 1);
  assert.equal(again[0].job.status, 'succeeded');
});

test('POST /generate/multi with four views and view fields succeeds', async () => {
  const files = views.map((bytes, i) => ({ field: 'images', name: `box-${i}.png`, bytes }));
  const fields = [['resolution', 64], ['view', '0,0'], ['view', '90,0'], ['view', '180,0'], ['view', '270,0']];
  const res = await post('/generate/multi', form(files, fields));
  assert.equal(res.status, 202);
  const job = await json(res);
  assert.equal(job.inputs.length, 4);
  assert.deepEqual(job.views.map((v) => v.azimuth), [0, 90, 180, 270]);
  const done = await waitJob(srv.url, job.id);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  const m = done.mesh;
  assert.ok(m.vertices > 50 && m.faces > 100, `${m.vertices} vertices, ${m.faces} faces`);
  const extent = Math.max(...m.bbox_max.map((v, i) => v - m.bbox_min[i]));
  assert.ok(Math.abs(extent - 1) < 0.05, `largest extent ${extent}`);
  // The same with one `views` field.
  const res2 = await post('/generate/multi', form(files, [['resolution', 64], ['views', '0,0;90,0;180,0;270,0']]));
  assert.equal(res2.status, 202);
  assert.equal((await waitJob(srv.url, (await json(res2)).id)).status, 'succeeded');
});

test('GET /jobs lists newest first, filters by status and pages', async () => {
  const all = await json(await fetch(`${srv.url}/jobs`));
  assert.ok(all.total >= 4);
  assert.equal(all.limit, 50);
  assert.equal(all.offset, 0);
  const created = all.jobs.map((j) => j.created_at);
  assert.deepEqual(created, [...created].sort().reverse(), 'newest first');
  const ok = await json(await fetch(`${srv.url}/jobs?status=succeeded`));
  assert.ok(ok.jobs.length >= 4 && ok.jobs.every((j) => j.status === 'succeeded'));
  const page = await json(await fetch(`${srv.url}/jobs?limit=1&offset=1`));
  assert.equal(page.jobs.length, 1);
  assert.equal(page.jobs[0].id, all.jobs[1].id);
  assert.equal(page.total, all.total);
  for (const q of ['limit=abc', 'limit=0', 'limit=501', 'offset=-1', 'status=bogus', 'status=']) {
    const r = await fetch(`${srv.url}/jobs?${q}`);
    assert.equal(r.status, 400, q);
    const e = await json(r);
    assert.equal(e.error.code, 'EINVAL');
    assert.ok(e.error.message.length > 0);
  }
});

test('cancel and delete', async () => {
  // A big job keeps the single worker busy, so the second one waits in the queue.
  const big = await json(await post('/generate', mugForm([['resolution', 512], ['smooth', 50]])));
  const queued = await json(await post('/generate', mugForm()));
  const c = await post(`/jobs/${queued.id}/cancel`);
  assert.equal(c.status, 200);
  const canceled = await json(c);
  assert.equal(canceled.status, 'canceled');
  assert.equal((await post(`/jobs/${queued.id}/cancel`)).status, 409, 'cancel a finished job');
  const model = await fetch(`${srv.url}/jobs/${queued.id}/model.glb`);
  assert.equal(model.status, 404, 'a canceled job has no model');

  // The running job's model is not there yet: 409 until it has succeeded.
  const running = await fetch(`${srv.url}/jobs/${big.id}/model.glb`);
  const bigNow = await json(await fetch(`${srv.url}/jobs/${big.id}`));
  if (!['succeeded', 'failed', 'canceled'].includes(bigNow.status)) assert.equal(running.status, 409);
  else await running.arrayBuffer();

  for (const id of [queued.id, big.id]) {
    const d = await fetch(`${srv.url}/jobs/${id}`, { method: 'DELETE' });
    assert.equal(d.status, 204);
    assert.equal((await fetch(`${srv.url}/jobs/${id}`)).status, 404);
    assert.equal((await fetch(`${srv.url}/jobs/${id}`, { method: 'DELETE' })).status, 404);
    // A running job's folder goes when its worker has stopped it (at its
    // next progress report: seconds apart under a sanitizer on a busy machine).
    for (let i = 0; i < 200 * SLOW && fs.existsSync(srv.jobDir(id)); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(!fs.existsSync(srv.jobDir(id)), 'folder removed');
  }
  const list = await json(await fetch(`${srv.url}/jobs?limit=500`));
  assert.ok(!list.jobs.some((j) => j.id === queued.id || j.id === big.id));
});

test('deletions and first conversions at once: each answered as usual, the job answers meanwhile', async () => {
  const ids = [];
  for (let i = 0; i < 6; i++) ids.push((await json(await post('/generate', mugForm()))).id);
  for (const id of ids) assert.equal((await waitJob(srv.url, id)).status, 'succeeded');
  const [a, b, c, keep1, keep2, other] = ids;
  const fmts = ['obj', 'ply', 'stl'];
  // Deletions and conversions run on helper threads; the answers are the
  // documented ones: 204 for each delete (404 for the second of two deletes
  // of one job), the converted file for each download.
  const ops = [
    fetch(`${srv.url}/jobs/${a}`, { method: 'DELETE' }),
    fetch(`${srv.url}/jobs/${b}`, { method: 'DELETE' }),
    fetch(`${srv.url}/jobs/${c}`, { method: 'DELETE' }),
    fetch(`${srv.url}/jobs/${c}`, { method: 'DELETE' }),
    ...fmts.map((f) => fetch(`${srv.url}/jobs/${keep1}/model.${f}`)),
    ...fmts.map((f) => fetch(`${srv.url}/jobs/${keep2}/model.${f}`)),
  ];
  const polled = await fetch(`${srv.url}/jobs/${other}`);
  assert.equal(polled.status, 200);
  await polled.arrayBuffer();
  const res = await Promise.all(ops);
  const bodies = await Promise.all(res.map((r) => r.arrayBuffer()));
  assert.equal(res[0].status, 204);
  assert.equal(res[1].status, 204);
  assert.deepEqual([res[2].status, res[3].status].sort(), [204, 404]);
  for (let i = 4; i < res.length; i++) {
    assert.equal(res[i].status, 200);
    assert.ok(bodies[i].byteLength > 100, 'a whole model');
    assert.match(res[i].headers.get('content-disposition'), /attachment; filename=".+\.(obj|ply|stl)"/);
  }
  for (const id of [a, b, c]) {
    assert.equal((await fetch(`${srv.url}/jobs/${id}`)).status, 404);
    assert.ok(!fs.existsSync(srv.jobDir(id)), 'folder removed');
  }
  // Converted once and kept: a second download is the same file.
  const again = await fetch(`${srv.url}/jobs/${keep1}/model.obj`);
  assert.equal(again.status, 200);
  assert.equal((await again.arrayBuffer()).byteLength, bodies[4].byteLength);
  // jobs.json is one compact line without the deleted jobs.
  if (PG) return; // the file store's history
  const history = fs.readFileSync(path.join(srv.outputs, 'jobs.json'), 'utf8');
  assert.ok(!history.trimEnd().includes('\n'), 'compact');
  const parsed = JSON.parse(history);
  for (const id of [a, b, c]) assert.ok(!(id in parsed));
  for (const id of [keep1, keep2, other]) assert.ok(id in parsed);
});

test('the same Idempotency-Key returns the same job', async () => {
  const before = (await json(await fetch(`${srv.url}/jobs`))).total;
  const headers = { 'Idempotency-Key': 'batch-7/item-42' };
  const a = await post('/generate', mugForm(), headers);
  assert.equal(a.status, 202);
  const ja = await json(a);
  const b = await post('/generate', mugForm(), headers);
  assert.equal(b.status, 202);
  const jb = await json(b);
  assert.equal(jb.id, ja.id);
  assert.equal(b.headers.get('idempotent-replayed'), 'true');
  assert.equal((await json(await fetch(`${srv.url}/jobs`))).total, before + 1);
  await waitJob(srv.url, ja.id);
  const long = await post('/generate', mugForm(), { 'Idempotency-Key': 'k'.repeat(200) });
  assert.equal(long.status, 400);
});

test('GET /metrics has the documented families and counts requests', async () => {
  const scrape = async () => {
    const r = await fetch(`${srv.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    return r.text();
  };
  const count = (text, code) => {
    const m = new RegExp(`^lunar_nova_http_requests_total\\{code="${code}"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  const t1 = await scrape();
  for (const want of [
    /^lunar_nova_up 1$/m,
    /^lunar_nova_build_info\{version="\d+\.\d+\.\d+"\} 1$/m,
    /^lunar_nova_jobs\{status="succeeded"\} [1-9]\d*$/m,
    /^lunar_nova_jobs\{status="queued"\} \d+$/m,
    /^lunar_nova_queue_depth \d+$/m,
    /^lunar_nova_queue_capacity 64$/m,
    /^# TYPE lunar_nova_generation_seconds histogram$/m,
    /^lunar_nova_generation_seconds_bucket\{le="[0-9.e+]+"\} \d+$/m,
    /^lunar_nova_generation_seconds_bucket\{le="\+Inf"\} [1-9]\d*$/m,
    /^lunar_nova_generation_seconds_sum [0-9.]+$/m,
    /^lunar_nova_generation_seconds_count [1-9]\d*$/m,
    /^# TYPE lunar_nova_http_requests_total counter$/m,
    /^lunar_nova_http_requests_total\{code="202"\} [1-9]\d*$/m,
  ])
    assert.match(t1, want);
  // Buckets are cumulative and end with +Inf = count.
  const buckets = [...t1.matchAll(/^lunar_nova_generation_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)].map((m) => Number(m[2]));
  assert.deepEqual(buckets, [...buckets].sort((a, b) => a - b));
  assert.equal(buckets.at(-1), Number(/^lunar_nova_generation_seconds_count (\d+)$/m.exec(t1)[1]));
  await fetch(`${srv.url}/health`).then((r) => r.text());
  await fetch(`${srv.url}/no-such-page`).then((r) => r.text());
  const t2 = await scrape();
  assert.ok(count(t2, 200) >= count(t1, 200) + 2, 'the /health and the first /metrics are counted');
  assert.ok(count(t2, 404) >= count(t1, 404) + 1);
});

test('the web UI is served with its content type and caching', async () => {
  const r = await fetch(`${srv.url}/`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  const html = await r.text();
  assert.match(html, /<title>Lunar Nova<\/title>/);
  assert.match(html, /action="\/generate"/);
  assert.equal((await fetch(`${srv.url}/index.html`)).status, 200);
  assert.equal((await fetch(`${srv.url}/missing.js`)).status, 404);
});

test('unknown paths, wrong methods and ids that are not ids', async () => {
  const nf = await fetch(`${srv.url}/no/such/path`);
  assert.equal(nf.status, 404);
  assert.equal((await json(nf)).error.code, 'ENOTFOUND');
  for (const [method, p, allow] of [['DELETE', '/health', 'GET, HEAD'], ['GET', '/generate', 'POST'],
    ['PUT', '/jobs', 'GET, HEAD'], ['GET', `/jobs/${firstJob.id}/cancel`, 'POST'], ['POST', '/', 'GET, HEAD'],
    ['PUT', `/jobs/${firstJob.id}`, 'GET, HEAD, DELETE']]) {
    const r = await fetch(srv.url + p, { method });
    assert.equal(r.status, 405, `${method} ${p}`);
    assert.equal(r.headers.get('allow'), allow, `Allow header of ${p}`);
    assert.equal((await json(r)).error.code, 'EMETHOD');
  }
  assert.equal((await fetch(`${srv.url}/jobs/0123456789abcdef01234567`)).status, 404);
  for (const p of ['/jobs/../../etc', '/jobs/..%2F..%2Fetc', '/jobs/%2e%2e%2f%2e%2e%2fetc', '/jobs/..',
    '/jobs/%2E%2E/model.glb', '/jobs/..%2F..%2Fetc%2Fpasswd/inputs/0', '/../../etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd', '/index.html%00.png', '/.hidden', '/web/../index.html']) {
    const r = await rawGet(p);
    assert.equal(r.status, 404, p);
    assert.equal(JSON.parse(r.body).error.code, 'ENOTFOUND', p);
  }
});
