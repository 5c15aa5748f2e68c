// Starts `lunar-nova serve` for the HTTP tests: a fresh outputs folder (or a
// given one, to start again on the same history), port 0, the address read
// from the "Listening on http://…" log line, a stop that sends SIGTERM and
// expects exit status 0, and a kill that sends SIGKILL as a crash would.
// Also small helpers shared by the
// test files: synthetic inputs (ln-synth), multipart bodies, job polling and
// a snapshot of the outputs folder to show that a refused request stored
// nothing.
//
// The Windows build under Wine (make test-windows): with LN_WINE64 set and
// LN_BIN a .exe, the server runs through cmake/wine-run.sh in the Wine
// prefix beside the .exe (LN_WINE_PREFIX to choose another), absolute
// paths in its arguments and environment given as Windows paths (Z:\...),
// its stderr written to a file (a pipe would be held open by Wine's own
// processes) and read back for the "Listening on" line; it is stopped
// with SIGINT, which Wine delivers as Ctrl+C (SIGTERM would end it without
// a clean stop). BIN is then tests/e2e/windows_exe.sh, which runs the .exe
// the same way for a test that starts the program itself. WINE says so;
// a test that cannot work under Wine skips with `{ skip: wineSkip(why) }`.
//
// On the PostgreSQL store (LN_HTTP_STORE=postgres, LN_HTTP_PG=HOST:PORT of
// a server that tests/http/pg.mjs started for the run): every server gets
// --store postgres://lunar@HOST:PORT/DB, a database of its own, the same
// one again when a test starts a server on the same outputs folder (a
// restart on the same history). PG says so; a test that is about the file
// store itself (jobs.json, the job folders) skips with `{ skip:
// fileStoreOnly(why) }`.
//
// Under a sanitizer build (make test-asan, make test-tsan) LN_TEST_SLOW
// scales the waits (SLOW), LN_TEST_SANITIZER names the sanitizer
// (SANITIZER), and a server whose log holds an AddressSanitizer,
// UndefinedBehaviorSanitizer or ThreadSanitizer report, or that exits with a
// sanitizer's exit status, fails the test that stops it and, in any case,
// the whole run (exit status 1 with the report).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDatabase } from './pg.mjs';

const EXE = process.env.LN_BIN;
export const SYNTH = process.env.LN_SYNTH;
if (!EXE || !SYNTH) throw new Error('set LN_BIN (lunar-nova) and LN_SYNTH (ln-synth)');
export const WINE = Boolean(process.env.LN_WINE64) && EXE.endsWith('.exe');
const HERE = path.dirname(new URL(import.meta.url).pathname);
export const BIN = WINE ? path.join(HERE, '../e2e/windows_exe.sh') : EXE;
// The reason a test skips under Wine, or false elsewhere (node's skip).
export const wineSkip = (why) => (WINE ? `under Wine: ${why}` : false);
export const PG = process.env.LN_HTTP_STORE === 'postgres' ? process.env.LN_HTTP_PG : null;
if (process.env.LN_HTTP_STORE === 'postgres' && !PG) throw new Error('LN_HTTP_STORE=postgres needs LN_HTTP_PG (see pg.mjs)');
// The reason a test skips on the PostgreSQL store, or false on the file store.
export const fileStoreOnly = (why) => (PG ? `on the PostgreSQL store: ${why}` : false);
// The --store flag of a server on outputs (a database per outputs folder).
const pgDatabases = new Map();
function storeArgs(outputs) {
  if (!PG) return [];
  let db = pgDatabases.get(outputs);
  if (!db) {
    db = `http_${process.pid}_${pgDatabases.size + 1}`;
    createDatabase(PG, db);
    pgDatabases.set(outputs, db);
  }
  return ['--store', `postgres://lunar@${PG}/${db}`];
}
function pgRows(db) {
  const [host, port] = PG.split(':');
  return execFileSync('psql', ['-h', host, '-p', port, '-U', 'lunar', '-d', db, '-At', '-c',
    'SELECT id, status FROM ln_jobs UNION ALL SELECT job_id, name FROM ln_job_files ORDER BY 1, 2'],
  { encoding: 'utf8' });
}
// A path of this machine as the Windows program sees it.
const winPath = (p) => (WINE && p.startsWith('/') ? `Z:${p.replaceAll('/', '\\')}` : p);

