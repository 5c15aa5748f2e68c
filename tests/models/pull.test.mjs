// `lunar-nova models pull / verify / list` against the hub of hub.mjs on
// 127.0.0.1, serving the tiny golden TripoSR model of tests/data/triposr-tiny
// (config.yaml as a small git file, model.ckpt as an LFS file behind a
// redirect, and the ViT's config.json in its own repo) and a small
// ONNX-named file for rembg's path. The cache written is checked against
// huggingface_hub's documented layout: blobs named by etag, relative
// snapshot links, refs/main holding the commit, .locks/ beside the repos;
// the checksums are recomputed here with node's crypto.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { gitBlob, md5, sha256, startHub } from './hub.mjs';
import { BIN, HERE, GOLDEN, SLOW, TRIPOSR_COMMIT, VIT_COMMIT, files, run, repoDir, tree, freshHome, hubEnv } from './lib.mjs';

// A small ONNX-named file for rembg's path: what matters is that its bytes
// and checksum arrive intact, not that it is a network.
const onnx = Buffer.alloc(300000);
for (let i = 0; i < onnx.length; i++) onnx[i] = (i * 2654435761) >>> 24;

// A real (tiny, U^2-Net-shaped) network of tests/data/onnx served as
// u2net.onnx: pulled, it must load and separate a photo.
const u2netTiny = fs.readFileSync(path.join(HERE, '..', 'data', 'onnx', 'u2net-tiny-op11.onnx'));

let hub;
before(async () => {
  hub = await startHub({
    repos: {
      'golden/triposr-tiny': {
        commit: TRIPOSR_COMMIT,
        files: { 'config.yaml': files.config, 'model.ckpt': files.ckpt, 'README.md': Buffer.from('# tiny\n') },
        lfs: new Set(['model.ckpt']),
      },
      'golden/dino-vit-tiny': { commit: VIT_COMMIT, files: { 'config.json': files.vit } },
      'gated/tiny': {
        commit: 'a'.repeat(40),
        files: { 'config.json': files.vit, 'weights.bin': files.ckpt.subarray(0, 5000) },
        lfs: new Set(['weights.bin']),
        gated: 'hf_secret',
      },
    },
    rembg: { 'u2netp.onnx': onnx, 'u2net.onnx': u2netTiny },
  });
});
after(() => hub.close());

// The environment of a run: its own HF_HOME and rembg folder, the test hub.
const envFor = (home, extra = {}) => hubEnv(home, hub.url, { LUNAR_NOVA_HUB_TIMEOUT: '3', ...extra });

// The layout huggingface_hub writes, checked file by file.
function checkLayout(home, repo, commit, expected) {
  const dir = repoDir(home, repo);
  assert.equal(fs.readFileSync(path.join(dir, 'refs', 'main'), 'utf8'), commit, 'refs/main holds the commit, no line end');
  for (const [name, buf, lfs] of expected) {
    const etag = lfs ? sha256(buf) : gitBlob(buf);
    const blob = path.join(dir, 'blobs', etag);
    assert.ok(fs.existsSync(blob), `blob ${etag} of ${name}`);
    assert.ok(fs.readFileSync(blob).equals(buf), `blob of ${name} holds its bytes`);
    const pointer = path.join(dir, 'snapshots', commit, name);
    assert.ok(fs.lstatSync(pointer).isSymbolicLink(), `${name} is a symlink`);
    const target = fs.readlinkSync(pointer);
    assert.ok(!path.isAbsolute(target), `${name} links relatively (${target})`);
    assert.equal(target, `../../blobs/${etag}`);
    assert.ok(fs.existsSync(path.join(home, 'hf', 'hub', '.locks', path.basename(dir), `${etag}.lock`)), `lock of ${name} in .locks/`);
  }
  assert.deepEqual(fs.readdirSync(path.join(dir, 'blobs')).filter((f) => f.endsWith('.incomplete')), [], 'no .incomplete left');
}

