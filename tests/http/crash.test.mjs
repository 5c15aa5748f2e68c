// Crash safety of the job history (docs/ARCHITECTURE.md §4): the server is
// killed with SIGKILL while it works and started again on the same outputs
// folder. A job running at the kill is queued again and succeeds; in a loop
// of rounds killed at random moments, outputs/jobs.json always parses (or
// its .bak does, and the next start recovers from it), no acknowledged job
// is lost and no finished job is undone — not even when jobs.json is
// damaged on purpose and the .bak is one save behind: the job folders' own
// records (outputs/<id>/job.json) give back what the .bak lacks.
//
// The loop is reproducible: LN_CRASH_SEED=<n> replays a run (the seed is
// printed first), LN_CRASH_ROUNDS sets the number of rounds (default 200).
// It is bounded in rounds and in time (LN_CRASH_BUDGET_S, default 200 s).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, synth, tmpDir, form, json, waitJob, fileStoreOnly } from './server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// mulberry32: a small seeded generator, so a failing run can be replayed.
function rng32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Reads a history file: { state: 'ok', jobs } | { state: 'missing' } |
// { state: 'corrupt', why }.
function readHistory(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return { state: 'missing' };
    throw e;
  }
  try {
    const jobs = JSON.parse(text);
    if (!jobs || typeof jobs !== 'object' || Array.isArray(jobs))
      return { state: 'corrupt', why: 'not a JSON object' };
    return { state: 'ok', jobs };
  } catch (e) {
    return { state: 'corrupt', why: e.message };
  }
}

function isGlb(file) {
  let fd;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return false;
  }
  const b = Buffer.alloc(4);
  const n = fs.readSync(fd, b, 0, 4, 0);
  fs.closeSync(fd);
  return n === 4 && b.toString('latin1') === 'glTF';
}

// Polls until GET /jobs shows nothing queued or running.
async function drain(url, timeoutMs) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const q = await json(await fetch(`${url}/jobs?status=queued&limit=1`));
    const r = await json(await fetch(`${url}/jobs?status=running&limit=1`));
    if (q.total === 0 && r.total === 0) return;
    if (Date.now() > until) throw new Error(`still ${q.total} queued and ${r.total} running after ${timeoutMs} ms`);
    await sleep(50);
  }
}

// Every job of the history through the API, by id.
async function listAll(url) {
  const all = new Map();
  for (let page = 0; page < 100; page++) {
    const list = await json(await fetch(`${url}/jobs?limit=500&offset=${all.size}`));
    for (const j of list.jobs) all.set(j.id, j);
    if (list.jobs.length === 0 || all.size >= list.total) break;
  }
  return all;
}