const TMP_ROOT = process.env.LN_TEST_TMP || os.tmpdir();
fs.mkdirSync(TMP_ROOT, { recursive: true });

// How much slower than the release build the server under test is (1; 3 or
// more under the sanitizers, 2 for the Windows build under Wine): every
// wait on the server scales with it, and nothing else.
export const SLOW = Math.max(1, Number(process.env.LN_TEST_SLOW) || 1);
// The sanitizer the server is built with ('address' or 'thread', from the
// Makefile's test-asan and test-tsan; '' otherwise), for the tests that
// choose smaller inputs under it.
export const SANITIZER = process.env.LN_TEST_SANITIZER || '';

// The first lines of a sanitizer's report in a server's log, or null.
const SANITIZER_REPORT = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer|ThreadSanitizer: /;
// The exit statuses the sanitizer runs set (ASAN/UBSAN/TSAN_OPTIONS exitcode).
const SANITIZER_EXIT = new Set([66, 86]);
export function sanitizerReport(log) {
  const m = SANITIZER_REPORT.exec(log);
  if (!m) return null;
  const start = log.lastIndexOf('\n', m.index) + 1;
  return log.slice(start, start + 6000);
}
const reports = [];
process.on('exit', () => {
  if (!reports.length) return;
  console.error(`${reports.length} server(s) reported a sanitizer error:`);
  for (const r of reports) console.error(r);
  process.exitCode = 1;
});

export function tmpDir(prefix) {
  return fs.mkdtempSync(path.join(TMP_ROOT, `http-${prefix}-`));
}

// Every place the server looks for TripoSR weights or rembg's models points
// at an empty folder, so a test server runs sculpt and the classical
// separation whatever the machine has cached; a test gives its own HF_HOME
// or U2NET_HOME (in env) to load them.
const NO_WEIGHTS = path.join(TMP_ROOT, 'no-weights');
fs.mkdirSync(NO_WEIGHTS, { recursive: true });
export const NO_WEIGHTS_ENV = Object.fromEntries(
  ['HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HOME', 'XDG_CACHE_HOME', 'TRANSFORMERS_CACHE', 'HOME',
    'U2NET_HOME', 'XDG_DATA_HOME']
    .map((k) => [k, NO_WEIGHTS]));

// Servers still running when the test file's process ends (a test that
// failed before stopping its server; the runner ends the process once every
// test is done, --test-force-exit in tests/CMakeLists.txt) are killed, so
// that none outlives the run.
const running = new Set();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

