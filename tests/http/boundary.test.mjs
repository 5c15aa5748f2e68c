// The server's boundary toward web pages, over real HTTP: a Host header that
// names another server (DNS rebinding) gets 421 on every route; a request
// that can change something, sent by another site's page (Origin,
// Sec-Fetch-Site), gets 403 and stores nothing, token or not; the server's
// own pages, a reverse proxy set up with --public-host and --allow-origin,
// and clients that send neither header (curl, scripts) keep working. Also
// the security headers of every kind of response, and the API token read
// from a file (--api-token-file) or, with a warning, from the command line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startServer, synth, tmpDir, json, snapshot, waitJob, wineSkip } from './server.mjs';

let srv;
let mug;

before(async () => {
  const dir = tmpDir('boundary-in');
  mug = fs.readFileSync(synth('photo', path.join(dir, 'mug.png'), 128));
  srv = await startServer([], { prefix: 'boundary' });
});

after(async () => {
  if (srv) await srv.stop();
});

// A multipart body with one image, as a browser's form would send it.
function multipart(bytes) {
  const boundary = '----lnboundary' + Math.random().toString(16).slice(2);
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="mug.png"\r\n` +
      'Content-Type: image/png\r\n\r\n');
  const fields = Buffer.from(
    `\r\n--${boundary}\r\nContent-Disposition: form-data; name="resolution"\r\n\r\n48\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, bytes, fields]), type: `multipart/form-data; boundary=${boundary}` };
}

// One request with exactly these headers (Host included: fetch cannot set
// it); resolves to { status, headers, body }.
function raw(server, method, p, headers = {}, body = null) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, path: p, method, headers, setHost: !('Host' in headers) },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

function errorCode(r) {
  return JSON.parse(r.body.toString('utf8')).error.code;
}

function post(server, headers) {
  const { body, type } = multipart(mug);
  return raw(server, 'POST', '/generate', { 'Content-Type': type, 'Content-Length': body.length, ...headers }, body);
}

test('a cross-site form POST is refused with 403 and stores nothing', async () => {
  const before = snapshot(srv.outputs);
  const host = { Host: `127.0.0.1:${srv.port}` };
  for (const h of [
    { Origin: 'http://evil.example', 'Sec-Fetch-Site': 'cross-site' },
    { Origin: 'http://evil.example' },
    { 'Sec-Fetch-Site': 'cross-site' },
    { 'Sec-Fetch-Site': 'same-site', Origin: `http://localhost:${srv.port + 1}` },
    { Origin: 'null' },
    { Origin: `http://127.0.0.1:${srv.port}.evil.example` },
  ]) {
    const r = await post(srv, { ...host, ...h });
    assert.equal(r.status, 403, JSON.stringify(h));
    assert.equal(errorCode(r), 'EORIGIN');
    const d = await raw(srv, 'DELETE', '/jobs/0123456789abcdef01234567', { ...host, ...h });
    assert.equal(d.status, 403, `DELETE ${JSON.stringify(h)}`);
    const c = await raw(srv, 'POST', '/jobs/0123456789abcdef01234567/cancel', { ...host, ...h });
    assert.equal(c.status, 403, `cancel ${JSON.stringify(h)}`);
  }
  assert.deepEqual(snapshot(srv.outputs), before);
  // Reading stays possible for such pages' subresources (the browser keeps
  // the answer from the page): GET is not refused on Origin alone.
  const g = await raw(srv, 'GET', '/health', { ...host, Origin: 'http://evil.example' });
  assert.equal(g.status, 200);
});

test('a rebinding Host header gets 421 on every route', async () => {
  for (const p of ['/jobs', '/', '/health', '/app.js', '/jobs/0123456789abcdef01234567/inputs/0']) {
    const r = await raw(srv, 'GET', p, { Host: `evil.example:${srv.port}` });
    assert.equal(r.status, 421, p);
    assert.equal(errorCode(r), 'EHOST');
    assert.match(r.headers['content-type'], /application\/json/);
  }
  for (const host of ['evil.example', '127.0.0.1', `localhost:${srv.port + 1}`, `127.0.0.1:${srv.port}@evil`]) {
    const r = await raw(srv, 'GET', '/jobs', { Host: host });
    assert.equal(r.status, 421, host);
  }
  const before = snapshot(srv.outputs);
  const r = await post(srv, { Host: `evil.example:${srv.port}` });
  assert.equal(r.status, 421);
  assert.deepEqual(snapshot(srv.outputs), before);
});

