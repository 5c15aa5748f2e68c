// The web UI while `serve --pull-models` fetches the TripoSR weights, in
// Debian's chromium (headless, playwright-core): the status line shows the
// download with its file and share, then the new engine once the
// weights are in. Screenshots of both go to $LN_TEST_TMP/web/. Run by
// ctest as models_web_ui; exits 77 (skipped) when chromium or
// playwright-core is missing (tests/web/browser.mjs).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const { chromium, CHROMIUM, ARGS, LAPTOP, SHOTS, collectErrors } = await import('../web/browser.mjs');
const { startServer, tmpDir } = await import('../http/server.mjs');
const { startHub } = await import('./hub.mjs');

const HERE = path.dirname(fileURLToPath(import.meta.url));
const GOLDEN = path.join(HERE, '..', 'data', 'triposr-tiny');

const hub = await startHub({
  repos: {
    'golden/triposr-tiny': {
      commit: '059b2aa0d5a3fbd7594962ec71d273e2c455974d',
      files: { 'config.yaml': fs.readFileSync(path.join(GOLDEN, 'config.yaml')), 'model.ckpt': fs.readFileSync(path.join(GOLDEN, 'model.ckpt')) },
      lfs: new Set(['model.ckpt']),
    },
    'golden/dino-vit-tiny': { commit: '2acdd4f76f2edc19a8f0909fb9c48a4ae1f6d654', files: { 'config.json': fs.readFileSync(path.join(GOLDEN, 'vit_config.json')) } },
  },
});
// About 7 s for the checkpoint: long enough for the page to see it move.
hub.faults = { slowBytesPerTick: 4000 };

const home = tmpDir('ui-pull');
const srv = await startServer(['--model', 'golden/triposr-tiny', '--pull-models'], {
  env: { HF_HOME: path.join(home, 'hf'), HF_HUB_CACHE: path.join(home, 'hf', 'hub'), HUGGINGFACE_HUB_CACHE: path.join(home, 'hf', 'hub'), HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: '' },
  prefix: 'ui-pull',
});
const profile = fs.mkdtempSync(path.join(home, 'profile-'));
const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: LAPTOP });
let failed = null;
try {
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  await collectErrors(page, errors);
  await page.goto(`${srv.url}/`, { waitUntil: 'load' });
  const status = () => page.evaluate(() => document.getElementById('server-status').textContent);
  await page.waitForFunction(() => /downloading golden\/triposr-tiny \(model\.ckpt \d+% of [\d.]+ [kM]i?B\)/.test(document.getElementById('server-status').textContent), null, { timeout: 20000 });
  assert.match(await status(), /^Ready · engine sculpt/);
  await page.screenshot({ path: path.join(SHOTS, 'models-downloading.png') });
  const first = await status();
  // The page follows the download on its own (every 2 s) until it ends.
  await page.waitForFunction(() => /^Ready · engine triposr .*golden\/triposr-tiny downloaded and in use/.test(document.getElementById('server-status').textContent), null, { timeout: 30000 });
  await page.screenshot({ path: path.join(SHOTS, 'models-ready.png') });
  assert.notEqual(await status(), first);
  assert.deepEqual(errors, []);
  console.log(`ok: "${first}" then "${await status()}"`);
} catch (e) {
  failed = e;
} finally {
  await context.close();
  hub.faults = {};
  await srv.stop();
  await hub.close();
}
if (failed) {
  console.error(failed);
  process.exit(1);
}