// Starts a server; extra flags in args; `outputs` reuses an outputs folder.
// Resolves to { url, port, outputs, proc, startMs, log(), stop(), kill() }:
// startMs is the time from spawn to the "Listening on" line.
export async function startServer(args = [], { env = {}, prefix = 'srv', outputs = null } = {}) {
  // An --outputs among the arguments is the outputs folder (on the
  // PostgreSQL store it also names the server's database: a restart on the
  // same folder finds the same history).
  const given = args.indexOf('--outputs');
  if (!outputs && given >= 0 && given + 1 < args.length) outputs = args[given + 1];
  outputs = outputs || path.join(tmpDir(prefix), 'outputs');
  let t0, proc, log, poll, url;
  // Spawns the server and resolves to its address once it logs it.
  const launch = () => {
    t0 = performance.now();
    log = '';
    poll = null;
    if (WINE) {
      const logFile = path.join(path.dirname(outputs), `wine-${process.pid}-${Math.round(t0)}.log`);
      const fd = fs.openSync(logFile, 'w');
      const winEnv = Object.fromEntries(Object.entries({ ...NO_WEIGHTS_ENV, ...env }).map(([k, v]) => [k, winPath(v)]));
      proc = spawn(path.join(HERE, '../../cmake/wine-run.sh'),
        [process.env.LN_WINE64, process.env.LN_WINE_PREFIX || path.join(path.dirname(EXE), 'wine-prefix'), EXE,
          'serve', '--port', '0', '--outputs', winPath(outputs), ...args.map(winPath)],
        { env: { ...process.env, ...winEnv }, stdio: ['ignore', 'ignore', fd] });
      fs.closeSync(fd);
      const read = () => (log = fs.readFileSync(logFile, 'utf8').replaceAll('\r', ''));
      poll = { read, timer: null };
    } else {
      proc = spawn(BIN, ['serve', '--port', '0', '--outputs', outputs, ...storeArgs(outputs), ...args], {
        env: { ...process.env, ...NO_WEIGHTS_ENV, ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    }
    const p = proc;
    const pl = poll;
    running.add(p);
    p.on('exit', () => running.delete(p));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "Listening on" line in ${30 * SLOW} s:\n${log}`)), 30000 * SLOW);
      const look = () => {
        const m = /Listening on (http:\/\/[^\s"]+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          clearInterval(pl?.timer);
          resolve(m[1]);
        }
      };
      if (pl) {
        pl.timer = setInterval(() => { pl.read(); look(); }, 100);
      } else {
        p.stderr.setEncoding('utf8');
        p.stderr.on('data', (chunk) => {
          log += chunk;
          look();
        });
      }
      p.on('exit', (code) => {
        clearTimeout(timer);
        clearInterval(pl?.timer);
        pl?.read();
        const e = new Error(`server exited with ${code} before listening:\n${log}`);
        e.silentExit = code === 1 && !log.trim();
        reject(e);
      });
    });
  };
  // Under Wine a start has failed, rarely, with status 1 before the program
  // wrote a line (seen once in a run of make test on two busy cores; Wine's
  // own messages are off, and the same start succeeds at once): such a
  // start is tried again, at most twice, and said on the test's output. A
  // start that logged anything, or exited otherwise, fails the test at once.
  for (let attempt = 1; ; attempt++) {
    try {
      url = await launch();
      break;
    } catch (e) {
      if (!WINE || !e.silentExit || attempt === 3) throw e;
      console.error(`# the server under Wine exited with 1 before writing a line (start ${attempt} of 3); starting it again`);
    }
  }
  const startMs = performance.now() - t0;
  // Every exit is looked at, also of a server a test leaves running: the
  // 'close' event comes once stderr is read to the end.
  const exited = new Promise((resolve) => proc.on('close', (code, signal) => {
    poll?.read();
    const report = sanitizerReport(log);
    if (report || SANITIZER_EXIT.has(code))
      reports.push(`server ${BIN} exited with ${code ?? signal}:\n${report || log.slice(-4000)}`);
    resolve({ code, signal, report });
  }));
  return {
    url,
    port: Number(new URL(url).port),
    outputs,
    // The --store URI of the server's database on the PostgreSQL store.
    store: PG ? storeArgs(outputs)[1] : null,
    // The folder of a job's files (on the PostgreSQL store: their cache,
    // where snapshot() looks too).
    jobDir: (id) => (PG ? path.join(outputs, 'pg-cache', id) : path.join(outputs, id)),
    proc,
    startMs,
    log: () => (poll ? poll.read() : log),
    // SIGKILL, as a crash or a power cut of the process would; resolves once
    // the process is gone (and its stderr read to the end).
    async kill() {
      proc.kill('SIGKILL');
      let timer;
      const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve(null), 10000 * SLOW)));
      const r = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (!r) throw new Error(`server still running ${10 * SLOW} s after SIGKILL`);
      if (r.report) throw new Error(`sanitizer report in the server's log:\n${r.report}`);
      return log;
    },
    async stop() {
      proc.kill(WINE ? 'SIGINT' : 'SIGTERM');
      let timer;
      const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve(null), 20000 * SLOW)));
      const r = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      // The server's log lies beside its outputs folder for a look afterwards.
      fs.writeFileSync(path.join(path.dirname(outputs), 'server.log'), log);
      if (!r) {
        proc.kill('SIGKILL');
        throw new Error(`server did not stop within ${20 * SLOW} s after SIGTERM:\n${log.slice(-2000)}`);
      }
      if (r.report) throw new Error(`sanitizer report in the server's log:\n${r.report}`);
      if (r.code !== 0) throw new Error(`server exited with ${r.code ?? r.signal}:\n${log.slice(-4000)}`);
      return log;
    },
  };
}

