// Bad requests against a real `lunar-nova serve`: each gets the documented
// status and a JSON error, none leaves a job, a staging folder or a changed
// jobs.json behind, and oversized bodies are refused without being read.
// Also the idle timeout, the API token and the start-up refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import zlib from 'node:zlib';
import { BIN, startServer, synth, tmpDir, form, json, snapshot, waitJob } from './server.mjs';

const MAX_UPLOAD_MB = 1;
const MAX_REQUEST_MB = 4;

let srv;
let dir;
let mug;
let baseline; // the outputs folder after one good job

before(async () => {
  dir = tmpDir('bad-in');
  mug = fs.readFileSync(synth('photo', path.join(dir, 'mug.png'), 96));
  srv = await startServer(['--max-upload-mb', MAX_UPLOAD_MB, '--max-request-mb', MAX_REQUEST_MB].map(String));
  // One good job first, so that "unchanged" covers a non-empty history.
  const res = await fetch(`${srv.url}/generate`, { method: 'POST', body: imageForm(mug, 'mug.png', [['resolution', 48]]) });
  assert.equal(res.status, 202);
  assert.equal((await waitJob(srv.url, (await json(res)).id)).status, 'succeeded');
  baseline = snapshot(srv.outputs);
});

after(async () => {
  if (srv) await srv.stop();
});

function imageForm(bytes, name = 'x.png', fields = [], field = 'image') {
  return form([{ field, name, bytes }], fields);
}