test('pull a TripoSR repo: config.yaml, weights and the ViT config.json, then generate with it', async () => {
  const home = freshHome('pull');
  const env = envFor(home);
  const r = await run(['models', 'pull', 'golden/triposr-tiny'], env);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`golden/triposr-tiny@${TRIPOSR_COMMIT}: 3 files downloaded`));
  checkLayout(home, 'golden/triposr-tiny', TRIPOSR_COMMIT, [['config.yaml', files.config, false], ['model.ckpt', files.ckpt, true]]);
  checkLayout(home, 'golden/dino-vit-tiny', VIT_COMMIT, [['config.json', files.vit, false]]);
  assert.ok(!fs.existsSync(path.join(repoDir(home, 'golden/triposr-tiny'), 'snapshots', TRIPOSR_COMMIT, 'README.md')), 'only what TripoSR needs');
  assert.match(fs.readFileSync(path.join(home, 'hf', 'hub', 'CACHEDIR.TAG'), 'utf8'), /^Signature: 8a477f597d28d172789f06886806bc55/);
  // The ckpt came through the redirect, the small files without one.
  assert.ok(hub.requests.some((q) => q.path === `/cdn/${sha256(files.ckpt)}` && q.method === 'GET'));

  // A second pull finds everything and downloads nothing.
  const n = hub.requests.length;
  const again = await run(['models', 'pull', 'golden/triposr-tiny'], env);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /0 files downloaded/);
  assert.ok(!hub.requests.slice(n).some((q) => q.path.startsWith('/cdn/')));

  // The pulled model loads and runs.
  const glb = path.join(home, 'out.glb');
  const g = await run(['generate', path.join(GOLDEN, 'input.png'), '-o', glb, '--engine', 'triposr',
    '--model', 'golden/triposr-tiny', '--resolution', '32', '--quiet'], env);
  assert.equal(g.code, 0, g.err);
  assert.equal(fs.readFileSync(glb).subarray(0, 4).toString(), 'glTF');

  // verify: all well; then a damaged blob is named.
  const v = await run(['models', 'verify', 'golden/triposr-tiny'], env);
  assert.equal(v.code, 0, v.out + v.err);
  assert.match(v.out, /all verified/);
  assert.match(v.out, /\(ViT config.json\).*ok \(golden\/dino-vit-tiny\)/);
  const l = await run(['models', 'list'], env);
  assert.equal(l.code, 0, l.out + l.err);
  assert.match(l.out, /golden\/triposr-tiny\s+main -> 059b2aa0d5a3/);
  assert.match(l.out, /golden\/dino-vit-tiny/);
  const blob = path.join(repoDir(home, 'golden/triposr-tiny'), 'blobs', sha256(files.ckpt));
  const damaged = Buffer.from(files.ckpt);
  damaged[1000] ^= 1;
  fs.writeFileSync(blob, damaged);
  const bad = await run(['models', 'verify', 'golden/triposr-tiny'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.out, /model\.ckpt.*BAD: content does not match its name/);
  assert.match(bad.err, /1 of 2 files are damaged/);
  const lv = await run(['models', 'list', '--verify'], env);
  assert.equal(lv.code, 2);
  assert.match(lv.out, /golden\/triposr-tiny.*BAD/);

  // verify --repair: the damaged blob goes and comes down again from the
  // same commit; the rest is left alone.
  const n2 = hub.requests.length;
  const fix = await run(['models', 'verify', 'golden/triposr-tiny', '--repair'], env);
  assert.equal(fix.code, 0, fix.out + fix.err);
  assert.match(fix.out, /repairing: 1 file to download again/);
  assert.match(fix.out, /all verified/);
  assert.ok(fs.readFileSync(blob).equals(files.ckpt));
  assert.deepEqual(hub.requests.slice(n2).filter((q) => q.method === 'GET' && !q.path.startsWith('/api/')).map((q) => q.path), [`/cdn/${sha256(files.ckpt)}`]);
  checkLayout(home, 'golden/triposr-tiny', TRIPOSR_COMMIT, [['config.yaml', files.config, false], ['model.ckpt', files.ckpt, true]]);
});

