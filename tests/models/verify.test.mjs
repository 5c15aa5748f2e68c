// `lunar-nova models verify` and `list` on caches pulled from the hub of
// tests/models/hub.mjs and then damaged by hand, one way at a time: a
// blob whose bytes changed, a snapshot link deleted (of a TripoSR weights
// file and of a plain repo's file), a blob deleted, an rembg file with
// other bytes. Each damage is named on one line of its own and the exit
// status is 2; a good cache verifies with 0. Caches in the other places
// `--model REPO_ID` reads (TRANSFORMERS_CACHE) are listed and verified too.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { gitBlob, md5, sha256, startHub } from './hub.mjs';
import { HERE, GOLDEN, TMP_ROOT, TRIPOSR_COMMIT, VIT_COMMIT, files, run, freshHome, hubEnv } from './lib.mjs';

const onnx = Buffer.alloc(50000);
for (let i = 0; i < onnx.length; i++) onnx[i] = (i * 40503) >>> 8;
const checksums = { LUNAR_NOVA_REMBG_CHECKSUMS: `u2netp=md5:${md5(onnx)}` };

let hub;
before(async () => {
  hub = await startHub({
    repos: {
      'golden/triposr-tiny': {
        commit: TRIPOSR_COMMIT,
        files: { 'config.yaml': files.config, 'model.ckpt': files.ckpt },
        lfs: new Set(['model.ckpt']),
      },
      'golden/dino-vit-tiny': { commit: VIT_COMMIT, files: { 'config.json': files.vit, 'README.md': Buffer.from('# vit\n') } },
    },
    rembg: { 'u2netp.onnx': onnx },
  });
});
after(() => hub.close());

const envFor = (home, extra = {}) => hubEnv(home, hub.url, { ...checksums, ...extra });

const repoDir = (root, repo) => path.join(root, `models--${repo.replace('/', '--')}`);
const badLines = (out) => out.split('\n').filter((l) => / BAD: /.test(l));

// A home with TripoSR (and its ViT repo) and u2netp pulled, verified good.
async function pulled(name) {
  const home = freshHome(name);
  const env = envFor(home);
  for (const m of ['golden/triposr-tiny', 'golden/dino-vit-tiny', 'u2netp']) {
    const r = await run(['models', 'pull', m], env);
    assert.equal(r.code, 0, r.err);
  }
  for (const m of ['golden/triposr-tiny', 'golden/dino-vit-tiny', 'u2netp']) {
    const v = await run(['models', 'verify', m], env);
    assert.equal(v.code, 0, v.out + v.err);
    assert.match(v.out, /all verified/);
    assert.deepEqual(badLines(v.out), []);
  }
  return { home, env, hub: path.join(home, 'hf', 'hub') };
}

test('a blob whose bytes changed, a deleted blob: each named on one line, exit 2', async () => {
  const { env, hub: root } = await pulled('verify-bytes');
  const blob = path.join(repoDir(root, 'golden/triposr-tiny'), 'blobs', sha256(files.ckpt));
  const cfgBlob = path.join(repoDir(root, 'golden/triposr-tiny'), 'blobs', gitBlob(files.config));
  const changed = Buffer.from(files.config);
  changed[0] ^= 0x20;
  fs.writeFileSync(cfgBlob, changed);
  let r = await run(['models', 'verify', 'golden/triposr-tiny'], env);
  assert.equal(r.code, 2, r.out + r.err);
  assert.deepEqual(badLines(r.out).map((l) => l.trim().split(/\s+/)[0]), ['config.yaml']);
  assert.match(r.out, /config\.yaml\s+BAD: content does not match its name: git hash/);
  assert.match(r.err, /^lunar-nova: golden\/triposr-tiny@059b2aa0d5a3: 1 of 2 files are damaged or missing\n$/);
  fs.writeFileSync(cfgBlob, files.config);
  fs.rmSync(blob);
  r = await run(['models', 'verify', 'golden/triposr-tiny'], env);
  assert.equal(r.code, 2, r.out + r.err);
  assert.deepEqual(badLines(r.out).map((l) => l.trim().split(/\s+/)[0]), ['model.ckpt']);
  assert.match(r.out, new RegExp(`model\\.ckpt\\s+BAD: links to a missing blob ${sha256(files.ckpt)}`));
});