// The outputs folder must come back to the baseline: no job, no staging
// folder, the same jobs.json. The folder is removed before the answer is
// sent, except when a connection is cut, hence the short wait.
async function assertUnchanged(what) {
  let now;
  for (let i = 0; i < 40; i++) {
    now = snapshot(srv.outputs);
    if (JSON.stringify(now) === JSON.stringify(baseline)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(now, baseline, `${what} changed the outputs folder`);
}

async function expectError(res, status, code, what) {
  const body = await json(res);
  assert.equal(res.status, status, `${what}: ${JSON.stringify(body)}`);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  if (code) assert.equal(body.error.code, code, what);
  await assertUnchanged(what);
  return body.error;
}

const postForm = (fd, p = '/generate') => fetch(`${srv.url}${p}`, { method: 'POST', body: fd });

// A PNG of w x h RGBA pixels (zlib deflate, CRC from zlib.crc32 or a table).
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(buf);
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function pngHeader(w, h) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr)]);
}
function tinyPng(w, h) {
  const raw = Buffer.alloc(h * (1 + 4 * w), 0x80);
  for (let y = 0; y < h; y++) raw[y * (1 + 4 * w)] = 0; // filter: none
  return Buffer.concat([pngHeader(w, h), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

test('a text file named x.png is 415', async () => {
  const text = fs.readFileSync(synth('text', path.join(dir, 'x.txt')));
  await expectError(await postForm(imageForm(text, 'x.png')), 415, 'EFORMAT', 'text as png');
});

test('a truncated PNG is 415', async () => {
  await expectError(await postForm(imageForm(mug.subarray(0, mug.length >> 1))), 415, 'EFORMAT', 'truncated');
});

test('a zero-byte upload is refused', async () => {
  const e = await expectError(await postForm(imageForm(Buffer.alloc(0))), 400, 'EINVAL', 'empty file');
  assert.match(e.message, /empty/);
});

test('a PNG header claiming 100000x100000 is 413', async () => {
  const header = pngHeader(100000, 100000);
  assert.equal(header.length, 33);
  const idat = chunk('IDAT', zlib.deflateSync(Buffer.alloc(4096)));
  const bytes = Buffer.concat([header, idat, chunk('IEND', Buffer.alloc(0))]);
  await expectError(await postForm(imageForm(bytes, 'huge.png')), 413, 'ETOOBIG', 'huge header');
});

test('an image smaller than 8x8 and a blank image are 422', async () => {
  await expectError(await postForm(imageForm(tinyPng(4, 4), 'tiny.png')), 422, 'EUNUSABLE', 'tiny');
  const blank = fs.readFileSync(synth('blank', path.join(dir, 'blank.png'), 64));
  const e = await expectError(await postForm(imageForm(blank, 'blank.png')), 422, 'EUNUSABLE', 'blank');
  assert.match(e.message, /blank\.png/);
});

test('bad fields are 400 naming the field', async () => {
  for (const [k, v] of [['resolution', '9999'], ['resolution', 'abc'], ['faces', '2'], ['foreground_ratio', '2'],
    ['remove_bg', 'maybe'], ['projection', 'fisheye'], ['origin', 'top'], ['engine', 'triposr'], ['fov', '0'], ['size', '-1']]) {
    const e = await expectError(await postForm(imageForm(mug, 'mug.png', [[k, v]])), 400, 'EINVAL', `${k}=${v}`);
    assert.match(e.message, new RegExp(`'${k}'`));
    if (k === 'engine') assert.match(e.message, /engine 'triposr' is not available \(available: sculpt\)/);
  }
  const e = await expectError(await postForm(imageForm(mug, 'mug.png', [['colour', 'red']])), 400, 'EINVAL', 'unknown field');
  assert.match(e.message, /unknown field 'colour'/);
  await expectError(await postForm(form([{ field: 'picture', name: 'a.png', bytes: mug }])), 400, 'EINVAL', 'file in another field');
  await expectError(await postForm(form([], [['resolution', '64']])), 400, 'EINVAL', 'no image');
  await expectError(await postForm(form([{ field: 'image', name: 'a.png', bytes: mug }, { field: 'image', name: 'b.png', bytes: mug }])), 400, 'EINVAL', 'two images');
  await expectError(await postForm(imageForm(mug, 'a.png', [], 'images'), '/generate/multi'), 400, 'EINVAL', 'multi with one image');
  const two = form([{ field: 'images', name: 'a.png', bytes: mug }, { field: 'images', name: 'b.png', bytes: mug }], [['views', '0,0;90,0;180,0']]);
  await expectError(await postForm(two, '/generate/multi'), 400, 'EINVAL', 'three views for two images');
  const badView = form([{ field: 'images', name: 'a.png', bytes: mug }, { field: 'images', name: 'b.png', bytes: mug }], [['view', '0,0'], ['view', '90,95']]);
  await expectError(await postForm(badView, '/generate/multi'), 400, 'EINVAL', 'elevation 95');
});

test('a file over the per-file limit is 413', async () => {
  const big = Buffer.concat([mug, Buffer.alloc(MAX_UPLOAD_MB * 1048576)]);
  await expectError(await postForm(imageForm(big, 'big.png')), 413, 'ETOOBIG', 'big file');
});

test('10000 form fields are refused quickly', async () => {
  const fields = Array.from({ length: 10000 }, (_, i) => [`f${i}`, 'x']);
  const t0 = Date.now();
  const res = await postForm(imageForm(mug, 'mug.png', fields));
  assert.ok([400, 413].includes(res.status), `status ${res.status}`);
  await expectError(res, res.status, null, '10000 fields');
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  // Known fields, too many of them: refused by count.
  const many = form([{ field: 'images', name: 'a.png', bytes: mug }, { field: 'images', name: 'b.png', bytes: mug }],
    Array.from({ length: 100 }, () => ['view', '0,0']));
  await expectError(await postForm(many, '/generate/multi'), 413, 'ETOOBIG', '100 view fields');
  const long = await postForm(imageForm(mug, 'mug.png', [['resolution', '6'.repeat(5000)]]));
  const e = await expectError(long, 413, 'ETOOBIG', 'a 5000-byte field');
  assert.match(e.message, /'resolution' is longer than 4096 bytes/);
});

test('a wrong Content-Type is 415', async () => {
  const r1 = await fetch(`${srv.url}/generate`, { method: 'POST', body: JSON.stringify({ image: 'x' }), headers: { 'Content-Type': 'application/json' } });
  await expectError(r1, 415, 'EFORMAT', 'json body');
  const r2 = await fetch(`${srv.url}/generate`, { method: 'POST', body: new URLSearchParams({ resolution: '64' }) });
  await expectError(r2, 415, 'EFORMAT', 'urlencoded body');
  const r3 = await fetch(`${srv.url}/generate`, { method: 'POST', body: mug, headers: { 'Content-Type': 'image/png' } });
  await expectError(r3, 415, 'EFORMAT', 'raw png body');
  const r4 = await fetch(`${srv.url}/generate`, { method: 'POST', body: 'x', headers: { 'Content-Type': 'multipart/form-data' } });
  await expectError(r4, 400, 'EINVAL', 'no boundary');
});

// Sends a request by hand: headers, then body chunks from a generator while
// the server keeps reading. Resolves with the response status (or the
// connection error) and how many body bytes were written.
function streamRequest(headers, chunks) {
  return new Promise((resolve) => {
    const u = new URL(srv.url);
    let written = 0;
    let done = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      req.destroy();
      resolve({ ...r, written });
    };
    const req = http.request({ host: u.hostname, port: u.port, path: '/generate', method: 'POST', headers });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => finish({ status: res.statusCode, body }));
      res.on('error', (e) => finish({ error: e.code || String(e) }));
    });
    req.on('error', (e) => finish({ error: e.code || String(e) }));
    req.flushHeaders();
    const pump = () => {
      for (;;) {
        if (done) return;
        const { value, done: end } = chunks.next();
        if (end) return req.end();
        written += value.length;
        if (!req.write(value)) return req.once('drain', pump);
      }
    };
    // Give an answer to the headers alone a moment to arrive first.
    setTimeout(pump, 200);
  });
}

