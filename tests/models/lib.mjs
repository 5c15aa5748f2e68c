// Shared by the `lunar-nova models` tests (pull, refusals, verify): the
// program under test, the scratch folder, the golden tiny TripoSR files the
// test hub serves, running the program, and a folder's listing.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = process.env.LN_BIN;
if (!BIN) throw new Error('set LN_BIN (lunar-nova)');
export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const GOLDEN = path.join(HERE, '..', 'data', 'triposr-tiny');
export const TMP_ROOT = process.env.LN_TEST_TMP || os.tmpdir();
// Sanitizer builds run slower (LN_TEST_SLOW, as in tests/http/server.mjs).
export const SLOW = Math.max(1, Number(process.env.LN_TEST_SLOW) || 1);
fs.mkdirSync(TMP_ROOT, { recursive: true });

// The golden tiny TripoSR repo and its ViT configuration's repo, as the
// test hub serves them.
export const TRIPOSR_COMMIT = '059b2aa0d5a3fbd7594962ec71d273e2c455974d';
export const VIT_COMMIT = '2acdd4f76f2edc19a8f0909fb9c48a4ae1f6d654';
export const files = {
  config: fs.readFileSync(path.join(GOLDEN, 'config.yaml')),
  ckpt: fs.readFileSync(path.join(GOLDEN, 'model.ckpt')),
  vit: fs.readFileSync(path.join(GOLDEN, 'vit_config.json')),
};

// Runs the program (or cmd) to its end: exit code, standard output and
// error, milliseconds; killed after timeoutMs.
export function run(args, env, timeoutMs = 120000, cmd = BIN) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const t0 = Date.now();
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, ms: Date.now() - t0 });
    });
  });
}

// A fresh home folder for one test.
export const freshHome = (name) => fs.mkdtempSync(path.join(TMP_ROOT, `models-${name}-`));

// The environment of a run against the test hub at url: a home of its own
// (HF_HOME and rembg's folder inside it), nothing of the caller's caches,
// tokens or certificate settings, then extra.
export function hubEnv(home, url, extra = {}) {
  const env = { ...process.env };
  for (const k of ['HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'XDG_CACHE_HOME', 'TRANSFORMERS_CACHE',
    'HF_TOKEN', 'HF_TOKEN_PATH', 'HF_HUB_OFFLINE', 'XDG_DATA_HOME', 'LUNAR_NOVA_REMBG_CHECKSUMS',
    'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'SSL_CERT_FILE', 'SSL_CERT_DIR'])
    delete env[k];
  return {
    ...env,
    HOME: home,
    HF_HOME: path.join(home, 'hf'),
    U2NET_HOME: path.join(home, 'u2net'),
    HF_ENDPOINT: url,
    LUNAR_NOVA_REMBG_BASE_URL: `${url}/rembg/`,
    ...extra,
  };
}

// A repo's folder in the Hugging Face cache of a test home.
export const repoDir = (home, repo) => path.join(home, 'hf', 'hub', `models--${repo.replace('/', '--')}`);

// Every file under a folder with its kind, size or link target: what a
// refused pull must leave unchanged.
export function tree(dir) {
  const out = {};
  if (!fs.existsSync(dir)) return out;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (e.isSymbolicLink()) out[rel] = `-> ${fs.readlinkSync(p)}`;
      else if (e.isDirectory()) { out[rel] = 'dir'; walk(p); }
      else out[rel] = `${fs.statSync(p).size} bytes`;
    }
  };
  walk(dir);
  return out;
}
