// The device in the web UI's status bar, in a real browser (Debian's
// chromium through playwright-core, as ui.test.mjs): the bar names what
// computes the network exactly as GET /health's "device" does, and its
// tooltip says why (/health's "device_reason"). Three servers: the default
// (--device auto: the CPU here, unless the machine has a discrete GPU),
// --device cpu, and --device vulkan:0 on Mesa's lavapipe (the Vulkan driver
// on the CPU, VK_ICD_FILENAMES), which is skipped, with the reason, where
// that driver is not installed or the program runs under Wine.
// A finished job's details name the device that computed it (the job
// record's "device": the CPU for sculpt, the Vulkan device for TripoSR,
// here the tiny model in tests/data/triposr-tiny). Screenshots: $LN_TEST_TMP/web/6x-*.png.
//
// Run directly (node tests/web/device.test.mjs); exits 77 (skipped) when
// chromium or playwright-core is missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const { chromium, CHROMIUM, ARGS, LAPTOP, PHONE, SHOTS, collectErrors } = await import('./browser.mjs');
const { startServer, synth, tmpDir, form, json, waitJob, WINE } = await import('../http/server.mjs');

const ARCH = { x64: 'x86_64', arm64: 'aarch64' }[process.arch] || process.arch;
const LVP = `/usr/share/vulkan/icd.d/lvp_icd.${ARCH}.json`;
const noLavapipe = WINE ? 'under Wine: no Vulkan driver reaches the Windows program here'
  : !fs.existsSync(LVP) ? `no Vulkan driver: ${LVP} not found (Debian's mesa-vulkan-drivers)` : false;

let browser;
const consoleErrors = [];

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
});

after(async () => {
  if (browser) await browser.close();
  assert.deepEqual(consoleErrors, [], 'no console errors');
});

const TINY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'data', 'triposr-tiny');
let photo;

// Starts a server with args (and env), runs one job on it, opens the page,
// and returns { health, text, title, visible, job, stats } once the status
// bar shows the device and the job's details are shown; the server is
// stopped before returning.
async function statusBar(args, env, shotName, image = null) {
  if (!photo) photo = fs.readFileSync(synth('photo', path.join(tmpDir('web-device-in'), 'mug.png'), 160));
  const srv = await startServer(args, { env, prefix: 'web-device' });
  const page = await (await browser.newContext({ viewport: LAPTOP })).newPage();
  try {
    await collectErrors(page, consoleErrors);
    const health = await json(await fetch(`${srv.url}/health`));
    const res = await fetch(`${srv.url}/generate`, {
      method: 'POST',
      body: form([{ field: 'image', name: 'mug.png', bytes: image || photo }], [['resolution', image ? '32' : '48']]),
    });
    assert.equal(res.status, 202);
    const job = await waitJob(srv.url, (await json(res)).id, { timeoutMs: 60000 });
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    await page.goto(`${srv.url}/#job=${job.id}`, { waitUntil: 'load' });
    await page.waitForSelector('#server-device:not([hidden])', { timeout: 20000 });
    await page.waitForFunction((jid) => document.getElementById('stage').dataset.model === jid, job.id, { timeout: 30000 });
    const text = await page.textContent('#server-device-name');
    const title = await page.getAttribute('#server-device', 'title');
    const visible = await page.isVisible('#server-device-name');
    const stats = await page.textContent('#stats');
    await page.screenshot({ path: path.join(SHOTS, `${shotName}.png`) });
    // On a phone a long device name wraps inside the bar: no sideways scrolling.
    await page.setViewportSize(PHONE);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `the page is ${width} px wide on a ${PHONE.width} px phone`);
    assert.ok(await page.isVisible('#server-device-name'), 'the device is shown on a phone');
    await page.screenshot({ path: path.join(SHOTS, `${shotName}-phone.png`) });
    return { health, text, title, visible, job, stats };
  } finally {
    await page.context().close();
    await srv.stop();
  }
}

test('the default server: the status bar names the device /health names', async () => {
  const { health, text, title, visible, job, stats } = await statusBar([], {}, '61-device-auto');
  assert.equal(typeof health.device, 'string');
  assert.equal(job.engine, 'sculpt');
  assert.equal(job.device, 'cpu');
  assert.ok(stats.includes('Computed oncpu'), stats);
  assert.ok(visible, 'the device is shown');
  assert.equal(text, health.device);
  assert.equal(typeof health.device_reason, 'string');
  assert.match(health.device_reason, /^auto: /, 'auto says why');
  assert.equal(title, `The ${health.device === 'cpu' ? 'CPU' : `GPU ${health.device}`} computes the network: ${health.device_reason}`);
});

test('--device cpu: the status bar says cpu, the tooltip that it was asked for', async () => {
  const { health, text, title, job, stats } = await statusBar(['--device', 'cpu'], {}, '62-device-cpu');
  assert.equal(health.device, 'cpu');
  assert.equal(job.device, 'cpu');
  assert.ok(stats.includes('Computed oncpu'), stats);
  assert.equal(health.device_reason, 'asked for');
  assert.equal(text, 'cpu');
  assert.equal(title, 'The CPU computes the network: the server was started with --device cpu');
});

test('--device vulkan:0 on lavapipe: the status bar names the Vulkan device, and so does a TripoSR job', { skip: noLavapipe }, async () => {
  const { health, text, title, job, stats } = await statusBar(['--device', 'vulkan:0', '--model', 'golden/triposr-tiny'],
    { VK_ICD_FILENAMES: LVP, HF_HOME: path.join(TINY, 'hf_home') }, '63-device-vulkan', fs.readFileSync(path.join(TINY, 'input.png')));
  assert.equal(job.engine, 'triposr');
  assert.match(health.device, /^vulkan:0 \(.+\)$/);
  assert.equal(job.device, health.device);
  assert.ok(stats.includes(`Computed on${health.device}`), stats);
  assert.equal(health.device_reason, 'asked for');
  assert.equal(text, health.device);
  assert.equal(title, `The GPU ${health.device} computes the network: the server was started with --device vulkan:0`);
});