function* gigabyte(boundary) {
  const piece = Buffer.alloc(256 * 1024, 0x41);
  yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`);
  for (let sent = 0; sent < 1e9; sent += piece.length) yield piece;
}

test('a declared 1 GB body is refused with 413 before it is read', async () => {
  const boundary = 'b0undary';
  const r = await streamRequest(
    { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(1e9) },
    gigabyte(boundary),
  );
  assert.equal(r.status, 413, JSON.stringify(r));
  assert.equal(JSON.parse(r.body).error.code, 'ETOOBIG');
  assert.ok(r.written < 16 * 1048576, `wrote ${r.written} bytes before the answer`);
  await assertUnchanged('1 GB declared');
});

test('a chunked body without a length is cut off at the request limit', async () => {
  const boundary = 'b0undary';
  const t0 = Date.now();
  const r = await streamRequest({ 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Transfer-Encoding': 'chunked' }, gigabyte(boundary));
  // Either the 413 of the per-file limit, or the connection closed at the
  // request limit: never the whole gigabyte.
  assert.ok(r.status === 413 || r.error, JSON.stringify(r));
  assert.ok(r.written < (MAX_REQUEST_MB + 64) * 1048576, `wrote ${r.written} bytes`);
  assert.ok(Date.now() - t0 < 20000);
  await assertUnchanged('1 GB chunked');
  assert.equal((await fetch(`${srv.url}/health`)).status, 200);
});

test('a slow client is dropped after the idle timeout and the server stays up', async () => {
  const slow = await startServer(['--timeout', '2'], { prefix: 'slow' });
  try {
    const closed = await new Promise((resolve, reject) => {
      const sock = net.connect(slow.port, '127.0.0.1', () => sock.write('GET /hea'));
      const t0 = Date.now();
      const limit = setTimeout(() => {
        sock.destroy();
        reject(new Error('the server kept a stalled connection open for 8 s'));
      }, 8000);
      sock.on('data', () => {});
      sock.on('error', () => {});
      sock.on('close', () => {
        clearTimeout(limit);
        resolve(Date.now() - t0);
      });
    });
    assert.ok(closed >= 1500, `closed after ${closed} ms`);
    assert.equal((await fetch(`${slow.url}/health`)).status, 200);
  } finally {
    await slow.stop();
  }
});

test('an API token is required when configured', async () => {
  const token = 's3cret-token';
  const sec = await startServer(['--api-token', token], { prefix: 'token' });
  try {
    assert.equal((await fetch(`${sec.url}/health`)).status, 200, '/health is public');
    assert.equal((await fetch(`${sec.url}/`)).status, 200, 'the UI is public');
    const no = await fetch(`${sec.url}/jobs`);
    assert.equal(no.status, 401);
    assert.equal((await json(no)).error.code, 'EAUTH');
    assert.equal((await fetch(`${sec.url}/jobs`, { headers: { Authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await fetch(`${sec.url}/jobs`, { headers: { Authorization: `Bearer ${token}x` } })).status, 401);
    assert.equal((await fetch(`${sec.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${sec.url}/jobs`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
    assert.equal((await fetch(`${sec.url}/jobs`, { headers: { 'X-API-Token': token } })).status, 200);
    const up = await fetch(`${sec.url}/generate`, { method: 'POST', body: imageForm(mug, 'mug.png') });
    assert.equal(up.status, 401);
    await up.text();
    const ok = await fetch(`${sec.url}/generate`, { method: 'POST', body: imageForm(mug, 'mug.png', [['resolution', 48]]), headers: { Authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 202);
    await waitJob(sec.url, (await json(ok)).id, { headers: { Authorization: `Bearer ${token}` } });
  } finally {
    await sec.stop();
  }
});

test('a full queue answers 503 with Retry-After and stores nothing', async () => {
  const small = await startServer(['--max-queue', '1'], { prefix: 'queue' });
  try {
    const submit = (fields) =>
      fetch(`${small.url}/generate`, { method: 'POST', body: imageForm(mug, 'mug.png', fields) });
    // One job running for a while, one waiting: the queue of one is full.
    const running = await json(await submit([['resolution', 512], ['smooth', 200]]));
    for (let i = 0; i < 100; i++) {
      if ((await json(await fetch(`${small.url}/jobs/${running.id}`))).status !== 'queued') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await submit([['resolution', 48]])).status, 202);
    const before = snapshot(small.outputs).entries.filter((e) => /^[0-9a-f]{24}\/$/.test(e));
    const full = await submit([['resolution', 48]]);
    assert.equal(full.status, 503);
    assert.equal(full.headers.get('retry-after'), '5');
    assert.equal((await json(full)).error.code, 'EBUSY');
    const after = snapshot(small.outputs).entries.filter((e) => /^[0-9a-f]{24}\/$/.test(e) || e.startsWith('.staging'));
    assert.deepEqual(after, before, 'no job folder and no staging folder added');
    assert.equal((await json(await fetch(`${small.url}/jobs`))).total, 2);
    await fetch(`${small.url}/jobs/${running.id}`, { method: 'DELETE' });
  } finally {
    await small.stop();
  }
});

test('start-up refusals: no token off loopback (exit 2), port in use (exit 1)', () => {
  const out = path.join(tmpDir('refuse'), 'outputs');
  const r = spawnSync(BIN, ['serve', '--host', '0.0.0.0', '--port', '0', '--outputs', out], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /token/);
  const r2 = spawnSync(BIN, ['serve', '--port', String(srv.port), '--outputs', out], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /in use/i);
  const r3 = spawnSync(BIN, ['serve', '--port', '0', '--outputs', out], { encoding: 'utf8', timeout: 10000, env: { ...process.env, LUNAR_NOVA_PORT: 'eighty' } });
  assert.equal(r3.status, 2, 'a bad environment value is a usage error');
  assert.match(r3.stderr, /LUNAR_NOVA_PORT/);
});
