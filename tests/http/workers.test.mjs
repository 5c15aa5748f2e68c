// Several machines, here several processes: a server with no workers of
// its own (serve --workers 0, the API only) and three `lunar-nova worker`
// processes on one PostgreSQL job store. Every job is run exactly once, by
// one of the workers, its results come back through the server, and the
// server's event stream follows a job that another process runs (LISTEN/
// NOTIFY). The database restarted under load loses nothing and costs no
// client an error; a database newer than the program is refused. These run
// on the PostgreSQL store only (LN_HTTP_STORE=postgres, see pg.mjs); the
// checks of --store and --workers 0 run on both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, synth, tmpDir, form, json, waitJob, BIN, NO_WEIGHTS_ENV, PG, SLOW, wineSkip } from './server.mjs';
import { startCluster, createDatabase } from './pg.mjs';

const skip = PG ? false : 'separate workers need the PostgreSQL store (LN_HTTP_STORE=postgres)';
const pgOnly = PG ? false : 'a PostgreSQL database to refuse needs LN_HTTP_STORE=postgres';

// Reads an event stream to its end; returns the job snapshots it carried.
async function readEvents(url, id) {
  const res = await fetch(`${url}/jobs/${id}/events`);
  assert.equal(res.status, 200);
  const text = await res.text();
  return text.split('\n\n').map((b) => b.split('\n').find((l) => l.startsWith('data: ')))
    .filter(Boolean).map((l) => JSON.parse(l.slice(6)));
}

test('a server and three lunar-nova worker processes run every job exactly once', { skip, timeout: 180000 * SLOW }, async (t) => {
  const dir = tmpDir('workers-in');
  const photo = fs.readFileSync(synth('photo', path.join(dir, 'photo.png'), 384));
  const srv = await startServer(['--workers', '0']);
  const workers = [];
  try {
    const health = await json(await fetch(`${srv.url}/health`));
    assert.equal(health.queue.workers, 0);
    const submit = async (resolution) => {
      const res = await fetch(`${srv.url}/generate`, {
        method: 'POST',
        body: form([{ field: 'image', name: 'photo.png', bytes: photo }], [['resolution', resolution], ['faces', 0]]),
      });
      assert.equal(res.status, 202);
      return (await json(res)).id;
    };
    // Queued before any worker runs: nothing in this server takes it.
    const first = await submit(128);
    const stream = readEvents(srv.url, first);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await json(await fetch(`${srv.url}/jobs/${first}`))).status, 'queued');

    for (let i = 0; i < 3; i++) {
      const proc = spawn(BIN, ['worker', '--store', srv.store, '--name', `w${i}`, '--threads', '1',
        '--scratch', path.join(dir, `scratch-${i}`)], {
        env: { ...process.env, ...NO_WEIGHTS_ENV },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const w = { proc, log: '', exit: null };
      proc.stderr.setEncoding('utf8');
      proc.stderr.on('data', (c) => (w.log += c));
      w.exit = new Promise((resolve) => proc.on('close', (code, signal) => resolve(code ?? signal)));
      workers.push(w);
    }
    const ids = [first];
    for (let i = 0; i < 11; i++) ids.push(await submit(64));

    for (const id of ids) {
      const job = await waitJob(srv.url, id, { timeoutMs: 120000 });
      assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
      assert.equal(job.attempts, 1);
      const glb = Buffer.from(await (await fetch(`${srv.url}/jobs/${id}/model.glb`)).arrayBuffer());
      assert.equal(glb.subarray(0, 4).toString('latin1'), 'glTF');
      assert.equal((await fetch(`${srv.url}/jobs/${id}/preview.png`)).status, 200);
    }
    // The stream of the first job saw it queued, run elsewhere, and done.
    const events = await stream;
    const statuses = events.map((e) => e.status);
    assert.equal(statuses[0], 'queued');
    assert.ok(statuses.includes('running'), statuses.join(' '));
    assert.equal(statuses.at(-1), 'succeeded');

    for (const w of workers) w.proc.kill('SIGTERM');
    const codes = await Promise.all(workers.map((w) => w.exit));
    assert.deepEqual(codes, [0, 0, 0], workers.map((w) => w.log.slice(-1000)).join('\n---\n'));
    // Each job ran once, on one worker.
    const runs = new Map();
    workers.forEach((w, i) => {
      for (const m of w.log.matchAll(/job ([0-9a-f]{24}): running \(attempt (\d+)\)/g))
        runs.set(m[1], [...(runs.get(m[1]) || []), i]);
    });
    assert.deepEqual([...runs.keys()].sort(), [...ids].sort());
    for (const [id, on] of runs) assert.equal(on.length, 1, `job ${id} ran on workers ${on}`);
    const per = [0, 1, 2].map((i) => [...runs.values()].filter((on) => on[0] === i).length);
    t.diagnostic(`jobs per worker: ${per.join(', ')}`);
  } finally {
    for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
    await srv.stop();
  }
});