test('the server answers its own names: 127.0.0.1, localhost, [::1] with the port', async () => {
  for (const host of [`127.0.0.1:${srv.port}`, `localhost:${srv.port}`, `LocalHost:${srv.port}`, `[::1]:${srv.port}`]) {
    const r = await raw(srv, 'GET', '/jobs', { Host: host });
    assert.equal(r.status, 200, host);
  }
});

test('same-origin browser requests and curl-style requests still work', async () => {
  const own = await post(srv, {
    Host: `localhost:${srv.port}`,
    Origin: `http://localhost:${srv.port}`,
    'Sec-Fetch-Site': 'same-origin',
  });
  assert.equal(own.status, 202, own.body.toString());
  const curl = await post(srv, { Host: `127.0.0.1:${srv.port}` });
  assert.equal(curl.status, 202, curl.body.toString());
  const id = JSON.parse(own.body.toString()).id;
  await waitJob(srv.url, id);
  const d = await raw(srv, 'DELETE', `/jobs/${id}`, {
    Host: `127.0.0.1:${srv.port}`,
    Origin: `http://127.0.0.1:${srv.port}`,
    'Sec-Fetch-Site': 'same-origin',
  });
  assert.equal(d.status, 204);
  await waitJob(srv.url, JSON.parse(curl.body.toString()).id);
});

test('behind a proxy: --public-host and --allow-origin', async () => {
  const p = await startServer(['--public-host', 'lunar.example.org', '--allow-origin', 'https://lunar.example.org'],
    { prefix: 'boundary-proxy', env: { LUNAR_NOVA_PUBLIC_HOST: 'ignored.example', LUNAR_NOVA_ALLOW_ORIGIN: 'https://ui.example.net' } });
  try {
    for (const host of ['lunar.example.org', `lunar.example.org:${p.port}`, `127.0.0.1:${p.port}`]) {
      const r = await raw(p, 'GET', '/jobs', { Host: host });
      assert.equal(r.status, 200, host);
    }
    // A flag replaces the environment's list.
    assert.equal((await raw(p, 'GET', '/jobs', { Host: 'ignored.example' })).status, 421);
    assert.equal((await raw(p, 'GET', '/jobs', { Host: 'other.example.org' })).status, 421);
    const ok = await post(p, { Host: 'lunar.example.org', Origin: 'https://lunar.example.org', 'Sec-Fetch-Site': 'same-origin' });
    assert.equal(ok.status, 202, ok.body.toString());
    // A proxy that passes its upstream's address as Host.
    const rewritten = await post(p, { Host: `127.0.0.1:${p.port}`, Origin: 'https://lunar.example.org' });
    assert.equal(rewritten.status, 202, rewritten.body.toString());
    const evil = await post(p, { Host: 'lunar.example.org', Origin: 'https://evil.example' });
    assert.equal(evil.status, 403);
    await waitJob(p.url, JSON.parse(ok.body.toString()).id);
    await waitJob(p.url, JSON.parse(rewritten.body.toString()).id);
  } finally {
    await p.stop();
  }
  // From the environment, comma-separated.
  const e = await startServer([], {
    prefix: 'boundary-env',
    env: { LUNAR_NOVA_PUBLIC_HOST: 'a.example, b.example:8443', LUNAR_NOVA_ALLOW_ORIGIN: 'https://ui.example.net/,http://dev.example:3000' },
  });
  try {
    assert.equal((await raw(e, 'GET', '/jobs', { Host: 'a.example' })).status, 200);
    assert.equal((await raw(e, 'GET', '/jobs', { Host: 'b.example:8443' })).status, 200);
    assert.equal((await raw(e, 'GET', '/jobs', { Host: 'b.example' })).status, 421);
    const d = await raw(e, 'DELETE', '/jobs/0123456789abcdef01234567',
      { Host: `127.0.0.1:${e.port}`, Origin: 'http://dev.example:3000', 'Sec-Fetch-Site': 'cross-site' });
    assert.equal(d.status, 404); // through the boundary: no such job
    const d2 = await raw(e, 'DELETE', '/jobs/0123456789abcdef01234567',
      { Host: `127.0.0.1:${e.port}`, Origin: 'https://ui.example.net' });
    assert.equal(d2.status, 404);
  } finally {
    await e.stop();
  }
});

const CSP_PARTS = [
  "default-src 'self'", "style-src 'self'", "img-src 'self' data: blob:", "connect-src 'self' blob:",
  "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
];

