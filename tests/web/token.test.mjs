// The web UI on a server started with --api-token, in a real browser (as
// ui.test.mjs, which runs this after its own tests; also runnable on its
// own: node tests/web/token.test.mjs). The UI asks for the token in a
// small form; a wrong token is refused with the message again and what the
// person had chosen (image, options) kept; the right one loads the history,
// sends the upload that was refused and follows it live through its
// EventSource, which carries the token in the lunar_nova_token cookie
// (SameSite=Strict, Path=/, no expiry); "Forget the API token" deletes the
// cookie and the form comes back. The token never appears in an address or
// in the server's log. Screenshots: $LN_TEST_TMP/web/2x-token-*.png.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const { chromium, CHROMIUM, ARGS, LAPTOP, PHONE, SHOTS, collectErrors } = await import('./browser.mjs');
const { startServer, synth, tmpDir, json, form, waitJob } = await import('../http/server.mjs');

// Characters a cookie cannot carry as they are: the UI must encode them.
const TOKEN = 'ui token; "with" %odd+chars/=';
const WRONG = 'not-the-token-8813';
const AUTH = { Authorization: `Bearer ${TOKEN}` };

describe('the API token in the web UI', () => {
  let srv;
  let browser;
  let context;
  let page;
  let photo;
  let earlierId; // a job sent by a script before the page opened
  const requests = []; // every request the page made: {url, method}
  const consoleErrors = [];

  const shot = (name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  const panelShown = () => page.isVisible('#token-panel');

  before(async () => {
    srv = await startServer(['--api-token', TOKEN], { prefix: 'web-token' });
    photo = synth('photo', path.join(tmpDir('web-token-in'), 'vase.png'), 256);
    const r = await fetch(`${srv.url}/generate`, {
      method: 'POST',
      headers: AUTH,
      body: form([{ field: 'image', name: 'earlier.png', bytes: fs.readFileSync(photo) }], [['resolution', 48]]),
    });
    assert.equal(r.status, 202);
    earlierId = (await json(r)).id;
    assert.equal((await waitJob(srv.url, earlierId, { headers: AUTH })).status, 'succeeded');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    context = await browser.newContext({ viewport: LAPTOP }); // a cookie jar of its own
    page = await context.newPage();
    page.on('request', (req) => requests.push({ url: req.url(), method: req.method() }));
    await collectErrors(page, consoleErrors);
  });

  after(async () => {
    if (browser) await browser.close();
    if (srv) await srv.stop();
  });

  test('the UI asks for the token: a password field, a button, plain words', async () => {
    await page.goto(srv.url + '/', { waitUntil: 'load' });
    await page.waitForFunction(() => /^Ready/.test(document.getElementById('server-status').textContent));
    await page.locator('#token-panel').waitFor({ state: 'visible' });
    assert.equal(await page.getAttribute('#token-input', 'type'), 'password');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'token-input', 'the field has the focus');
    // The field is named by its label, the form by its heading.
    assert.equal(await page.locator('#token-panel').getAttribute('aria-labelledby'), 'token-title');
    assert.equal(await page.getByLabel('API token', { exact: true }).getAttribute('id'), 'token-input');
    assert.match(await page.textContent('#token-help'), /protected by an API token/);
    assert.ok(await page.isVisible('#token-submit'));
    assert.ok(!(await page.isVisible('#token-error')), 'no error before a token was tried');
    assert.ok(!(await page.isVisible('#forget-token')), 'nothing to forget yet');
    assert.match(await page.textContent('#history-error'), /wants an API token/);
    await shot('20-token-form');
    // Phone width: the form fits the screen.
    await page.setViewportSize(PHONE);
    await page.waitForTimeout(200);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `page is ${width} px wide at ${PHONE.width}`);
    const box = await page.locator('#token-input').boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width, 'the field is on the screen');
    await shot('21-token-form-phone');
    await page.setViewportSize(LAPTOP);
  });

  test('an upload without the token is refused, and a wrong token asks again, keeping the choice', async () => {
    await page.evaluate(() => {
      document.getElementById('options').open = true;
    });
    await page.fill('#opt-resolution', '64');
    await page.selectOption('#opt-origin', 'bottom');
    await page.setInputFiles('#file-input', photo);
    await page.locator('#picked li').first().waitFor();
    await page.click('#submit');
    await page.waitForFunction(() => /API token/.test(document.getElementById('create-error').textContent));
    assert.match(await page.textContent('#create-error'), /kept and sent once the token is accepted/);

    await page.fill('#token-input', WRONG);
    await page.click('#token-submit');
    await page.locator('#token-error').waitFor({ state: 'visible' });
    assert.match(await page.textContent('#token-error'), /did not accept this token/);
    assert.equal(await page.getAttribute('#token-error', 'role'), 'alert');
    assert.equal(await page.getAttribute('#token-input', 'aria-invalid'), 'true');
    assert.ok(await panelShown(), 'the form stays');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'token-input', 'back in the field');
    // The chosen image and options are all still there; nothing was sent.
    assert.deepEqual(await page.locator('#picked .picked-name').allTextContents(), ['vase.png']);
    assert.equal(await page.inputValue('#opt-resolution'), '64');
    assert.equal(await page.inputValue('#opt-origin'), 'bottom');
    assert.equal((await json(await fetch(`${srv.url}/jobs`, { headers: AUTH }))).total, 1, 'no job was created');
    assert.equal(await page.locator('#job-list li.job').count(), 0, 'no history without the token');
    await shot('22-token-wrong');
  });

  let newId;
  test('the right token: the history loads, the upload goes, its progress arrives live', async () => {
    const events = []; // responses of the event streams
    page.on('response', (res) => {
      if (/\/jobs\/[0-9a-f]+\/events$/.test(res.url())) events.push(res);
    });
    const before = requests.length;
    await page.fill('#token-input', TOKEN);
    await page.click('#token-submit');
    await page.locator('#token-panel').waitFor({ state: 'hidden' });
    assert.equal(await page.inputValue('#token-input'), '', 'the field is emptied');
    assert.ok(await page.isVisible('#forget-token'));

    // The cookie: SameSite=Strict, Path=/, no expiry, the token encoded.
    const cookies = await context.cookies(srv.url);
    const c = cookies.find((k) => k.name === 'lunar_nova_token');
    assert.ok(c, 'the token cookie is set');
    assert.equal(c.value, encodeURIComponent(TOKEN));
    assert.equal(c.sameSite, 'Strict');
    assert.equal(c.path, '/');
    assert.equal(c.expires, -1, 'a session cookie');

    // The history, with the earlier job and its preview (an <img>: the
    // cookie is all it can send).
    await page.waitForFunction((id) => document.querySelector(`#job-list li.job[data-id="${id}"]`), earlierId);
    // The refused upload went again by itself, with the options chosen.
    const handle = await page.waitForFunction(
      (id) => {
        const li = document.querySelector('#job-list li.job');
        return li && li.dataset.id !== id ? li.dataset.id : null;
      },
      earlierId,
      { timeout: 15000 },
    );
    newId = await handle.jsonValue();
    await page.waitForFunction(
      (id) => document.querySelector(`#job-list li.job[data-id="${id}"]`).dataset.status === 'succeeded',
      newId,
      { timeout: 30000 },
    );
    assert.match(await page.textContent('#history-error'), /^$/);
    assert.ok(!(await page.isVisible('#create-error')), 'the refusal message is gone');
    assert.equal(await page.locator('#picked li').count(), 0, 'the form was cleared after the upload');
    const job = await json(await fetch(`${srv.url}/jobs/${newId}`, { headers: AUTH }));
    assert.equal(job.options.resolution, 64);
    assert.equal(job.options.origin, 'bottom');
    assert.equal(job.inputs[0].name, 'vase.png');

    // Its progress came through its event stream (200, the cookie sent),
    // not by polling.
    const stream = events.find((r) => r.url().endsWith(`/jobs/${newId}/events`));
    assert.ok(stream, 'an EventSource was opened for the new job');
    assert.equal(stream.status(), 200);
    assert.match((await stream.request().allHeaders()).cookie || '', /lunar_nova_token=/);
    const polled = requests.slice(before).filter((r) => r.url.endsWith(`/jobs/${newId}`));
    assert.deepEqual(polled, [], 'no polling: the stream delivered the job');

    // The model (fetched by the viewer) and the previews (<img>) load.
    await page.waitForFunction((id) => document.getElementById('stage').dataset.model === id, newId, { timeout: 30000 });
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#job-list .thumb img')].length === 2 &&
      [...document.querySelectorAll('#job-list .thumb img')].every((img) => img.complete && img.naturalWidth > 0),
    );
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#downloads a[data-format="glb"]')]);
    assert.equal(fs.readFileSync(await download.path()).subarray(0, 4).toString('latin1'), 'glTF');
    await page.waitForTimeout(300);
    await shot('23-token-accepted');
    // Phone width: the top bar with "Forget the API token" still fits.
    await page.setViewportSize(PHONE);
    await page.waitForTimeout(300);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `page is ${width} px wide at ${PHONE.width}`);
    const box = await page.locator('#forget-token').boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width, 'the forget button is on the screen');
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(SHOTS, '23-token-accepted-phone.png') });
    await page.setViewportSize(LAPTOP);
  });

  test('a job sent with the token in place streams its progress as well', async () => {
    await page.setInputFiles('#file-input', photo);
    await page.fill('#opt-resolution', '96');
    const streamed = page.waitForResponse((r) => /\/jobs\/[0-9a-f]+\/events$/.test(r.url()), { timeout: 15000 });
    await page.click('#submit');
    const res = await streamed;
    assert.equal(res.status(), 200);
    const id = /jobs\/([0-9a-f]+)\/events/.exec(res.url())[1];
    await page.waitForFunction((jid) => document.getElementById('stage').dataset.model === jid, id, { timeout: 30000 });
    assert.ok(!(await panelShown()));
  });

  test('forgetting the token deletes the cookie and brings the form back', async () => {
    await page.click('#forget-token');
    await page.locator('#token-panel').waitFor({ state: 'visible' });
    assert.ok(!(await page.isVisible('#forget-token')));
    assert.ok(!(await page.isVisible('#token-error')), 'no "not accepted" message: no token was tried');
    assert.equal((await context.cookies(srv.url)).filter((k) => k.name === 'lunar_nova_token').length, 0);
    assert.match(await page.textContent('#announce'), /no longer sends the API token/);
    await shot('24-token-forgotten');
    // A reload still asks; the right token again brings the history back.
    await page.reload({ waitUntil: 'load' });
    await page.locator('#token-panel').waitFor({ state: 'visible' });
    await page.fill('#token-input', `  ${TOKEN} `); // spaces around a pasted token are dropped
    await page.press('#token-input', 'Enter');
    await page.locator('#token-panel').waitFor({ state: 'hidden' });
    await page.waitForFunction(() => document.querySelectorAll('#job-list li.job').length === 3);
  });

  test('the token never appears in an address or in the server log', async () => {
    assert.ok(requests.length > 20);
    for (const r of requests) {
      assert.ok(!r.url.includes(TOKEN) && !r.url.includes(encodeURIComponent(TOKEN)), `token in ${r.url}`);
      assert.ok(!decodeURIComponent(r.url).includes(TOKEN), `token in ${r.url}`);
    }
    assert.ok(!(await page.url()).includes(encodeURIComponent(TOKEN)));
    const log = srv.log();
    for (const secret of [TOKEN, encodeURIComponent(TOKEN), WRONG])
      assert.ok(!log.includes(secret), `the server log contains ${JSON.stringify(secret)}`);
    assert.match(log, /GET \/jobs 401/);
  });

  test('console errors: only the refusals (401) the steps provoked', () => {
    assert.ok(consoleErrors.length > 0, 'the refusals were seen');
    for (const e of consoleErrors) assert.match(e, /status of 401|EventSource/, `unexpected console error: ${e}`);
  });
});
