// The web UI takes its limits and option ranges from the server (GET
// /options), in a real browser (Debian's chromium through playwright-core,
// as ui.test.mjs): against a server started with --max-images 3 and
// --max-upload-mb 1, the page says 2–3 views and 1 MB per image, keeps a
// fourth view out, refuses a larger file before sending it, and checks an
// option against the range and words GET /options gives, and offers every
// other option of the table under "More options". Screenshots:
// $LN_TEST_TMP/web/4x-*.png (build/tests/tmp/limits/web/ under ctest).
//
// Run directly (node tests/web/limits.test.mjs); exits 77 (skipped) when
// chromium or playwright-core is missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const { chromium, CHROMIUM, ARGS, LAPTOP, SHOTS, collectErrors } = await import('./browser.mjs');
const { startServer, synth, tmpDir, json } = await import('../http/server.mjs');

const MAX_IMAGES = 3;
const MAX_UPLOAD_MB = 1;

let srv;
let browser;
let page;
let info;
let views;
let big;
const consoleErrors = [];

before(async () => {
  srv = await startServer(['--max-images', MAX_IMAGES, '--max-upload-mb', MAX_UPLOAD_MB].map(String), { prefix: 'web-limits' });
  info = await json(await fetch(`${srv.url}/options`));
  const dir = tmpDir('web-limits-in');
  views = synth('views', path.join(dir, 'turn'), 4, 96);
  // A PNG's name and type, half as large again as the limit: the page refuses it on
  // its size before reading it.
  big = path.join(dir, 'big.png');
  const head = fs.readFileSync(views[0]);
  fs.writeFileSync(big, Buffer.concat([head, Buffer.alloc(MAX_UPLOAD_MB * 1536 * 1024 - head.length)]));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  page = await (await browser.newContext({ viewport: LAPTOP })).newPage();
  await collectErrors(page, consoleErrors);
  await page.goto(`${srv.url}/`, { waitUntil: 'load' });
  await page.waitForFunction(() => document.getElementById('create-form').dataset.options === 'loaded');
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test('the server reports the limits it was started with', () => {
  assert.equal(info.limits.max_images, MAX_IMAGES);
  assert.equal(info.limits.max_file_bytes, MAX_UPLOAD_MB * 1024 * 1024);
});

test('the page states the server\'s limits', async () => {
  assert.match(await page.textContent('#file-label'), /up to 1\.0 MB\)/);
  assert.equal(await page.textContent('#views-range'), `2–${MAX_IMAGES}`);
  await page.check('#mode-multi');
  assert.match(await page.textContent('#file-label'), new RegExp(`\\(2–${MAX_IMAGES}; PNG, JPEG or WebP, up to 1\\.0 MB each\\)`));
  await page.screenshot({ path: path.join(SHOTS, '41-limits-label.png'), fullPage: true });
});

test('a view beyond --max-images is left out, with the reason', async () => {
  await page.setInputFiles('#file-input', views);
  assert.equal(await page.locator('#picked li').count(), MAX_IMAGES);
  assert.match(await page.textContent('#create-error'), new RegExp(`At most ${MAX_IMAGES} views per job: "turn-3\\.png" was left out`));
  await page.screenshot({ path: path.join(SHOTS, '42-limits-views.png'), fullPage: true });
  await page.click('#clear');
});

test('a file over --max-upload-mb is refused in the page', async () => {
  await page.check('#mode-single');
  await page.setInputFiles('#file-input', big);
  assert.equal(await page.locator('#picked li').count(), 0);
  assert.match(await page.textContent('#create-error'), /"big\.png" is 1\.5 MB; the limit is 1\.0 MB per image\./);
});

test('an option out of its range is refused with the server\'s words', async () => {
  const row = info.options.find((o) => o.name === 'resolution');
  await page.evaluate(() => {
    document.getElementById('options').open = true;
  });
  assert.equal(await page.getAttribute('#opt-resolution', 'max'), String(row.max));
  assert.equal(await page.getAttribute('#opt-resolution', 'min'), String(row.min));
  assert.equal(await page.inputValue('#opt-resolution'), String(row.default));
  await page.setInputFiles('#file-input', views[0]);
  await page.fill('#opt-resolution', String(row.max + 1));
  await page.click('#submit');
  assert.equal(await page.textContent('#create-error'), `Resolution must be ${row.accepts}.`);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'opt-resolution');
  await page.screenshot({ path: path.join(SHOTS, '43-limits-option.png'), fullPage: true });
});

test('every other option of the table gets a control under "More options", and is sent', async () => {
  const shown = await page.evaluate(() => Array.from(document.querySelectorAll('#options [name]'), (el) => el.name));
  const wanted = info.options.filter((o) => o.api && !o.per_view && o.type !== 'view').map((o) => o.name);
  assert.deepEqual([...shown].sort(), [...wanted].sort());
  const smooth = info.options.find((o) => o.name === 'smooth');
  await page.click('details.more-options summary');
  assert.equal(await page.getAttribute('[name="smooth"]', 'max'), String(smooth.max));
  assert.equal(await page.inputValue('[name="smooth"]'), String(smooth.default));
  assert.equal(await page.isChecked('[name="fill_holes"]'), info.options.find((o) => o.name === 'fill_holes').default);
  await page.fill('[name="smooth"]', String(smooth.max + 1));
  await page.fill('#opt-resolution', '48');
  await page.click('#submit');
  assert.equal(await page.textContent('#create-error'), `${smooth.label} must be ${smooth.accepts}.`);
  await page.screenshot({ path: path.join(SHOTS, '44-limits-more-options.png'), fullPage: true });
  // A value in range goes with the job, under the table's field name.
  await page.fill('[name="smooth"]', '2');
  await page.check('[name="keep_floaters"]');
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/generate') && r.request().method() === 'POST'),
    page.click('#submit'),
  ]);
  assert.equal(res.status(), 202);
  const job = await res.json();
  assert.equal(job.options.smooth, 2);
  assert.equal(job.options.keep_floaters, true);
  assert.equal(job.options.resolution, 48);
});

test('no console errors', () => {
  assert.deepEqual(consoleErrors, []);
});
