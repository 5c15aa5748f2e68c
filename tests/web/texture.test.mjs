// A baked texture in the web UI, in a real browser (Debian's chromium
// through playwright-core, as ui.test.mjs), on a server of its own: a job
// made with texture=512 shows its model textured, the mesh details name
// the texture, the "Texture" switch shows the vertex colours kept beside it
// (_COLOR_0) and back, its downloads offer the OBJ with its texture as a
// zip, and a job without a texture has neither.
// Screenshots: $LN_TEST_TMP/web/5x-*.png (build/tests/tmp/texture/web/).
//
// Run directly (node tests/web/texture.test.mjs); exits 77 (skipped) when
// chromium or playwright-core is missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const { chromium, CHROMIUM, ARGS, LAPTOP, SHOTS, collectErrors } = await import('./browser.mjs');
const { startServer, synth, tmpDir, json, form, waitJob } = await import('../http/server.mjs');

let srv;
let browser;
let page;
let texturedId;
let plainId;
const consoleErrors = [];

async function makeJob(bytes, fields) {
  const res = await fetch(`${srv.url}/generate`, {
    method: 'POST',
    body: form([{ field: 'image', name: 'mug.png', bytes }], [['resolution', '64'], ...fields]),
  });
  assert.equal(res.status, 202);
  const { id } = await json(res);
  assert.equal((await waitJob(srv.url, id)).status, 'succeeded');
  return id;
}

async function show(id) {
  await page.evaluate((jid) => { window.location.hash = `job=${jid}`; }, id);
  await page.waitForFunction((jid) => document.getElementById('stage').dataset.model === jid, id, { timeout: 30000 });
  await page.waitForTimeout(300); // a frame or two after loading
}

before(async () => {
  srv = await startServer([], { prefix: 'web-texture' });
  const photo = synth('photo', path.join(tmpDir('web-texture-in'), 'mug.png'), 256);
  const bytes = fs.readFileSync(photo);
  plainId = await makeJob(bytes, []);
  texturedId = await makeJob(bytes, [['texture', '512']]);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  page = await (await browser.newContext({ viewport: LAPTOP })).newPage();
  await collectErrors(page, consoleErrors);
  await page.goto(`${srv.url}/`, { waitUntil: 'load' });
  await page.locator(`#job-list li.job[data-id="${texturedId}"]`).waitFor();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test('a textured model: shown, named in the details, with a switch to its vertex colours', async () => {
  await show(texturedId);
  assert.equal(await page.isVisible('#toggle-texture'), true, 'the texture switch is shown');
  assert.equal(await page.getAttribute('#toggle-texture', 'aria-pressed'), 'true');
  assert.match(await page.textContent('#stats'), /Texture512 × 512 PNG, [\d,]+ charts/);
  const canvas = page.locator('#stage canvas');
  const textured = await canvas.screenshot({ path: path.join(SHOTS, '51-textured.png') });
  await page.screenshot({ path: path.join(SHOTS, '51-textured-page.png'), fullPage: true });
  await page.click('#toggle-texture');
  assert.equal(await page.getAttribute('#toggle-texture', 'aria-pressed'), 'false');
  await page.waitForTimeout(300);
  const coloured = await canvas.screenshot({ path: path.join(SHOTS, '52-vertex-colours.png') });
  assert.ok(!textured.equals(coloured), 'the switch changes what is drawn');
  await page.click('#toggle-texture');
  await page.waitForTimeout(300);
  const again = await canvas.screenshot({ path: path.join(SHOTS, '53-textured-again.png') });
  assert.ok(!again.equals(coloured), 'switched back to the texture');
  // The OBJ with its material and texture, downloaded through its button.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#downloads a[data-format="zip"]')]);
  assert.equal(download.suggestedFilename(), `${texturedId}.zip`);
  const bytes = fs.readFileSync(await download.path());
  assert.equal(bytes.subarray(0, 4).toString('latin1'), 'PK\x03\x04');
  assert.ok(bytes.includes(Buffer.from(`${texturedId}.png`)), 'the archive names the texture');
});

test('a model without a texture has no texture switch', async () => {
  await show(plainId);
  assert.equal(await page.isVisible('#toggle-texture'), false);
  assert.doesNotMatch(await page.textContent('#stats'), /Texture/);
  assert.equal(await page.locator('#downloads a[data-format="zip"]').count(), 0);
});

test('no console errors', () => {
  assert.deepEqual(consoleErrors, []);
});
