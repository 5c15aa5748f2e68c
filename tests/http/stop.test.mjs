// SIGTERM at once after the "Listening on" line: the server stops cleanly
// (exit status 0) every time. A stop signal once could reach a thread that
// a library starts before the program (OpenBLAS's pool), whose default
// action ended the process by the signal instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startServer, synth, tmpDir, form, json, SLOW } from './server.mjs';

test('SIGTERM right after start-up: a clean stop, twenty times over', async () => {
  for (let i = 0; i < 20; i++) {
    const srv = await startServer([], { prefix: 'stop-at-once' });
    await srv.stop(); // throws unless the exit status is 0
  }
});

// A stop under way: a request that began before it finishes and its job is
// kept; one that arrives after it is answered 503 with the reason. The
// upload asks "Expect: 100-continue", so the server's "100 Continue" says
// it has the request before the stop is sent.
test('SIGTERM during an upload: the upload finishes and its job is kept; a new request gets 503', async () => {
  const dir = tmpDir('stop-drain-in');
  const photo = fs.readFileSync(synth('photo', path.join(dir, 'photo.png'), 96));
  const srv = await startServer([], { prefix: 'stop-drain' });
  const outputs = srv.outputs;
  const fd = form([{ field: 'image', name: 'photo.png', bytes: photo }], [['resolution', 32]]);
  const encoded = new Request('http://localhost/', { method: 'POST', body: fd });
  const body = Buffer.from(await encoded.arrayBuffer());
  const u = new URL(srv.url);
  let stopped;
  try {
    const req = http.request({
      host: u.hostname, port: u.port, path: '/generate', method: 'POST',
      headers: { 'Content-Type': encoded.headers.get('content-type'), 'Content-Length': body.length,
        Expect: '100-continue' },
    });
    const answer = new Promise((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, text }));
      });
      req.on('error', reject);
    });
    await new Promise((resolve, reject) => {
      req.on('continue', resolve);
      req.on('error', reject);
      req.flushHeaders();
    });
    const half = Math.floor(body.length / 2);
    await new Promise((resolve) => req.write(body.subarray(0, half), resolve));

    stopped = srv.stop(); // SIGTERM now; resolves once the server has exited with 0
    stopped.catch(() => {});
    const until = Date.now() + 5000 * SLOW;
    while (!/received: shutting down/.test(srv.log())) {
      assert.ok(Date.now() < until, `no shutdown line:\n${srv.log()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // The log line comes just before the server starts refusing: ask until it does.
    let res, refused;
    for (;;) {
      res = await fetch(`${srv.url}/health`, { headers: { Connection: 'close' } });
      refused = await json(res);
      if (res.status === 503 || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(res.status, 503, JSON.stringify(refused));
    assert.equal(res.headers.get('retry-after'), '5');
    assert.deepEqual(refused.error, { code: 'EBUSY', message: 'the server is stopping' });

    req.end(body.subarray(half));
    const { status, text } = await answer;
    assert.equal(status, 202, text);
    const job = JSON.parse(text);
    await stopped;

    const again = await startServer([], { outputs });
    try {
      const kept = await json(await fetch(`${again.url}/jobs/${job.id}`));
      assert.equal(kept.id, job.id);
      assert.ok(['queued', 'running', 'succeeded'].includes(kept.status), kept.status);
    } finally {
      await again.stop();
    }
  } finally {
    await (stopped ?? srv.stop()); // a failure before the stop or during it
  }
});
