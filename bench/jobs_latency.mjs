#!/usr/bin/env node
// GET /jobs/{id} latency while deletions and first-time model conversions
// run: starts `lunar-nova serve` on a free 127.0.0.1 port with a fresh
// outputs folder, fills it with small finished jobs, then fires DELETEs of
// half of them and first downloads as .obj/.ply/.stl of the other half, all
// at once, while one client polls GET /jobs/{id} of another job as fast as
// it can until they have all been answered. Prints p50/p99/max of the polls.
// A second round does the same while submissions (each written and fsynced
// before its 202), cancels of some of them (half by default, LN_LAT_CANCELS
// of them spread evenly) and the worker's status changes run.
//
//   node bench/jobs_latency.mjs                 # build/lunar-nova, 50 + 50
//   LN_BIN=build-x/lunar-nova LN_SYNTH=build-x/ln-synth node bench/jobs_latency.mjs
//   LN_LAT_DELETES=20 LN_LAT_CONVERSIONS=20 LN_LAT_SUBMITS=20 LN_LAT_RES=96 node bench/jobs_latency.mjs
//   LN_LAT_DELETES=0 LN_LAT_CONVERSIONS=0 LN_LAT_CANCELS=50 node bench/jobs_latency.mjs  # round 2 only, every submission canceled
//
// Only 127.0.0.1 is contacted; every loop is bounded in count and time.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BIN = process.env.LN_BIN || path.join(root, 'build/lunar-nova');
const SYNTH = process.env.LN_SYNTH || path.join(root, 'build/ln-synth');
const N_DEL = Number(process.env.LN_LAT_DELETES || 50);
const N_CONV = Number(process.env.LN_LAT_CONVERSIONS || 50);
const N_SUB = Number(process.env.LN_LAT_SUBMITS || 50);
const N_CANCEL = Math.min(N_SUB, Number(process.env.LN_LAT_CANCELS ?? Math.ceil(N_SUB / 2)));
// Submission i is canceled when it starts a new step of N_CANCEL / N_SUB:
// every other one for half, every one for all.
const cancels = (i) => Math.floor(i * N_CANCEL / N_SUB) !== Math.floor((i - 1) * N_CANCEL / N_SUB);
const RES = Number(process.env.LN_LAT_RES || 128);
const POLL_LIMIT = 200000; // polls at most
const POLL_SECONDS = 120; // and for at most this long

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lunar-nova-lat-'));
let server = null;
function cleanup() {
  if (server && server.exitCode === null) server.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);

const img = path.join(tmp, 'small.png');
execFileSync(SYNTH, ['photo', img, '256']);
const png = fs.readFileSync(img);

const log = fs.openSync(path.join(tmp, 'server.log'), 'w');
server = spawn(BIN, ['serve', '--host', '127.0.0.1', '--port', '0', '--outputs',
  path.join(tmp, 'outputs'), '--max-queue', '256', '--keep-jobs', '0', '--shutdown-grace', '0'],
{ stdio: ['ignore', log, log] });
let url = null;
for (let i = 0; i < 300 && !url; i++) {
  const m = fs.readFileSync(path.join(tmp, 'server.log'), 'utf8')
    .match(/Listening on (http:\/\/127\.0\.0\.1:\d+)/);
  if (m) url = m[1];
  else await sleep(100);
}
if (!url) throw new Error('the server did not start: ' + fs.readFileSync(path.join(tmp, 'server.log'), 'utf8'));
for (let i = 0; i < 300; i++) { // ready once the engine is
  const r = await fetch(`${url}/jobs?limit=1`).catch(() => null);
  if (r && r.status === 200) break;
  await sleep(100);
}

// Small finished jobs: the ones to delete, to convert, and one to poll.
const n = N_DEL + N_CONV + 1;
const ids = [];
for (let i = 0; i < n; i++) {
  const fd = new FormData();
  fd.append('image', new Blob([png], { type: 'image/png' }), 'small.png');
  fd.append('resolution', String(RES));
  const r = await fetch(`${url}/generate`, { method: 'POST', body: fd });
  if (r.status !== 202) throw new Error(`submit: ${r.status} ${await r.text()}`);
  ids.push((await r.json()).id);
}
const t_gen = Date.now();
for (let i = 0; i < 6000; i++) {
  const r = await (await fetch(`${url}/jobs?status=succeeded&limit=1`)).json();
  if (r.total >= n) break;
  if (Date.now() - t_gen > 600e3) throw new Error('the jobs did not finish');
  await sleep(200);
}