test('a download cut off midway is resumed with Range', async () => {
  const home = freshHome('resume');
  const env = envFor(home);
  hub.faults = { cutAfter: 600000 };
  const r = await run(['models', 'pull', 'golden/triposr-tiny'], env);
  hub.faults = {};
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.err, /broke during golden\/triposr-tiny\/model\.ckpt.*run the same command again to resume/);
  const dir = repoDir(home, 'golden/triposr-tiny');
  const partial = path.join(dir, 'blobs', `${sha256(files.ckpt)}.incomplete`);
  assert.equal(fs.statSync(partial).size, 600000, 'the bytes that arrived are kept');
  assert.ok(!fs.existsSync(path.join(dir, 'blobs', sha256(files.ckpt))), 'no finished-looking blob');
  assert.ok(!fs.existsSync(path.join(dir, 'snapshots', TRIPOSR_COMMIT, 'model.ckpt')));
  assert.ok(!fs.existsSync(path.join(dir, 'refs', 'main')), 'refs/main only once all files are in');
  const l = await run(['models', 'list'], env);
  assert.match(l.out, new RegExp(`unfinished download: 600\\.0 kB in ${sha256(files.ckpt)}\\.incomplete \\(\`lunar-nova models pull golden/triposr-tiny\` resumes it\\)`));

  const n = hub.requests.length;
  const again = await run(['models', 'pull', 'golden/triposr-tiny'], env);
  assert.equal(again.code, 0, again.err);
  const gets = hub.requests.slice(n).filter((q) => q.path.startsWith('/cdn/'));
  assert.deepEqual(gets.map((q) => q.range), ['bytes=600000-']);
  checkLayout(home, 'golden/triposr-tiny', TRIPOSR_COMMIT, [['config.yaml', files.config, false], ['model.ckpt', files.ckpt, true]]);
});

test('a corrupted download is refused and leaves the cache as it was', async () => {
  const home = freshHome('corrupt');
  const env = envFor(home);
  hub.faults = { corrupt: true };
  const r = await run(['models', 'pull', 'golden/triposr-tiny'], env);
  hub.faults = {};
  assert.equal(r.code, 1);
  assert.match(r.err, /model\.ckpt is corrupt: its sha256 is .* expected .*the download was discarded/);
  assert.equal(r.err.trim().split('\n').length, 1, 'one line');
  const dir = repoDir(home, 'golden/triposr-tiny');
  const blobs = fs.readdirSync(path.join(dir, 'blobs'));
  assert.deepEqual(blobs, [gitBlob(files.config)], 'only the good config.yaml blob');
  assert.ok(!fs.existsSync(path.join(dir, 'refs', 'main')));
  assert.ok(!fs.existsSync(path.join(dir, 'snapshots', TRIPOSR_COMMIT, 'model.ckpt')));
});

test('a stalled download times out with one line', async () => {
  const home = freshHome('stall');
  hub.faults = { stallMs: 8000 };
  const r = await run(['models', 'pull', 'golden/triposr-tiny'], envFor(home));
  hub.faults = {};
  assert.equal(r.code, 1);
  assert.match(r.err, /timed out talking to http:\/\/127\.0\.0\.1:\d+ for golden\/triposr-tiny\/model\.ckpt/);
  assert.ok(r.ms < 7000 * SLOW, `gave up after the 3 s stall limit (${r.ms} ms)`);
});

test('unknown repo, revision and a closed port: one clear line, nothing written', async () => {
  const home = freshHome('errors');
  let r = await run(['models', 'pull', 'golden/nothing'], envFor(home));
  assert.equal(r.code, 2);
  assert.match(r.err, /golden\/nothing not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404, RepoNotFound\)/);
  r = await run(['models', 'pull', 'golden/triposr-tiny', '--revision', 'v9'], envFor(home));
  assert.equal(r.code, 2);
  assert.match(r.err, /golden\/triposr-tiny has no revision "v9"/);
  r = await run(['models', 'pull', 'golden/triposr-tiny'], envFor(home, { HF_ENDPOINT: 'http://127.0.0.1:1' }));
  assert.equal(r.code, 1);
  assert.match(r.err, /cannot reach http:\/\/127\.0\.0\.1:1/);
  // TLS spoken to a server that does not: one line about TLS.
  r = await run(['models', 'pull', 'golden/triposr-tiny'], envFor(home, { HF_ENDPOINT: hub.url.replace('http:', 'https:') }));
  assert.equal(r.code, 1);
  assert.match(r.err, /TLS error talking to https:\/\/127\.0\.0\.1:\d+/);
  assert.equal(r.err.trim().split('\n').length, 1);
  r = await run(['models', 'pull', 'not a name'], envFor(home));
  assert.equal(r.code, 2);
  assert.match(r.err, /neither a Hugging Face repo id .* nor a rembg model/);
  assert.deepEqual(tree(path.join(home, 'hf', 'hub')), {}, 'nothing written');
});

