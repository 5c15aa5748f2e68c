// The web UI where the 3D viewer cannot run, in a real browser (Debian's
// chromium through playwright-core, as ui.test.mjs): a browser with WebGL
// turned off, and a server whose three.js files are missing (--vendor
// naming an empty folder, as a checkout built without `npm ci` would be).
// Each time the viewer says why in plain words instead of spinning, the
// four downloads (GLB, OBJ, PLY, STL) still work, and the server's log
// names the missing file and the fix. Screenshots: $LN_TEST_TMP/web/3x-*.png
// (build/tests/tmp/fallback/web/ under ctest, apart from web_ui's).
//
// Run directly (node tests/web/fallback.test.mjs); exits 77 (skipped) when
// chromium or playwright-core is missing.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const { chromium, CHROMIUM, ARGS, LAPTOP, PHONE, SHOTS, collectErrors } = await import('./browser.mjs');
const { startServer, synth, tmpDir, json, form, waitJob } = await import('../http/server.mjs');

const FORMATS = ['glb', 'obj', 'ply', 'stl'];

// A finished job sent through the API, as a script would send it.
async function makeJob(srv, photo, name) {
  const r = await fetch(`${srv.url}/generate`, {
    method: 'POST',
    body: form([{ field: 'image', name, bytes: fs.readFileSync(photo) }], [['resolution', 48]]),
  });
  assert.equal(r.status, 202);
  const id = (await json(r)).id;
  assert.equal((await waitJob(srv.url, id)).status, 'succeeded');
  return id;
}

// Clicks each download button of the shown job and checks what arrives.
async function checkDownloads(page, id) {
  assert.equal(await page.locator('#downloads a.download').count(), FORMATS.length);
  for (const ext of FORMATS) {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click(`#downloads a[data-format="${ext}"]`),
    ]);
    assert.equal(download.suggestedFilename(), `${id}.${ext}`);
    const bytes = fs.readFileSync(await download.path());
    if (ext === 'glb') assert.equal(bytes.subarray(0, 4).toString('latin1'), 'glTF');
    if (ext === 'obj') assert.match(bytes.toString('latin1'), /^v -?\d/m, 'OBJ vertices');
    if (ext === 'ply') assert.equal(bytes.subarray(0, 4).toString('latin1'), 'ply\n');
    if (ext === 'stl') assert.equal(bytes.length, 84 + 50 * bytes.readUInt32LE(80), 'binary STL size');
    assert.ok(bytes.length > 500, `${ext}: ${bytes.length} bytes`);
  }
}

// Waits until the stage shows an error matching re, checks that it stays
// (no spinner comes back) and returns its text.
async function waitStageError(page, re) {
  await page.waitForFunction(
    (src) => {
      const m = document.getElementById('viewer-message');
      return !m.hidden && m.dataset.kind === 'error' && new RegExp(src).test(m.textContent);
    },
    re.source,
    { timeout: 20000 },
  );
  await page.waitForTimeout(1500);
  const state = await page.evaluate(() => {
    const m = document.getElementById('viewer-message');
    return { kind: m.dataset.kind, text: m.textContent, hidden: m.hidden };
  });
  assert.equal(state.kind, 'error', `still an error, not a spinner: ${state.text}`);
  assert.ok(!state.hidden);
  assert.match(state.text, re);
  return state.text;
}