const target = ids[n - 1];
const fmts = ['obj', 'ply', 'stl'];
let pending = N_DEL + N_CONV;
const t0 = performance.now();
const ops = [];
const statuses = {};
const done = (s) => { statuses[s] = (statuses[s] || 0) + 1; pending--; };
for (let i = 0; i < N_DEL; i++)
  ops.push(fetch(`${url}/jobs/${ids[i]}`, { method: 'DELETE' }).then(async (r) => { await r.arrayBuffer(); done(`DELETE ${r.status}`); }));
for (let i = 0; i < N_CONV; i++) {
  const f = fmts[i % 3];
  ops.push(fetch(`${url}/jobs/${ids[N_DEL + i]}/model.${f}`).then(async (r) => { await r.arrayBuffer(); done(`GET model ${r.status}`); }));
}
// Polls GET /jobs/{target} until every operation of the round has been
// answered; returns the sorted latencies and the count of non-200 answers.
async function poll(isPending) {
  const lat = [];
  let bad = 0;
  const t = performance.now();
  while (isPending() && lat.length < POLL_LIMIT && performance.now() - t < POLL_SECONDS * 1000) {
    const a = performance.now();
    const r = await fetch(`${url}/jobs/${target}`);
    await r.arrayBuffer();
    lat.push(performance.now() - a);
    if (r.status !== 200) bad++;
  }
  lat.sort((x, y) => x - y);
  return { lat, bad };
}
const report = (what, { lat, bad }) => {
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  console.log(`GET /jobs/{id} while ${what}: ${lat.length} polls (${bad} not 200), p50 ${q(0.5).toFixed(2)} ms, p99 ${q(0.99).toFixed(2)} ms, max ${lat[lat.length - 1].toFixed(2)} ms`);
};

if (N_DEL + N_CONV > 0) {
  const r1 = await poll(() => pending > 0);
  await Promise.all(ops);
  const t_ops = performance.now() - t0;
  console.log(`${BIN}: ${N_DEL} deletes + ${N_CONV} conversions of grid-${RES} jobs, all answered in ${(t_ops / 1000).toFixed(2)} s (${JSON.stringify(statuses)})`);
  report('they ran', r1);
}

// Round 2: submissions, cancels of N_CANCEL of them, and the worker running
// the rest, all writing records and jobs.json.
if (N_SUB > 0) {
  let open = N_SUB;
  const st2 = {};
  const note = (s) => { st2[s] = (st2[s] || 0) + 1; };
  const t1 = performance.now();
  // Four clients at a time: the server answers 503 beyond its bounded
  // upload queue, which is not what this measures.
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < N_SUB; i = next++) {
      const fd = new FormData();
      fd.append('image', new Blob([png], { type: 'image/png' }), 'small.png');
      fd.append('resolution', String(RES));
      const r = await fetch(`${url}/generate`, { method: 'POST', body: fd });
      const j = await r.json();
      note(`POST ${r.status}`);
      if (r.status === 202 && cancels(i)) {
        const c = await fetch(`${url}/jobs/${j.id}/cancel`, { method: 'POST' });
        await c.arrayBuffer();
        note(`cancel ${c.status}`);
      }
      open--;
    }
  };
  const subs = [lane(), lane(), lane(), lane()];
  const r2 = await poll(() => open > 0);
  await Promise.all(subs);
  console.log(`${BIN}: ${N_SUB} submissions + ${N_CANCEL} cancels, all answered in ${((performance.now() - t1) / 1000).toFixed(2)} s (${JSON.stringify(st2)})`);
  report('they ran', r2);
}
server.kill('SIGTERM');
for (let i = 0; i < 100 && server.exitCode === null; i++) await sleep(100);
process.exit(0);
