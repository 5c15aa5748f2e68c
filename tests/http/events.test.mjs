// Event streams on the server's small pool of HTTP threads: a stream with
// nothing to send is parked (its connection suspended) and woken when its
// job changes, so many streams at once neither hold up other requests nor
// miss a change; a stream ends on the final state, when its job is deleted
// and when the server stops.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, synth, tmpDir, form, json, waitJob, SANITIZER, SLOW } from './server.mjs';

let srv;
let photo; // bytes of a synthetic photo, large enough for a generation of a few seconds
// The grid of those generations: 512 takes a few seconds in a release
// build and under ASan; under ThreadSanitizer the first test took 49 s at
// 512 on two cores and takes 12 s at 256.
const GRID = SANITIZER === 'thread' ? 256 : 512;

before(async () => {
  const dir = tmpDir('events-in');
  photo = fs.readFileSync(synth('photo', path.join(dir, 'photo.png'), 512));
  // Two HTTP threads: fewer than the streams by far.
  srv = await startServer(['--http-threads', '2']);
});

after(async () => {
  if (srv) await srv.stop();
});

async function submit(resolution, url = srv.url) {
  const fd = form([{ field: 'image', name: 'photo.png', bytes: photo }], [
    ['resolution', resolution],
    ['faces', 0],
  ]);
  const res = await fetch(`${url}/generate`, { method: 'POST', body: fd });
  assert.equal(res.status, 202);
  return (await json(res)).id;
}

// Reads a stream to its end; returns its events (job snapshots) and the
// number of keep-alive comments.
async function readEvents(id, url = srv.url) {
  return streamEvents(await openEvents(id, url));
}

// The stream's response, once its headers have come: the server has taken
// the request.
async function openEvents(id, url = srv.url) {
  const res = await fetch(`${url}/jobs/${id}/events`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  return res;
}

// Reads a stream to its end: its events and how many comment blocks.
async function streamEvents(res) {
  const text = await res.text();
  const events = [];
  let comments = 0;
  for (const block of text.split('\n\n')) {
    if (block.startsWith(':')) comments++;
    const lines = block.split('\n');
    const idLine = lines.find((l) => l.startsWith('id: '));
    const data = lines.find((l) => l.startsWith('data: '));
    if (data) events.push({ id: Number(idLine.slice(4)), job: JSON.parse(data.slice(6)) });
  }
  return { events, comments };
}

async function waitRunning(id) {
  const until = Date.now() + 20000;
  for (;;) {
    const job = await json(await fetch(`${srv.url}/jobs/${id}`));
    if (job.status !== 'queued') return job;
    if (Date.now() > until) throw new Error(`job ${id} still queued`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('forty streams of one job, on two HTTP threads, all follow it to the end', async () => {
  const id = await submit(GRID);
  const streams = Array.from({ length: 40 }, () => readEvents(id));
  // Meanwhile other requests are answered promptly.
  const slowest = { ms: 0 };
  const t0 = Date.now();
  let answered = 0;
  while (Date.now() - t0 < 1000) {
    const t = performance.now();
    const res = await fetch(`${srv.url}/health`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    slowest.ms = Math.max(slowest.ms, performance.now() - t);
    answered++;
  }
  assert.ok(answered > 10 / SLOW, `only ${answered} /health answers in 1 s`);
  // Under Wine (LN_TEST_SLOW 2: the Windows build's server beside a job on
  // the same two cores, every call through Wine's layer) one answer took
  // 554 ms in a run of make test.
  const bound = 500 * SLOW;
  assert.ok(slowest.ms < bound, `a /health answer took ${slowest.ms.toFixed(0)} ms (bound ${bound})`);
  const final = await waitJob(srv.url, id);
  assert.equal(final.status, 'succeeded');
  for (const { events } of await Promise.all(streams)) {
    assert.ok(events.length >= 2, `${events.length} events`);
    assert.ok(events.every((e) => e.job.id === id && e.id > 0));
    for (let i = 1; i < events.length; i++)
      assert.ok(events[i].id > events[i - 1].id, 'versions only go up');
    assert.equal(events.at(-1).job.status, 'succeeded');
    assert.deepEqual(events.at(-1).job, final, 'the last event is the final state');
  }
});

test('a stream ends when its job is canceled or deleted', async () => {
  const a = await submit(GRID);
  await waitRunning(a);
  const b = await submit(GRID); // queued behind a
  // Both streams are open (their headers came) before the deletion.
  const [sa, sb] = (await Promise.all([openEvents(a), openEvents(b)])).map(streamEvents);
  assert.equal((await fetch(`${srv.url}/jobs/${b}`, { method: 'DELETE' })).status, 204);
  const { events: eb } = await sb;
  assert.equal(eb.at(-1).job.status, 'queued', 'the deleted job sent no final state');
  assert.equal((await fetch(`${srv.url}/jobs/${a}/cancel`, { method: 'POST' })).status, 200);
  const { events: ea } = await sa;
  assert.equal(ea.at(-1).job.status, 'canceled');
});

test('open streams end when the server stops, and it stops cleanly', async () => {
  const s = await startServer(['--http-threads', '1', '--shutdown-grace', '0'], { prefix: 'events-stop' });
  try {
    const id = await submit(GRID, s.url);
    // Every stream is open (its headers came) before the stop.
    const opened = await Promise.all(Array.from({ length: 5 }, () => openEvents(id, s.url)));
    const streams = opened.map(streamEvents);
    const t0 = Date.now();
    await s.stop(); // SIGTERM, exit status 0
    assert.ok(Date.now() - t0 < 5000 * SLOW, `stop took ${Date.now() - t0} ms`);
    for (const { events } of await Promise.all(streams)) assert.ok(events.length >= 1);
  } catch (e) {
    await s.kill().catch(() => {});
    throw e;
  }
});