describe('the web UI without a 3D view', () => {
  let photo;
  before(() => {
    photo = synth('photo', path.join(tmpDir('web-fallback-in'), 'lamp.png'), 256);
  });

  describe('a browser without WebGL', () => {
    let srv;
    let browser;
    let page;
    const requests = [];
    const consoleErrors = [];
    before(async () => {
      srv = await startServer([], { prefix: 'web-nowebgl' });
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [...ARGS, '--disable-webgl', '--disable-3d-apis'],
      });
      const context = await browser.newContext({ viewport: LAPTOP, acceptDownloads: true });
      page = await context.newPage();
      page.on('request', (r) => requests.push(r.url()));
      await collectErrors(page, consoleErrors);
    });
    after(async () => {
      if (browser) await browser.close();
      if (srv) await srv.stop();
    });

    test('says WebGL is not available, and the downloads work', async () => {
      const id = await makeJob(srv, photo, 'lamp.png');
      await page.goto(`${srv.url}/#job=${id}`, { waitUntil: 'load' });
      const text = await waitStageError(page, /WebGL is not available in this browser/);
      assert.match(text, /downloads below still work/);
      assert.equal(await page.locator('#stage canvas').count(), 0, 'no canvas');
      assert.ok(await page.isDisabled('#reset-view'), 'the view tools stay off');
      // The page loaded no three.js at all: it knew before.
      assert.ok(!requests.some((u) => u.includes('/vendor/three/')), 'three.js not downloaded');
      // The job's statistics and inputs are shown as usual.
      assert.match(await page.textContent('#stats'), /Vertices/);
      assert.equal(await page.locator('#inputs img').count(), 1);
      await page.screenshot({ path: path.join(SHOTS, '31-no-webgl.png'), fullPage: true });
      await page.locator('.viewer').screenshot({ path: path.join(SHOTS, '31-no-webgl-viewer.png') });
      await checkDownloads(page, id);
    });

    test('with nothing selected, and on a phone, the reason is shown too', async () => {
      await page.goto(`${srv.url}/`, { waitUntil: 'load' });
      await waitStageError(page, /WebGL is not available/);
      await page.setViewportSize(PHONE);
      await page.waitForTimeout(300);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= PHONE.width, `page is ${width} px wide at ${PHONE.width}`);
      await page.locator('.viewer').screenshot({ path: path.join(SHOTS, '32-no-webgl-phone.png') });
      await page.setViewportSize(LAPTOP);
    });

    test('no console errors', () => {
      assert.deepEqual(consoleErrors, []);
    });
  });

  describe('a server without the three.js files', () => {
    let srv;
    let browser;
    let page;
    const consoleErrors = [];
    before(async () => {
      const empty = tmpDir('web-no-vendor');
      srv = await startServer(['--vendor', empty], { prefix: 'web-no-vendor' });
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
      const context = await browser.newContext({ viewport: LAPTOP, acceptDownloads: true });
      page = await context.newPage();
      await collectErrors(page, consoleErrors);
    });
    after(async () => {
      if (browser) await browser.close();
      if (srv) await srv.stop();
    });

    test('the server warns at start-up, naming the missing file and the fix', () => {
      const warn = srv.log().split('\n').find((l) => /warn/.test(l) && /three/.test(l));
      assert.ok(warn, `a warning about three.js in:\n${srv.log()}`);
      assert.match(warn, /three\/build\/three\.module\.js is missing/);
      assert.match(warn, /npm ci/);
      assert.match(warn, /--vendor DIR/);
    });

    test('the UI says the viewer files are missing; the downloads work', async () => {
      const id = await makeJob(srv, photo, 'lamp.png');
      await page.goto(`${srv.url}/#job=${id}`, { waitUntil: 'load' });
      const text = await waitStageError(page, /3D viewer files are missing on the server/);
      assert.match(text, /\/vendor\/three\/build\/three\.module\.js answers 404/);
      assert.match(text, /downloads below still work/);
      assert.equal(await page.locator('#stage canvas').count(), 0, 'no canvas');
      await page.screenshot({ path: path.join(SHOTS, '33-no-vendor.png'), fullPage: true });
      await page.locator('.viewer').screenshot({ path: path.join(SHOTS, '33-no-vendor-viewer.png') });
      await checkDownloads(page, id);
    });

    test('a job picked after the viewer failed shows the reason, not a spinner', async () => {
      const other = await makeJob(srv, photo, 'second.png');
      await page.goto(`${srv.url}/`, { waitUntil: 'load' });
      // The failure is known before anything is picked.
      await waitStageError(page, /3D viewer files are missing/);
      await page.click(`#job-list li.job[data-id="${other}"] .job-select`);
      await page.waitForFunction((jid) => location.hash === `#job=${jid}`, other);
      await waitStageError(page, /3D viewer files are missing/);
      assert.equal(
        await page.getAttribute(`#downloads a[data-format="glb"]`, 'href'),
        `/jobs/${other}/model.glb`,
      );
    });

    test('the only console errors are the missing files', () => {
      assert.ok(consoleErrors.length > 0, 'the browser reports the 404s');
      for (const e of consoleErrors) assert.match(e, /404|Failed to fetch dynamically imported module/, e);
    });
  });
});
