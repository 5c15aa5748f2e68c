// API latency on the file store and on the PostgreSQL store, same run, same
// machine: a server of each (one local worker), a throwaway PostgreSQL
// started as tests/http/pg.mjs does (fsync on, as in production), then for each server in turn N
// submissions (POST /generate of a 64-pixel photo, each waited for before
// the next, so generation never overlaps a timed request) and M of each
// read (GET /jobs/{id}, GET /jobs?limit=50, GET /health, GET
// /jobs/{id}/model.glb). Prints the median and 95th percentile in ms.
//
//   cd build && node ../bench/api_latency.mjs [N=30] [M=300]
//
// Needs lunar-nova and ln-synth in the current folder (or LN_BIN, LN_SYNTH)
// and PostgreSQL's programs (Debian's postgresql).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

process.env.LN_BIN ||= path.resolve('lunar-nova');
process.env.LN_SYNTH ||= path.resolve('ln-synth');
const N = Number(process.argv[2] || 30);
const M = Number(process.argv[3] || 300);
const { startCluster, createDatabase } = await import('../tests/http/pg.mjs');
const { startServer, synth, tmpDir, form, waitJob } = await import('../tests/http/server.mjs');

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const cluster = await startCluster({ fsync: true }); // durable, as the file store is
const rows = [];
try {
  createDatabase(`${cluster.host}:${cluster.port}`, 'latency');
  const photo = fs.readFileSync(synth('photo', path.join(tmpDir('latency-in'), 'p.png'), 64));
  for (const [name, args] of [['file', []],
    ['postgres', ['--store', `postgres://lunar@${cluster.host}:${cluster.port}/latency`]]]) {
    const srv = await startServer(['--workers', '1', ...args]);
    try {
      const post = [];
      let id;
      for (let i = 0; i < N; i++) {
        post.push(await timed(async () => {
          const r = await fetch(`${srv.url}/generate`, {
            method: 'POST', body: form([{ field: 'image', name: 'p.png', bytes: photo }], [['resolution', 32]]),
          });
          if (r.status !== 202) throw new Error(`POST /generate: ${r.status}`);
          id = (await r.json()).id;
        }));
        await waitJob(srv.url, id);
      }
      const reads = {
        'GET /jobs/{id}': `/jobs/${id}`,
        'GET /jobs?limit=50': '/jobs?limit=50',
        'GET /health': '/health',
        'GET /jobs/{id}/model.glb': `/jobs/${id}/model.glb`,
      };
      rows.push([name, 'POST /generate', pct(post, 50), pct(post, 95)]);
      for (const [what, p] of Object.entries(reads)) {
        const ts = [];
        for (let i = 0; i < M; i++) ts.push(await timed(async () => { await (await fetch(srv.url + p)).arrayBuffer(); }));
        rows.push([name, what, pct(ts, 50), pct(ts, 95)]);
      }
    } finally {
      await srv.stop();
    }
  }
} finally {
  cluster.stop();
}
console.log(`| store | request | median ms | p95 ms |  (${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)})`);
console.log('| --- | --- | --- | --- |');
for (const [s, w, a, b] of rows) console.log(`| ${s} | ${w} | ${a.toFixed(2)} | ${b.toFixed(2)} |`);