function checkHeaders(r, what) {
  assert.equal(r.headers['x-content-type-options'], 'nosniff', what);
  assert.equal(r.headers['referrer-policy'], 'no-referrer', what);
  assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin', what);
  assert.equal(r.headers['cross-origin-resource-policy'], 'same-origin', what);
  assert.equal(r.headers['x-frame-options'], 'DENY', what);
  const csp = r.headers['content-security-policy'];
  assert.ok(csp, `${what}: Content-Security-Policy`);
  for (const part of CSP_PARTS) assert.ok(csp.includes(part), `${what}: ${part} in ${csp}`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, what);
  return csp;
}

test('security headers on static files, JSON, errors, downloads and event streams', async () => {
  const host = { Host: `127.0.0.1:${srv.port}` };
  const page = await raw(srv, 'GET', '/', host);
  assert.equal(page.status, 200);
  const csp = checkHeaders(page, 'index.html');
  // The inline import map's hash, as the browser computes it, is allowed.
  const html = page.body.toString('utf8');
  const inline = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)[1];
  const { createHash } = await import('node:crypto');
  const hash = createHash('sha256').update(inline, 'utf8').digest('base64');
  assert.ok(csp.includes(`script-src 'self' 'sha256-${hash}'`), csp);
  checkHeaders(await raw(srv, 'GET', '/app.js', host), 'app.js');
  checkHeaders(await raw(srv, 'GET', '/jobs', host), 'JSON');
  const missing = await raw(srv, 'GET', '/jobs/0123456789abcdef01234567', host);
  assert.equal(missing.status, 404);
  checkHeaders(missing, 'error');
  checkHeaders(await raw(srv, 'GET', '/jobs', { Host: 'evil.example' }), '421');
  const up = await post(srv, host);
  assert.equal(up.status, 202);
  checkHeaders(up, '202');
  const id = JSON.parse(up.body.toString()).id;
  await waitJob(srv.url, id);
  const glb = await raw(srv, 'GET', `/jobs/${id}/model.glb`, host);
  assert.equal(glb.status, 200);
  checkHeaders(glb, 'download');
  checkHeaders(await raw(srv, 'GET', `/jobs/${id}/events`, host), 'event stream');
  checkHeaders(await raw(srv, 'GET', `/jobs/${id}/inputs/0`, host), 'input');
});

test('--api-token-file: the token from a file; the command-line form warns', {
  skip: wineSkip('a token file readable by others is refused by its POSIX mode; Windows has ACLs, which serve does not check yet'),
}, async () => {
  const dir = tmpDir('token-file');
  const file = path.join(dir, 'token');
  fs.writeFileSync(file, 's3cret-from-file\n', { mode: 0o600 });
  const t = await startServer(['--api-token-file', file], { prefix: 'token-file' });
  try {
    const h = { Host: `127.0.0.1:${t.port}` };
    assert.equal((await raw(t, 'GET', '/jobs', h)).status, 401);
    assert.equal((await raw(t, 'GET', '/jobs', { ...h, Authorization: 'Bearer s3cret-from-file\n'.trim() })).status, 200);
    assert.equal((await raw(t, 'GET', '/jobs', { ...h, Authorization: 'Bearer s3cret-from-file\\n' })).status, 401);
    assert.doesNotMatch(t.log(), /process list/);
  } finally {
    await t.stop();
  }
  // And from the environment.
  const te = await startServer([], { prefix: 'token-file-env', env: { LUNAR_NOVA_API_TOKEN_FILE: file } });
  try {
    assert.equal((await raw(te, 'GET', '/jobs', { 'X-API-Token': 's3cret-from-file' })).status, 200);
    assert.equal((await raw(te, 'GET', '/jobs')).status, 401);
  } finally {
    await te.stop();
  }
  const c = await startServer(['--api-token', 'on-the-command-line'], { prefix: 'token-cli' });
  try {
    assert.match(c.log(), /warn.*--api-token.*visible to other local users.*process list.*--api-token-file/);
    assert.doesNotMatch(c.log(), /on-the-command-line/);
  } finally {
    await c.stop();
  }
  const { spawnSync } = await import('node:child_process');
  const run = (args) => spawnSync(process.env.LN_BIN, ['serve', '--port', '0', '--outputs', path.join(dir, 'out'), ...args], { encoding: 'utf8', timeout: 10000 });
  const open = path.join(dir, 'open');
  fs.writeFileSync(open, 'x\n', { mode: 0o644 });
  fs.chmodSync(open, 0o644);
  const empty = path.join(dir, 'empty');
  fs.writeFileSync(empty, '\n', { mode: 0o600 });
  for (const [args, why] of [
    [['--api-token-file', path.join(dir, 'nope')], /cannot read the API token file/],
    [['--api-token-file', empty], /is empty/],
    [['--api-token-file', open], /readable by group or others/],
  ]) {
    const r = run(args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, why);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