test('a deleted snapshot link: the TripoSR weights and a plain repo\'s file are named; pull or --repair links them again without a download', async () => {
  const { env, hub: root } = await pulled('verify-link');
  const tri = repoDir(root, 'golden/triposr-tiny');
  fs.rmSync(path.join(tri, 'snapshots', TRIPOSR_COMMIT, 'model.ckpt'));
  let r = await run(['models', 'verify', 'golden/triposr-tiny'], env);
  assert.equal(r.code, 2, r.out + r.err);
  assert.deepEqual(badLines(r.out).map((l) => l.trim().split(/\s+/)[0]), ['model.ckpt', `blobs/${sha256(files.ckpt)}`]);
  assert.match(r.out, /model\.ckpt\s+BAD: missing: config\.yaml is TripoSR's, and neither model\.ckpt nor model\.safetensors is there/);
  assert.match(r.out, /BAD: no snapshot links to this blob: a snapshot link is missing/);
  assert.match(r.out, /a snapshot link is missing: `lunar-nova models pull golden\/triposr-tiny --revision 059b2aa0d5a3fbd7594962ec71d273e2c455974d` links it again/);
  let n = hub.requests.length;
  r = await run(['models', 'verify', 'golden/triposr-tiny', '--repair'], env);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /all verified/);
  assert.equal(hub.requests.slice(n).filter((q) => q.method === 'GET' && !q.path.startsWith('/api/')).length, 0, 'nothing downloaded again');
  assert.equal(fs.readlinkSync(path.join(tri, 'snapshots', TRIPOSR_COMMIT, 'model.ckpt')), `../../blobs/${sha256(files.ckpt)}`);

  // A repo that is not TripoSR: only the blob left alone tells.
  const vit = repoDir(root, 'golden/dino-vit-tiny');
  fs.rmSync(path.join(vit, 'snapshots', VIT_COMMIT, 'config.json'));
  r = await run(['models', 'verify', 'golden/dino-vit-tiny'], env);
  assert.equal(r.code, 2, r.out + r.err);
  assert.deepEqual(badLines(r.out).map((l) => l.trim().split(/\s+/)[0]), [`blobs/${gitBlob(files.vit)}`]);
  const l = await run(['models', 'list'], env);
  assert.equal(l.code, 2);
  assert.match(l.out, /golden\/dino-vit-tiny\s+main -> 2acdd4f76f2e.*BAD/);
  n = hub.requests.length;
  r = await run(['models', 'pull', 'golden/dino-vit-tiny'], env);
  assert.equal(r.code, 0, r.err);
  assert.equal(hub.requests.slice(n).filter((q) => q.method === 'GET' && !q.path.startsWith('/api/')).length, 0);
  r = await run(['models', 'verify', 'golden/dino-vit-tiny'], env);
  assert.equal(r.code, 0, r.out + r.err);
});

test('an rembg file with other bytes: named on one line, exit 2', async () => {
  const { home, env } = await pulled('verify-rembg');
  const file = path.join(home, 'u2net', 'u2netp.onnx');
  const other = Buffer.from(onnx);
  other[onnx.length - 1] ^= 1;
  fs.writeFileSync(file, other);
  const r = await run(['models', 'verify', 'u2netp'], env);
  assert.equal(r.code, 2, r.out + r.err);
  assert.deepEqual(badLines(r.out).map((x) => x.trim().split(/\s+/)[0]), ['u2netp.onnx']);
  assert.match(r.out, new RegExp(`u2netp\\.onnx\\s+BAD: md5 ${md5(other).slice(0, 16)}\\.\\.\\. is not rembg's ${md5(onnx).slice(0, 16)}\\.\\.\\.: pull it again`));
  assert.equal(r.err.trim().split('\n').length, 1, r.err);
  const l = await run(['models', 'list', '--verify'], env);
  assert.equal(l.code, 2);
  assert.match(l.out, /u2netp\s+u2netp\.onnx\s+50\.0 kB\s+BAD \(checksum\)/);
});

test('a cache in TRANSFORMERS_CACHE (read by --model) is listed and verified there; --repair does not write into it', async () => {
  const { home, hub: root } = await pulled('verify-roots');
  // Move the whole cache: HF_HOME's is now empty, the models are found
  // where --model finds them.
  const other = path.join(home, 'transformers');
  fs.renameSync(root, other);
  const env = envFor(home, { TRANSFORMERS_CACHE: other });
  let r = await run(['models', 'list'], env);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, new RegExp(`Hugging Face cache ${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(downloads go here\\)`));
  const section = r.out.split(/^Hugging Face cache .*transformers \(read by --model too, after the ones above\)$/m)[1];
  assert.ok(section, r.out);
  assert.match(section, /golden\/triposr-tiny\s+main -> 059b2aa0d5a3\s+.*complete/);
  assert.match(section, /golden\/dino-vit-tiny\s+main -> 2acdd4f76f2e\s+.*complete/);
  r = await run(['models', 'verify', 'golden/triposr-tiny'], env);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, new RegExp(`model\\.ckpt.*ok`));
  const blob = path.join(repoDir(other, 'golden/triposr-tiny'), 'blobs', sha256(files.ckpt));
  const damaged = Buffer.from(files.ckpt);
  damaged[77] ^= 1;
  fs.writeFileSync(blob, damaged);
  r = await run(['models', 'verify', 'golden/triposr-tiny'], env);
  assert.equal(r.code, 2, r.out + r.err);
  assert.match(r.out, /model\.ckpt\s+BAD: content does not match its name/);
  r = await run(['models', 'verify', 'golden/triposr-tiny', '--repair'], env);
  assert.equal(r.code, 2);
  assert.match(r.err, /^lunar-nova: golden\/triposr-tiny is read from .*transformers, not from the cache downloads go to .*--repair repairs only that one/);
  assert.ok(fs.readFileSync(blob).equals(damaged), 'left as it was');
});

test('list with paths: a TripoSR folder, an ONNX file, and one that is not there', async () => {
  const home = fs.mkdtempSync(path.join(TMP_ROOT, 'models-list-paths-'));
  const net = path.join(HERE, '..', 'data', 'onnx', 'u2net-tiny-op11.onnx');
  const missing = path.join(home, 'nothing.onnx');
  let r = await run(['models', 'list', GOLDEN, net], envFor(home));
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, new RegExp(`${GOLDEN.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+TripoSR\\s+1\\.5 MB\\s+present`));
  assert.match(r.out, /u2net-tiny-op11\.onnx\s+file\s+[\d.]+ [kM]B\s+present \(no checksum known\)/);
  r = await run(['models', 'list', missing], envFor(home));
  assert.equal(r.code, 2);
  assert.match(r.out, /nothing\.onnx\s+-\s+not usable/);
});