test('a job running at a SIGKILL is queued again at the next start and succeeds', { skip: fileStoreOnly('it reads jobs.json and the job folders; a killed worker\'s job is taken again after its lease, tests/jobs/test_pg.c') }, async () => {
  const dir = tmpDir('restart-in');
  const small = fs.readFileSync(synth('photo', path.join(dir, 'small.png'), 64));
  const big = fs.readFileSync(synth('photo', path.join(dir, 'big.png'), 512));
  const args = ['--threads', '1', '--shutdown-grace', '0'];
  const fields = (res) => [['resolution', res], ['faces', 0], ['smooth', 0]];
  const submit = async (url, bytes, res) => {
    const r = await fetch(`${url}/generate`, {
      method: 'POST',
      body: form([{ field: 'image', name: 'in.png', bytes }], fields(res)),
    });
    assert.equal(r.status, 202);
    return (await json(r)).id;
  };

  let srv = await startServer(args, { prefix: 'restart' });
  const outputs = srv.outputs;
  let slow;
  const done = [];
  try {
    for (let i = 0; i < 2; i++) {
      const id = await submit(srv.url, small, 32);
      assert.equal((await waitJob(srv.url, id)).status, 'succeeded');
      done.push(id);
    }
    // 512² at grid 256 on one thread: over a second of work.
    slow = await submit(srv.url, big, 256);
    const until = Date.now() + 20000;
    for (;;) {
      const job = await json(await fetch(`${srv.url}/jobs/${slow}`));
      if (job.status === 'running') break;
      assert.equal(job.status, 'queued', `job ${slow} ended before it could be interrupted`);
      assert.ok(Date.now() < until, `job ${slow} not running after 20 s`);
      await sleep(10);
    }
  } finally {
    await srv.kill();
  }

  const h = readHistory(path.join(outputs, 'jobs.json'));
  assert.equal(h.state, 'ok', `jobs.json after SIGKILL: ${h.why}`);
  assert.equal(h.jobs[slow]?.status, 'running');
  for (const id of done) assert.equal(h.jobs[id]?.status, 'succeeded');
  // Each folder's record says the same as the history.
  for (const id of [...done, slow]) {
    const rec = readHistory(path.join(outputs, id, 'job.json'));
    assert.equal(rec.state, 'ok', `job ${id} record: ${rec.why}`);
    assert.deepEqual(rec.jobs, h.jobs[id]);
  }

  srv = await startServer(args, { outputs });
  try {
    assert.match(srv.log(), new RegExp(`job ${slow} was running when the server stopped: queued again`));
    assert.match(srv.log(), /job history: 3 jobs \(1 queued again\)/);
    for (const id of done) {
      const job = await json(await fetch(`${srv.url}/jobs/${id}`));
      assert.equal(job.status, 'succeeded');
      const glb = await fetch(`${srv.url}/jobs/${id}/model.glb`);
      assert.equal(glb.status, 200);
      assert.equal(Buffer.from(await glb.arrayBuffer()).subarray(0, 4).toString('latin1'), 'glTF');
      assert.equal((await fetch(`${srv.url}/jobs/${id}/preview.png`)).status, 200);
    }
    const job = await waitJob(srv.url, slow, { timeoutMs: 60000 });
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.attempts, 2);
    assert.ok(isGlb(path.join(outputs, slow, 'model.glb')));
  } finally {
    await srv.stop();
  }
});