// Runs body() on a started server, then stops it. An error thrown on the
// way carries the server's last log lines (serverLog), which the failure
// summary after the run prints (tests/tools/failures-reporter.mjs).
export async function withServer(srv, body) {
  try {
    await body();
  } catch (e) {
    if (e && typeof e === 'object') e.serverLog = srv.log().trimEnd().split('\n').slice(-30).join('\n');
    throw e;
  } finally {
    await srv.stop();
  }
}

// Stops every server given (those that are null are skipped), also when
// one of the stops fails; then throws the first failure.
export async function stopAll(...servers) {
  const results = await Promise.allSettled(servers.filter(Boolean).map((s) => s.stop()));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

// ln-synth photo|blank OUT SIZE, views PREFIX N SIZE, text OUT. Returns the
// path(s) written.
export function synth(kind, out, ...rest) {
  execFileSync(SYNTH, [kind, out, ...rest.map(String)]);
  if (kind === 'views') {
    const n = Number(rest[0]);
    return Array.from({ length: n }, (_, i) => `${out}-${i}.png`);
  }
  return out;
}

// A FormData with files ({field, name, bytes, type}) and fields ([name, value]).
export function form(files = [], fields = []) {
  const fd = new FormData();
  for (const f of files) fd.append(f.field, new Blob([f.bytes], { type: f.type || 'image/png' }), f.name);
  for (const [k, v] of fields) fd.append(k, String(v));
  return fd;
}

export async function json(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`not JSON (status ${res.status}): ${text.slice(0, 200)}`);
  }
}

// Polls GET /jobs/{id} until the job is final; returns its record.
export async function waitJob(url, id, { timeoutMs = 30000, headers = {} } = {}) {
  timeoutMs *= SLOW;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/jobs/${id}`, { headers });
    const job = await json(res);
    if (['succeeded', 'failed', 'canceled'].includes(job.status)) return job;
    if (Date.now() > until) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Every path under the outputs folder (folders with a trailing /) and the
// bytes of jobs.json: equal snapshots mean nothing was stored. On the
// PostgreSQL store: every path under its file cache (the job folders and
// upload staging there, local workers' scratch folders left out) and what
// the database holds.
export function snapshot(outputs) {
  const entries = [];
  const walk = (dir, rel) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (PG && !rel && e.name.startsWith('.worker-')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        entries.push(`${r}/`);
        walk(path.join(dir, e.name), r);
      } else {
        entries.push(r);
      }
    }
  };
  walk(PG ? path.join(outputs, 'pg-cache') : outputs, '');
  entries.sort();
  const jobsJson = path.join(outputs, 'jobs.json');
  const db = pgDatabases.get(outputs);
  return {
    entries,
    jobsJson: fs.existsSync(jobsJson) ? fs.readFileSync(jobsJson, 'utf8') : null,
    // On the PostgreSQL store, the jobs and files the database holds.
    ...(db ? { database: pgRows(db) } : {}),
  };
}
