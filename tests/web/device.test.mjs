// The device in the web UI's status bar, in a real browser (Debian's
// chromium through playwright-core, as ui.test.mjs): the bar names what
// computes the network exactly as GET /health's "device" does, and its
// tooltip says why (/health's "device_reason"). Three servers: the default
// (--device auto: the CPU here, unless the machine has a discrete GPU),
// --device cpu, and --device vulkan:0 on Mesa's lavapipe (the Vulkan driver
// on the CPU, VK_ICD_FILENAMES), which is skipped, with the reason, where
// that driver is not installed or the program runs under Wine.
// Screenshots: $LN_TEST_TMP/web/5x-*.png.
//
// Run directly (node tests/web/device.test.mjs); exits 77 (skipped) when
// chromium or playwright-core is missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const { chromium, CHROMIUM, ARGS, LAPTOP, SHOTS, collectErrors } = await import('./browser.mjs');
const { startServer, json, WINE } = await import('../http/server.mjs');

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

// Starts a server with args (and env), opens the page, and returns
// { health, text, title } once the status bar shows the device; the
// server is stopped before returning.
async function statusBar(args, env, shotName) {
  const srv = await startServer(args, { env, prefix: 'web-device' });
  const page = await (await browser.newContext({ viewport: LAPTOP })).newPage();
  try {
    await collectErrors(page, consoleErrors);
    const health = await json(await fetch(`${srv.url}/health`));
    await page.goto(`${srv.url}/`, { waitUntil: 'load' });
    await page.waitForSelector('#server-device:not([hidden])', { timeout: 20000 });
    const text = await page.textContent('#server-device-name');
    const title = await page.getAttribute('#server-device', 'title');
    const visible = await page.isVisible('#server-device-name');
    await page.screenshot({ path: path.join(SHOTS, `${shotName}.png`) });
    return { health, text, title, visible };
  } finally {
    await page.context().close();
    await srv.stop();
  }
}

test('the default server: the status bar names the device /health names', async () => {
  const { health, text, title, visible } = await statusBar([], {}, '51-device-auto');
  assert.equal(typeof health.device, 'string');
  assert.ok(visible, 'the device is shown');
  assert.equal(text, health.device);
  assert.equal(typeof health.device_reason, 'string');
  assert.match(health.device_reason, /^auto: /, 'auto says why');
  assert.equal(title, `The ${health.device === 'cpu' ? 'CPU' : `GPU ${health.device}`} computes the network: ${health.device_reason}`);
});

test('--device cpu: the status bar says cpu, the tooltip that it was asked for', async () => {
  const { health, text, title } = await statusBar(['--device', 'cpu'], {}, '52-device-cpu');
  assert.equal(health.device, 'cpu');
  assert.equal(health.device_reason, 'asked for');
  assert.equal(text, 'cpu');
  assert.equal(title, 'The CPU computes the network: the server was started with --device cpu');
});

test('--device vulkan:0 on lavapipe: the status bar names the Vulkan device', { skip: noLavapipe }, async () => {
  const { health, text, title } = await statusBar(['--device', 'vulkan:0'], { VK_ICD_FILENAMES: LVP }, '53-device-vulkan');
  assert.match(health.device, /^vulkan:0 \(.+\)$/);
  assert.equal(health.device_reason, 'asked for');
  assert.equal(text, health.device);
  assert.equal(title, `The GPU ${health.device} computes the network: the server was started with --device vulkan:0`);
});