test('a gated repo: 401 without a token says how to log in; HF_TOKEN and the token file work', async () => {
  const home = freshHome('gated');
  let r = await run(['models', 'pull', 'gated/tiny'], envFor(home));
  assert.equal(r.code, 2);
  assert.match(r.err, /gated\/tiny: the hub wants a login \(HTTP 401\).*set HF_TOKEN or run `huggingface-cli login`/);
  assert.deepEqual(tree(path.join(home, 'hf', 'hub')), {});
  r = await run(['models', 'pull', 'gated/tiny'], envFor(home, { HF_TOKEN: 'hf_wrong' }));
  assert.equal(r.code, 2);
  assert.match(r.err, /this token has no access \(HTTP 403, GatedRepo\)/);
  const n = hub.requests.length;
  r = await run(['models', 'pull', 'gated/tiny'], envFor(home, { HF_TOKEN: 'hf_secret' }));
  assert.equal(r.code, 0, r.err);
  // The token goes to the hub, never to the CDN the hub redirects to.
  const sent = hub.requests.slice(n);
  assert.ok(sent.filter((q) => !q.path.startsWith('/cdn/')).every((q) => q.auth === 'Bearer hf_secret'));
  assert.ok(sent.filter((q) => q.path.startsWith('/cdn/')).every((q) => q.auth === ''));
  assert.ok(fs.readFileSync(path.join(repoDir(home, 'gated/tiny'), 'snapshots', 'a'.repeat(40), 'weights.bin')).equals(files.ckpt.subarray(0, 5000)));
  // huggingface-cli login's file, $HF_HOME/token.
  const home2 = freshHome('gated-file');
  fs.mkdirSync(path.join(home2, 'hf'), { recursive: true });
  fs.writeFileSync(path.join(home2, 'hf', 'token'), 'hf_secret\n');
  r = await run(['models', 'pull', 'gated/tiny'], envFor(home2));
  assert.equal(r.code, 0, r.err);
});

test('two pulls at once: one downloads, the other waits and reuses it', async () => {
  const home = freshHome('twice');
  const env = envFor(home);
  hub.faults = { slowBytesPerTick: 100000 }; // about 0.3 s for the checkpoint
  const n = hub.requests.length;
  const [a, b] = await Promise.all([run(['models', 'pull', 'golden/triposr-tiny'], env), run(['models', 'pull', 'golden/triposr-tiny'], env)]);
  hub.faults = {};
  assert.equal(a.code, 0, a.err);
  assert.equal(b.code, 0, b.err);
  const gets = hub.requests.slice(n).filter((q) => q.path.startsWith('/cdn/'));
  assert.equal(gets.length, 1, 'the checkpoint came down once');
  checkLayout(home, 'golden/triposr-tiny', TRIPOSR_COMMIT, [['config.yaml', files.config, false], ['model.ckpt', files.ckpt, true]]);
});

test('offline (HF_HUB_OFFLINE=1): no network attempt, the cache is used', async () => {
  const home = freshHome('offline');
  let n = hub.requests.length;
  let r = await run(['models', 'pull', 'golden/triposr-tiny'], envFor(home, { HF_HUB_OFFLINE: '1' }));
  assert.equal(r.code, 2);
  assert.match(r.err, /HF_HUB_OFFLINE is set and golden\/triposr-tiny@main is not in the cache/);
  assert.equal(hub.requests.length, n, 'no request');
  assert.ok(r.ms < 3000 * SLOW, `answered in ${r.ms} ms`);
  r = await run(['models', 'pull', 'golden/triposr-tiny'], envFor(home));
  assert.equal(r.code, 0, r.err);
  n = hub.requests.length;
  r = await run(['models', 'pull', 'golden/triposr-tiny'], envFor(home, { HF_HUB_OFFLINE: '1' }));
  assert.equal(r.code, 0, r.err);
  assert.equal(hub.requests.length, n, 'no request');
  const g = await run(['generate', path.join(GOLDEN, 'input.png'), '-o', path.join(home, 'o.obj'), '--engine', 'triposr',
    '--model', 'golden/triposr-tiny', '--resolution', '32', '--quiet'], envFor(home, { HF_HUB_OFFLINE: '1' }));
  assert.equal(g.code, 0, g.err);
  assert.equal(hub.requests.length, n, 'no request');
});

