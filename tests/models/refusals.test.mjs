// What `lunar-nova models pull` refuses, and what it leaves: a hub over
// HTTPS with a self-signed certificate (made here with the `openssl`
// command) is refused with one line about the certificate until its
// certificate is named in REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE /
// SSL_CERT_FILE; a token without access (403), a file the hub lists but
// will not serve (404 on resolve) and a download address that answers 404
// each give one line and leave the cache as it was. Hub of tests/models/hub.mjs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { gitBlob, sha256, startHub } from './hub.mjs';
import { TRIPOSR_COMMIT, VIT_COMMIT, files, run, repoDir, tree, freshHome, hubEnv } from './lib.mjs';

const repos = {
  'golden/triposr-tiny': {
    commit: TRIPOSR_COMMIT,
    files: { 'config.yaml': files.config, 'model.ckpt': files.ckpt },
    lfs: new Set(['model.ckpt']),
  },
  'golden/dino-vit-tiny': { commit: VIT_COMMIT, files: { 'config.json': files.vit } },
  'gated/tiny': {
    commit: 'a'.repeat(40),
    files: { 'config.json': files.vit, 'weights.bin': files.ckpt.subarray(0, 5000) },
    lfs: new Set(['weights.bin']),
    gated: 'hf_secret',
  },
  // The hub lists notes.txt but answers 404 for it (a file removed
  // between the listing and the download, or a broken mirror).
  'golden/holey': {
    commit: 'b'.repeat(40),
    files: { 'config.json': files.vit, 'notes.txt': Buffer.from('gone\n') },
    missing: new Set(['notes.txt']),
  },
};

let hub;
before(async () => { hub = await startHub({ repos }); });
after(() => hub.close());

const envFor = (home, url, extra = {}) => hubEnv(home, url, { LUNAR_NOVA_HUB_TIMEOUT: '5', ...extra });

// The cache's content: files and links, without the folders and lock
// files a refused pull may have made on its way (huggingface_hub leaves
// those too; they hold nothing).
function content(home) {
  const t = tree(path.join(home, 'hf', 'hub'));
  return Object.fromEntries(Object.entries(t).filter(([k, v]) => v !== 'dir' && !k.endsWith('.lock')));
}

// A cache holding one finished pull, so that "as it was" is not just empty.
async function seeded(name) {
  const home = freshHome(name);
  const r = await run(['models', 'pull', 'golden/dino-vit-tiny'], envFor(home, hub.url));
  assert.equal(r.code, 0, r.err);
  return home;
}

const oneLine = (s) => s.trim().split('\n').length === 1;

test('a hub over HTTPS with a certificate not trusted: one line, nothing written; trusted through REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE / SSL_CERT_FILE it works', async (t) => {
  const dir = freshHome('tls');
  const key = path.join(dir, 'key.pem'), cert = path.join(dir, 'cert.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
    '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
  { stdio: 'ignore' });
  if (made.error || made.status !== 0) {
    t.skip('the openssl command is not there or cannot make a certificate: the TLS cases are not tested');
    return;
  }
  const secure = await startHub({ repos, tls: { key: fs.readFileSync(key), cert: fs.readFileSync(cert) } });
  try {
    const home = await seeded('tls-untrusted');
    const before = content(home);
    let r = await run(['models', 'pull', 'golden/triposr-tiny'], envFor(home, secure.url));
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, /^lunar-nova: the TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted \(.*\): .*REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE/);
    assert.ok(oneLine(r.err), r.err);
    assert.deepEqual(content(home), before, 'the cache is as it was');
    assert.equal(secure.requests.length, 0, 'no request got through the handshake');

    // A CA file that is not one: named in one line.
    r = await run(['models', 'pull', 'golden/triposr-tiny'], envFor(home, secure.url, { CURL_CA_BUNDLE: path.join(dir, 'nothing.pem') }));
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot use the CA certificates of CURL_CA_BUNDLE=.*nothing\.pem/);
    assert.ok(oneLine(r.err), r.err);
    assert.deepEqual(content(home), before);

    // Trusted: the whole pull, the redirect to the (HTTPS) download
    // address included.
    r = await run(['models', 'pull', 'golden/triposr-tiny'], envFor(home, secure.url, { CURL_CA_BUNDLE: cert }));
    assert.equal(r.code, 0, r.err);
    const blob = path.join(repoDir(home, 'golden/triposr-tiny'), 'blobs', sha256(files.ckpt));
    assert.ok(fs.readFileSync(blob).equals(files.ckpt));
    assert.ok(secure.requests.some((q) => q.path === `/cdn/${sha256(files.ckpt)}`));
    // The other two variables the Python tools read.
    for (const v of ['REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE']) {
      const h = freshHome(`tls-${v}`);
      r = await run(['models', 'pull', 'golden/dino-vit-tiny'], envFor(h, secure.url, { [v]: cert }));
      assert.equal(r.code, 0, `${v}: ${r.err}`);
      assert.ok(fs.existsSync(path.join(repoDir(h, 'golden/dino-vit-tiny'), 'blobs', gitBlob(files.vit))));
    }
  } finally {
    await secure.close();
  }
});

test('a token without access (403): one line saying how to get access, the cache as it was', async () => {
  const home = await seeded('forbidden');
  const before = content(home);
  const r = await run(['models', 'pull', 'gated/tiny'], envFor(home, hub.url, { HF_TOKEN: 'hf_wrong' }));
  assert.equal(r.code, 2);
  assert.match(r.err, /gated\/tiny: this token has no access \(HTTP 403, GatedRepo\): request access at http:\/\/127\.0\.0\.1:\d+\/gated\/tiny/);
  assert.match(r.err, /huggingface-cli login/);
  assert.ok(oneLine(r.err), r.err);
  assert.deepEqual(content(home), before);
});

test('a file the hub lists but answers 404 for: one line naming it, nothing of the repo written', async () => {
  const home = await seeded('entry404');
  const before = content(home);
  const r = await run(['models', 'pull', 'golden/holey'], envFor(home, hub.url));
  assert.equal(r.code, 2, r.out + r.err);
  assert.match(r.err, /^lunar-nova: golden\/holey@main has no file notes\.txt \(HTTP 404\)\n$/);
  assert.deepEqual(content(home), before, 'not even config.json, which the hub did serve');
});

test('the download address answers 404: one line, no .incomplete left behind', async () => {
  const home = await seeded('cdn404');
  const before = content(home);
  hub.faults = { cdnMissing: true };
  const r = await run(['models', 'pull', 'golden/triposr-tiny'], envFor(home, hub.url));
  hub.faults = {};
  assert.equal(r.code, 2, r.out + r.err);
  assert.match(r.err, /^lunar-nova: downloading golden\/triposr-tiny\/model\.ckpt: the server answered HTTP 404\n$/);
  // config.yaml, a small file served by the hub itself, came down first
  // and is complete and checked (as after an interrupted pull); model.ckpt
  // left nothing, and refs/main still names no snapshot.
  const now = content(home);
  const added = Object.keys(now).filter((k) => !(k in before));
  const tri = 'models--golden--triposr-tiny';
  assert.deepEqual(added.sort(), [`${tri}/blobs/${gitBlob(files.config)}`, `${tri}/snapshots/${TRIPOSR_COMMIT}/config.yaml`].sort());
  assert.ok(!added.some((k) => k.endsWith('.incomplete')));
});