test('the database restarted under load: no request fails, every job runs once', { skip, timeout: 120000 * SLOW }, async () => {
  // A PostgreSQL of this test's own: the run's is shared with other files.
  const cluster = await startCluster();
  let srv;
  try {
    createDatabase(`${cluster.host}:${cluster.port}`, 'restart');
    const dir = tmpDir('restart-pg-in');
    const photo = fs.readFileSync(synth('photo', path.join(dir, 'photo.png'), 192));
    srv = await startServer(['--workers', '2', '--store', `postgres://lunar@${cluster.host}:${cluster.port}/restart`]);
    const submit = async () => {
      const res = await fetch(`${srv.url}/generate`, {
        method: 'POST',
        body: form([{ field: 'image', name: 'photo.png', bytes: photo }], [['resolution', 64], ['faces', 0]]),
      });
      assert.equal(res.status, 202, await res.clone().text());
      return (await json(res)).id;
    };
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await submit());
    cluster.restart();
    for (let i = 0; i < 4; i++) ids.push(await submit());
    for (const id of ids) {
      const job = await waitJob(srv.url, id, { timeoutMs: 60000 });
      assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
      assert.equal(job.attempts, 1, `job ${id} ran ${job.attempts} times`);
      assert.equal((await fetch(`${srv.url}/jobs/${id}/model.glb`)).status, 200);
    }
    assert.equal((await json(await fetch(`${srv.url}/jobs`))).total, ids.length);
    assert.match(srv.log(), /the job store is reachable again/);
  } finally {
    if (srv) await srv.stop();
    cluster.stop();
  }
});

test('--store and --workers 0 are checked before anything starts', { skip: wineSkip('it runs the program directly, not through Wine') }, async () => {
  const out = path.join(tmpDir('store-usage'), 'outputs');
  const run = (args, env = {}) => spawnSync(process.env.LN_BIN, ['serve', '--port', '0', '--outputs', out, ...args],
    { encoding: 'utf8', timeout: 10000 * SLOW, env: { ...process.env, ...NO_WEIGHTS_ENV, ...env } });
  let r = run(['--workers', '0']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--workers 0 needs a shared job store/);
  r = run(['--store', 'mysql://db/lunar']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--store wants file or a postgres:\/\/ URI \(got 'mysql:\/\/db\/lunar'\)/);
  r = run([], { LUNAR_NOVA_STORE: 'sqlite:x' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /LUNAR_NOVA_STORE wants file or a postgres:\/\/ URI/);
  assert.ok(!fs.existsSync(out), 'nothing was made');
});

test('a database newer than the program is refused with one line, and left as it is', { skip: pgOnly }, async () => {
  const srv = await startServer(['--workers', '0']);
  await srv.stop();
  const [host, port] = PG.split(':');
  const db = new URL(srv.store).pathname.slice(1);
  const psql = (sql) => execFileSync('psql', ['-h', host, '-p', port, '-U', 'lunar', '-d', db, '-At', '-c', sql], { encoding: 'utf8' }).trim();
  psql('UPDATE ln_schema SET version = 99');
  const r = spawnSync(process.env.LN_BIN, ['serve', '--port', '0', '--outputs', srv.outputs, '--store', srv.store],
    { encoding: 'utf8', timeout: 20000 * SLOW, env: { ...process.env, ...NO_WEIGHTS_ENV } });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /job store: PostgreSQL: the database's schema is version 99, newer than this program's \d+: upgrade lunar-nova \(nothing was changed\)/);
  assert.equal(psql('SELECT version FROM ln_schema'), '99');
});
