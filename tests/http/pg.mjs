// PostgreSQL for the HTTP tests on the PostgreSQL job store, the way
// tests/jobs/test_pg.c starts its own: initdb into a temporary folder and
// pg_ctl start on a free port of 127.0.0.1 (as the user postgres when the
// tests run as root, which initdb refuses), trust authentication, stopped
// and removed at the end.
//
//   node tests/http/pg.mjs run -- node --test tests/http/*.test.mjs
//
// starts one server for the whole run, runs the command with
// LN_HTTP_STORE=postgres and LN_HTTP_PG=127.0.0.1:PORT (server.mjs then
// starts every `lunar-nova serve` with --store postgres://… on a database
// of its own) and exits with the command's status; 77 (skipped) when
// PostgreSQL's programs are not installed.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// The folder of initdb and pg_ctl, or null.
export function pgBinDir() {
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return fs.existsSync(path.join(dir, 'initdb')) ? dir : null;
  } catch {
    return null;
  }
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Starts a server; resolves to { host, port, dir, restart(), stop() }. Throws with
// the reason (and skip: true) when it cannot run here.
// fsync: true keeps PostgreSQL's fsyncs (off by default: the tests need
// no durability across a power cut, and the machine's disk is shared).
export async function startCluster({ fsync = false } = {}) {
  const bin = pgBinDir();
  if (!bin) throw Object.assign(new Error("PostgreSQL's initdb was not found (Debian's postgresql package)"), { skip: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ln-http-pg-'));
  let as = [];
  if (process.getuid && process.getuid() === 0) {
    let uid;
    try {
      uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    } catch {
      throw Object.assign(new Error('running as root and there is no user "postgres" to run PostgreSQL as'), { skip: true });
    }
    fs.chownSync(dir, uid, uid);
    as = ['runuser', '-u', 'postgres', '--'];
  }
  const run = (exe, args) => {
    const argv = [...as, path.join(bin, exe), ...args];
    execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const port = await freePort();
  run('initdb', ['-D', `${dir}/data`, '-U', 'lunar', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  run('pg_ctl', ['-D', `${dir}/data`, '-l', `${dir}/server.log`, '-w', '-t', '60', '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=${fsync ? 'on' : 'off'} -c max_connections=300`, 'start']);
  return {
    host: '127.0.0.1',
    port,
    dir,
    // A restart (fast: open connections are cut), as a database upgrade or
    // failover would.
    restart() {
      run('pg_ctl', ['-D', `${dir}/data`, '-l', `${dir}/server.log`, '-m', 'fast', '-w', 'restart']);
    },
    stop() {
      try {
        run('pg_ctl', ['-D', `${dir}/data`, '-m', 'immediate', '-w', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

// Makes database `name` on the server at hostPort ("127.0.0.1:5432").
export function createDatabase(hostPort, name) {
  const [host, port] = hostPort.split(':');
  execFileSync(path.join(pgBinDir(), 'createdb'), ['-h', host, '-p', port, '-U', 'lunar', name],
    { stdio: ['ignore', 'ignore', 'pipe'] });
}

// node tests/http/pg.mjs run -- COMMAND...: see the top.
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const at = process.argv.indexOf('--');
  if (process.argv[2] !== 'run' || at < 0 || at + 1 >= process.argv.length) {
    console.error('usage: node tests/http/pg.mjs run -- COMMAND [ARGS...]');
    process.exit(2);
  }
  let cluster;
  try {
    cluster = await startCluster();
  } catch (e) {
    console.error(`skipped: ${e.message}`);
    process.exit(e.skip ? 77 : 1);
  }
  const cmd = process.argv.slice(at + 1);
  const child = spawn(cmd[0], cmd.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, LN_HTTP_STORE: 'postgres', LN_HTTP_PG: `${cluster.host}:${cluster.port}` },
  });
  const stop = () => child.kill('SIGTERM');
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const code = await new Promise((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))));
  cluster.stop();
  process.exit(code);
}