test('rembg: rembg\'s file name and folder, its checksum, a mirror; a wrong checksum refused', async () => {
  const home = freshHome('rembg');
  const good = { LUNAR_NOVA_REMBG_CHECKSUMS: `u2netp=md5:${md5(onnx)}` };
  // Without the mirror's own checksum the table's (the real u2netp's) is
  // checked, and this file is not the real u2netp.
  let r = await run(['models', 'pull', 'u2netp'], envFor(home));
  assert.equal(r.code, 1);
  assert.match(r.err, /u2netp\.onnx is corrupt: its md5 is .* expected 8e83ca70e441ab06/);
  assert.deepEqual(fs.readdirSync(path.join(home, 'u2net')).filter((f) => !f.endsWith('.lock')), [], 'nothing kept');
  hub.faults = { cutAfter: 100000 };
  r = await run(['models', 'pull', 'u2netp'], envFor(home, good));
  hub.faults = {};
  assert.equal(r.code, 1);
  assert.equal(fs.statSync(path.join(home, 'u2net', 'u2netp.onnx.incomplete')).size, 100000);
  assert.ok(!fs.existsSync(path.join(home, 'u2net', 'u2netp.onnx')));
  const n = hub.requests.length;
  r = await run(['models', 'pull', 'u2netp'], envFor(home, good));
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(hub.requests.slice(n).map((q) => q.range), ['bytes=100000-']);
  assert.ok(fs.readFileSync(path.join(home, 'u2net', 'u2netp.onnx')).equals(onnx));
  r = await run(['models', 'verify', 'u2netp'], envFor(home, good));
  assert.equal(r.code, 0, r.out + r.err);
  r = await run(['models', 'verify', 'u2netp'], envFor(home));
  assert.equal(r.code, 2, 'against the table\'s checksum it is not u2netp');
  r = await run(['models', 'list'], envFor(home, good));
  assert.match(r.out, /u2netp\s+u2netp\.onnx\s+300\.0 kB\s+present/);
});