test('a history replaced by {} is rebuilt from the job folders, and unacknowledged folders go', { skip: fileStoreOnly('jobs.json and the job folders are the file store') }, async () => {
  const dir = tmpDir('emptied-in');
  const bytes = fs.readFileSync(synth('photo', path.join(dir, 'p.png'), 48));
  const args = ['--threads', '1'];
  let srv = await startServer(args, { prefix: 'emptied' });
  const outputs = srv.outputs;
  const done = [];
  try {
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${srv.url}/generate`, {
        method: 'POST',
        body: form([{ field: 'image', name: 'p.png', bytes }], [['resolution', 32], ['faces', 0], ['smooth', 0]]),
      });
      assert.equal(r.status, 202);
      const id = (await json(r)).id;
      assert.equal((await waitJob(srv.url, id)).status, 'succeeded');
      done.push(id);
    }
  } finally {
    await srv.stop();
  }
  // What the old manual told operators to do without a usable backup, and
  // the folder a kill between a submission's folder and its record leaves.
  fs.writeFileSync(path.join(outputs, 'jobs.json'), '{}\n');
  fs.rmSync(path.join(outputs, 'jobs.json.bak'), { force: true });
  const unacked = path.join(outputs, '0123456789abcdef01234567');
  fs.mkdirSync(unacked);
  fs.writeFileSync(path.join(unacked, 'input-0.png'), bytes);

  srv = await startServer(args, { outputs });
  try {
    assert.match(srv.log(), /job history: 2 jobs adopted from their folders, 1 unacknowledged folder removed/);
    assert.match(srv.log(), /removed the folder \S*0123456789abcdef01234567: a submission that was never acknowledged/);
    assert.match(srv.log(), /job history: 2 jobs \(0 queued again\)/);
    assert.equal(fs.existsSync(unacked), false);
    const list = await json(await fetch(`${srv.url}/jobs`));
    assert.equal(list.total, 2);
    for (const id of done) {
      const job = await json(await fetch(`${srv.url}/jobs/${id}`));
      assert.equal(job.status, 'succeeded');
      assert.equal(job.attempts, 1);
      const glb = await fetch(`${srv.url}/jobs/${id}/model.glb`);
      assert.equal(glb.status, 200);
      assert.equal(Buffer.from(await glb.arrayBuffer()).subarray(0, 4).toString('latin1'), 'glTF');
    }
    const h = readHistory(path.join(outputs, 'jobs.json'));
    assert.deepEqual(Object.keys(h.jobs).sort(), [...done].sort());
  } finally {
    await srv.stop();
  }
});

test('SIGKILL at random moments loses no acknowledged or finished job', { timeout: 330000, skip: fileStoreOnly('it checks jobs.json and the job folders after each kill') }, async () => {
  const ROUNDS = Number(process.env.LN_CRASH_ROUNDS || 200);
  const BUDGET_MS = Number(process.env.LN_CRASH_BUDGET_S || 200) * 1000;
  const DRAIN_EVERY = 20; // every so many rounds a full start drains the queue
  const DAMAGE_EVERY = 25; // every so many rounds jobs.json is damaged on purpose
  const seed = Number(process.env.LN_CRASH_SEED || (Date.now() % 2147483647));
  console.log(`crash loop: seed ${seed} (replay with LN_CRASH_SEED=${seed}), ${ROUNDS} rounds`);
  const rand = rng32(seed);
  const pick = (n) => Math.floor(rand() * n);

  const dir = tmpDir('crash-in');
  const images = [48, 64, 80].map((s) => fs.readFileSync(synth('photo', path.join(dir, `p${s}.png`), s)));
  const args = ['--threads', '1', '--keep-jobs', '0', '--max-queue', '1000', '--shutdown-grace', '0'];
  const outputs = path.join(tmpDir('crash'), 'outputs');
  const jobsFile = path.join(outputs, 'jobs.json');
  const bakFile = path.join(outputs, 'jobs.json.bak');

  const acked = new Map(); // id -> round of its 202
  const keyOf = new Map(); // Idempotency-Key -> { id, round } of its first answer
  const succeeded = new Set(); // every id ever seen succeeded
  const startMs = [];
  let nKeys = 0;
  let replays = 0;
  let bakRecoveries = 0; // starts whose log says the .bak was used
  let expectRecovery = null; // why the next start must recover from the .bak
  let damaged = 0;
  let behind = 0; // jobs the .bak lacked or had behind when jobs.json was damaged
  let adopted = 0; // jobs the start-up logs said it adopted from their folders
  let removedFolders = 0; // unacknowledged folders the start-up logs said it removed
  let expectAfterDamage = false; // the next start must give back what the damage took
  let lastLog = '';
  const t0 = Date.now();

  const post = (url, key) => {
    const headers = key ? { 'Idempotency-Key': key } : {};
    const fields = [['resolution', 32], ['faces', 0], ['smooth', 0]];
    const body = form([{ field: 'image', name: 'p.png', bytes: images[pick(images.length)] }], fields);
    return fetch(`${url}/generate`, { method: 'POST', body, headers }).then(async (res) => {
      if (res.status !== 202) {
        await res.arrayBuffer();
        return null;
      }
      const job = await res.json();
      return { id: job.id, replayed: res.headers.get('idempotent-replayed') === 'true' };
    });
  };
  const record = (round, key, r) => {
    if (!acked.has(r.id)) acked.set(r.id, round);
    if (!key) return;
    const prev = keyOf.get(key);
    if (prev) {
      assert.equal(r.id, prev.id, `round ${round}: key ${key} answered another job`);
      // Answered in an earlier round, so this one cannot be the first.
      if (prev.round < round) assert.ok(r.replayed, `round ${round}: key ${key} replay not marked Idempotent-Replayed`);
    }
    if (r.replayed) replays++;
    if (!prev) keyOf.set(key, { id: r.id, round });
  };

  // The history as the next start will load it, checked against what the
  // client was told and what was seen before. Right after a damage the disk
  // holds only the .bak, which may lack jobs: the start after it must have
  // put them back (checked with the next round's files).
  const checkDisk = (round) => {
    const main = readHistory(jobsFile);
    let hist = main;
    if (main.state !== 'ok') {
      const bak = readHistory(bakFile);
      if (!(main.state === 'missing' && bak.state === 'missing' && acked.size === 0)) {
        assert.equal(bak.state, 'ok', `round ${round}: jobs.json is ${main.state} (${main.why}) and the .bak is ${bak.state} (${bak.why})`);
        expectRecovery = `jobs.json ${main.state}`;
      }
      hist = bak.state === 'ok' ? bak : { jobs: {} };
    }
    for (const [id, r] of acked) {
      assert.ok(hist.jobs[id], `round ${round}: job ${id} (acknowledged in round ${r}) is not in the history`);
      // Its folder record exists from before the 202 on.
      assert.equal(readHistory(path.join(outputs, id, 'job.json')).state, 'ok', `round ${round}: job ${id} has no folder record`);
    }
    for (const id of succeeded) {
      assert.equal(hist.jobs[id]?.status, 'succeeded', `round ${round}: job ${id} was succeeded, now ${hist.jobs[id]?.status}`);
    }
    for (const [id, job] of Object.entries(hist.jobs)) {
      if (job.status === 'succeeded') succeeded.add(id);
    }
    for (const id of succeeded)
      assert.ok(isGlb(path.join(outputs, id, 'model.glb')), `round ${round}: job ${id} succeeded but its model.glb is not a GLB`);
  };

  // Damages jobs.json as a broken disk would (cut short, or gone). The .bak
  // is one save behind, but nothing is forgiven: every acknowledged job must
  // come back, and every finished one stay finished, from the job folders.
  const damage = (round) => {
    const main = readHistory(jobsFile);
    const bak = readHistory(bakFile);
    if (main.state !== 'ok' || bak.state !== 'ok') return;
    if (rand() < 0.5) {
      const text = fs.readFileSync(jobsFile);
      fs.writeFileSync(jobsFile, text.subarray(0, pick(text.length)));
    } else {
      fs.unlinkSync(jobsFile);
    }
    damaged++;
    for (const [id, job] of Object.entries(main.jobs))
      if (!bak.jobs[id] || bak.jobs[id].status !== job.status) behind++;
    expectAfterDamage = true;
    void round;
  };

  const checkStart = (srv, round) => {
    const log = srv.log();
    const m = /job history: (\d+) jobs? adopted from (?:its|their) folders?/.exec(log);
    if (m) adopted += Number(m[1]);
    const r = /(\d+) unacknowledged folders? removed/.exec(log);
    if (r) removedFolders += Number(r[1]);
    if (expectAfterDamage) {
      // The history saved by this start holds every acknowledged job again.
      const now = readHistory(jobsFile);
      assert.equal(now.state, 'ok', `round ${round}: jobs.json after the recovery start: ${now.why}`);
      for (const [id, r0] of acked)
        assert.ok(now.jobs[id], `round ${round}: job ${id} (acknowledged in round ${r0}) did not come back after jobs.json was damaged`);
      for (const id of succeeded)
        assert.equal(now.jobs[id]?.status, 'succeeded', `round ${round}: job ${id} was succeeded, after the damage ${now.jobs[id]?.status}`);
      expectAfterDamage = false;
    }
    const recovered = /the job history was loaded from \S*jobs\.json\.bak/.test(log);
    if (recovered) bakRecoveries++;
    if (expectRecovery)
      assert.ok(recovered, `round ${round}: ${expectRecovery}, but the start did not recover from the .bak:\n${log}`);
    assert.doesNotMatch(log, /could not be recovered/, `round ${round}`);
    expectRecovery = null;
  };

  let rounds = 0;
  try {
    for (let round = 0; round < ROUNDS && Date.now() - t0 < BUDGET_MS; round++, rounds++) {
      const srv = await startServer(args, { outputs });
      startMs.push(srv.startMs);
      lastLog = srv.log();
      try {
        checkStart(srv, round);
        const n = 2 + pick(3);
        const sends = [];
        if (round % DRAIN_EVERY === DRAIN_EVERY - 1) {
          // A full start: submissions, the queue drained, everything checked
          // through the API, then a clean stop.
          for (let i = 0; i < n; i++) {
            const key = i === 0 ? `k${nKeys++}` : null;
            const r = await post(srv.url, key);
            assert.ok(r, `round ${round}: a submission was refused`);
            record(round, key, r);
          }
          await drain(srv.url, 120000);
          const all = await listAll(srv.url);
          for (const [id, r] of acked) {
            const job = all.get(id);
            assert.ok(job, `round ${round}: job ${id} (acknowledged in round ${r}) is missing from GET /jobs`);
            assert.ok(job.status === 'succeeded' || (job.status === 'failed' && job.error?.message),
              `round ${round}: job ${id} ended ${job.status} ${JSON.stringify(job.error)}`);
            if (job.status === 'succeeded') succeeded.add(id);
          }
          for (const id of succeeded) assert.equal(all.get(id)?.status, 'succeeded', `round ${round}: job ${id}`);
          lastLog = await srv.stop();
        } else {
          // Submissions spread over the window, the kill somewhere in it.
          const killAt = rand() * 300;
          for (let i = 0; i < n; i++) {
            let key = null;
            const k = rand();
            if (k < 0.3) key = `k${nKeys++}`;
            else if (k < 0.45 && nKeys > 0) key = `k${pick(nKeys)}`; // a retry
            const at = rand() * 250;
            sends.push(
              sleep(at)
                .then(() => post(srv.url, key).catch(() => null)) // cut off by the kill: not acknowledged
                .then((r) => r && record(round, key, r)),
            );
          }
          await sleep(killAt);
          lastLog = await srv.kill();
          await Promise.all(sends);
        }
      } catch (e) {
        if (srv.proc.exitCode === null && srv.proc.signalCode === null) await srv.kill();
        throw e;
      }
      checkDisk(round);
      if (round % DAMAGE_EVERY === DAMAGE_EVERY - 2) damage(round);
    }

    // The last start: everything acknowledged ends, nothing is lost.
    const srv = await startServer(args, { outputs });
    lastLog = srv.log();
    try {
      checkStart(srv, rounds);
      await drain(srv.url, 120000);
      const all = await listAll(srv.url);
      let nSucceeded = 0;
      let nFailed = 0;
      for (const [id, r] of acked) {
        const job = all.get(id);
        assert.ok(job, `job ${id} (acknowledged in round ${r}) is lost`);
        if (job.status === 'succeeded') {
          nSucceeded++;
          const glb = await fetch(`${srv.url}/jobs/${id}/model.glb`);
          assert.equal(glb.status, 200, `job ${id} model.glb`);
          assert.equal(Buffer.from(await glb.arrayBuffer()).subarray(0, 4).toString('latin1'), 'glTF');
        } else {
          assert.equal(job.status, 'failed', `job ${id} ended ${job.status}`);
          assert.ok(job.error?.message, `job ${id} failed without a message`);
          nFailed++;
        }
      }
      for (const id of succeeded) assert.equal(all.get(id)?.status, 'succeeded', `job ${id}`);
      lastLog = await srv.stop();

      // Crashes leave no temporaries and no stray job folders behind once
      // the server has started again.
      const names = fs.readdirSync(outputs);
      const stray = names.filter((n) => /\.tmp-/.test(n) || n.startsWith('.staging-'));
      for (const n of names) {
        if (!/^[0-9a-f]{24}$/.test(n)) continue;
        for (const f of fs.readdirSync(path.join(outputs, n))) if (/\.tmp-/.test(f)) stray.push(`${n}/${f}`);
      }
      const ids = new Set(Object.keys(readHistory(jobsFile).jobs));
      const orphans = names.filter((n) => /^[0-9a-f]{24}$/.test(n) && !ids.has(n));
      startMs.sort((a, b) => a - b);
      const q = (f) => startMs[Math.min(startMs.length - 1, Math.floor(f * startMs.length))].toFixed(0);
      console.log(
        `crash loop: seed ${seed}, ${rounds} rounds in ${((Date.now() - t0) / 1000).toFixed(1)} s, ` +
          `${acked.size} jobs acknowledged (${replays} idempotent replays), ${nSucceeded} succeeded, ` +
          `${nFailed} failed, ${succeeded.size} seen succeeded, ${bakRecoveries} recoveries from .bak ` +
          `(${damaged} damaged on purpose, ${behind} jobs the .bak lacked or had behind), ` +
          `${adopted} jobs adopted from their folders, ${removedFolders} unacknowledged folders removed, ` +
          `start-up p50 ${q(0.5)} ms p99 ${q(0.99)} ms, ${stray.length} stray temporaries, ${orphans.length} folders outside the history`,
      );
      assert.deepEqual(stray, [], 'temporary files left in outputs');
      // A start adopts or removes every job folder the history lacks.
      assert.deepEqual(orphans, [], 'job folders outside the history');
    } catch (e) {
      if (srv.proc.exitCode === null && srv.proc.signalCode === null) await srv.kill();
      throw e;
    }
    if (rounds < ROUNDS) console.log(`crash loop: the time budget stopped it after ${rounds} of ${ROUNDS} rounds`);
  } catch (e) {
    console.log(`crash loop failed: seed ${seed} (replay with LN_CRASH_SEED=${seed}), round ${rounds}\nlast server log:\n${lastLog.slice(-3000)}`);
    throw e;
  }
});