// A full disk: a small tmpfs of a private mount namespace (unshare -r -m,
// no privileges needed where user namespaces are allowed) holds the
// caches. The hub's checkpoint does not fit: refused before a byte is
// written, from the sizes the hub announces for every file. rembg's file has no announced size:
// the write fails midway and the partial file is removed.
test('disk full: one clear line and no partial file', async (t) => {
  const home = freshHome('full');
  const probe = await new Promise((resolve) => {
    const c = spawn('unshare', ['-r', '-m', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs "$0"', home], { stdio: 'ignore' });
    c.on('error', () => resolve(false));
    c.on('close', (code) => resolve(code === 0));
  });
  if (!probe) {
    t.skip('cannot mount a small tmpfs here (unshare -r -m and mount needed): the full-disk case is not tested');
    return;
  }
  // Runs lunar-nova on a tmpfs of kb kilobytes mounted over home; prints
  // what the cache holds afterwards.
  const runIn = (kb, args, env) => new Promise((resolve) => {
    const child = spawn('unshare', ['-r', '-m', 'sh', '-c', `mount -t tmpfs -o size=${kb}k tmpfs "$0" && "$@"; rc=$?; ls -R "$0"; exit $rc`, home, BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => resolve({ code, out, err }));
  });
  let r = await runIn(400, ['models', 'pull', 'golden/triposr-tiny'], envFor(home));
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /^lunar-nova: disk full: golden\/triposr-tiny needs 1\.5 MB and .* has .* free\n$/);
  assert.doesNotMatch(r.out, /models--|incomplete/, 'nothing written: the room is checked before the first byte');
  r = await runIn(128, ['models', 'pull', 'u2netp'], envFor(home, { LUNAR_NOVA_REMBG_CHECKSUMS: `u2netp=md5:${md5(onnx)}` }));
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /^lunar-nova: disk full while downloading u2netp\.onnx\n$/);
  assert.doesNotMatch(r.out, /u2netp\.onnx(\.incomplete)?\n/);
});

// On a terminal (a pseudo-terminal of util-linux's `script`) the pull
// draws its bar: the file, the share and the bytes, redrawn in place.
test('a progress bar on a terminal, none when the output is not one', async (t) => {
  const probe = await new Promise((resolve) => {
    const c = spawn('script', ['-qec', 'true', '/dev/null'], { stdio: 'ignore' });
    c.on('error', () => resolve(false));
    c.on('close', (code) => resolve(code === 0));
  });
  if (!probe) {
    t.skip('the `script` command (util-linux) is not there: the terminal bar is not tested');
    return;
  }
  const home = freshHome('bar');
  hub.faults = { slowBytesPerTick: 200000 };
  const r = await run(['-qec', `"${BIN}" models pull golden/triposr-tiny`, '/dev/null'].map(String), envFor(home), 60000, 'script');
  hub.faults = {};
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /\r\x1b\[K\[[#.]{30}\]\s+\d+% model\.ckpt [\d.]+ [kM]B of 1\.5 MB/);
  assert.match(r.out, /golden\/triposr-tiny@059b2aa0d5a3fbd7594962ec71d273e2c455974d: 3 files downloaded/);
  // Not a terminal (the other tests): no bar, no escape sequences.
  const plain = await run(['models', 'pull', 'golden/triposr-tiny'], envFor(home));
  assert.doesNotMatch(plain.out + plain.err, /\x1b\[/);
});

// An unfinished download nobody resumed for a week (another revision's,
// given up) goes when a later pull of the repo succeeds; a recent one stays.
test('a week-old unfinished download of the repo is removed by the next pull that succeeds', async () => {
  const home = freshHome('stale');
  const env = envFor(home);
  const blobs = path.join(repoDir(home, 'golden/triposr-tiny'), 'blobs');
  fs.mkdirSync(blobs, { recursive: true });
  const old = path.join(blobs, `${'c'.repeat(64)}.incomplete`);
  const recent = path.join(blobs, `${'d'.repeat(64)}.incomplete`);
  fs.writeFileSync(old, Buffer.alloc(2000));
  fs.writeFileSync(recent, Buffer.alloc(3000));
  const eightDaysAgo = new Date(Date.now() - 8 * 86400 * 1000);
  fs.utimesSync(old, eightDaysAgo, eightDaysAgo);
  let l = await run(['models', 'list'], env);
  assert.match(l.out, /unfinished download: 2\.0 kB in c{64}\.incomplete/);
  const r = await run(['models', 'pull', 'golden/triposr-tiny'], env);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /removed an unfinished download untouched for 8 days: c{64}\.incomplete \(2\.0 kB\)/);
  assert.ok(!fs.existsSync(old));
  assert.ok(fs.existsSync(recent), 'a recent one stays');
  l = await run(['models', 'list'], env);
  assert.doesNotMatch(l.out, /c{64}\.incomplete/);
  assert.match(l.out, /unfinished download: 3\.0 kB in d{64}\.incomplete/);
});

test('rembg: a pulled network loads and separates a photo', async () => {
  const home = freshHome('rembg-run');
  const env = envFor(home, { LUNAR_NOVA_REMBG_CHECKSUMS: `u2net=md5:${md5(u2netTiny)}` });
  let r = await run(['models', 'pull', 'u2net'], env);
  assert.equal(r.code, 0, r.err);
  assert.ok(fs.readFileSync(path.join(home, 'u2net', 'u2net.onnx')).equals(u2netTiny));
  const cut = path.join(home, 'cut.png');
  r = await run(['remove-bg', path.join(GOLDEN, 'input.png'), '-o', cut, '--bg-model', 'u2net', '--remove-bg', 'model'], env);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /separated by u2net/);
  const png = fs.readFileSync(cut);
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  assert.equal(png[25], 6, 'an RGBA cut-out');
});
