// The API token over real HTTP, against `lunar-nova serve --api-token`: the
// headers scripts send (Authorization: Bearer, X-API-Token) and the cookie
// the web UI sends (lunar_nova_token, the token as encodeURIComponent writes
// it), each accepted with the right token and refused (401 EAUTH) with a
// wrong one or none; public routes stay public; a cookie on a request that
// the browser marks as coming from another origin (Sec-Fetch-Site) does not
// count; and neither the token nor any guess ever reaches the server's log,
// even at debug level.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, synth, tmpDir, form, json, waitJob } from './server.mjs';

// Characters that a cookie cannot carry as they are (; " % and space), so
// the cookie must be the encodeURIComponent form and the server decode it.
const TOKEN = 'k7+Tq/2=%;x "Zz-9';
const COOKIE = `lunar_nova_token=${encodeURIComponent(TOKEN)}`;
// Wrong guesses, each distinctive enough to be searched for in the log.
const GUESSES = [
  'k7+Tq/2=%;x "Zz-8', // last character wrong
  'k7+Tq/2=%;x "Zz-', // a prefix
  'k7+Tq/2=%;x "Zz-99', // one character more
  'WRONGGUESS-4711',
];

let srv;
let mug;

before(async () => {
  const dir = tmpDir('auth-in');
  mug = fs.readFileSync(synth('photo', path.join(dir, 'mug.png'), 128));
  srv = await startServer(['--api-token', TOKEN, '--log-level', 'debug'], { prefix: 'auth' });
});

after(async () => {
  if (srv) await srv.stop();
});

const get = (p, headers = {}) => fetch(srv.url + p, { headers });
async function status(p, headers = {}) {
  const res = await get(p, headers);
  await res.arrayBuffer();
  return res.status;
}
const upload = (headers) =>
  fetch(`${srv.url}/generate`, {
    method: 'POST',
    headers,
    body: form([{ field: 'image', name: 'mug.png', bytes: mug }], [['resolution', 48]]),
  });

test('public routes need no token: /health, /options and the static UI', async () => {
  for (const p of ['/health', '/options', '/', '/app.js', '/api.js', '/style.css', '/vendor/three/build/three.module.js'])
    assert.equal(await status(p), 200, p);
});

test('no token: every API route answers 401 EAUTH with WWW-Authenticate', async () => {
  for (const p of ['/jobs', '/metrics', '/jobs/0123456789abcdef01234567', '/jobs/0123456789abcdef01234567/events']) {
    const res = await get(p);
    assert.equal(res.status, 401, p);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    const body = await json(res);
    assert.equal(body.error.code, 'EAUTH');
    assert.match(body.error.message, /lunar_nova_token/, 'the message names the cookie');
  }
  const up = await upload({});
  assert.equal(up.status, 401);
  assert.equal((await json(up)).error.code, 'EAUTH');
  // Other cookies, and a cookie with an empty value, are no token.
  assert.equal(await status('/jobs', { Cookie: 'theme=dark; lang=en' }), 401);
  assert.equal(await status('/jobs', { Cookie: 'lunar_nova_token=' }), 401);
});

test('the cookie: the right token is accepted, wherever it sits in the header', async () => {
  assert.equal(await status('/jobs', { Cookie: COOKIE }), 200);
  assert.equal(await status('/metrics', { Cookie: COOKIE }), 200);
  assert.equal(await status('/jobs', { Cookie: `theme=dark; ${COOKIE}; lang=en` }), 200);
  assert.equal(await status('/jobs', { Cookie: `theme=dark;${COOKIE}` }), 200);
  // A quoted value (RFC 6265 allows DQUOTEs around it).
  assert.equal(await status('/jobs', { Cookie: `lunar_nova_token="${encodeURIComponent(TOKEN)}"` }), 200);
  // A stale cookie of the same name (another path) beside the right one.
  assert.equal(await status('/jobs', { Cookie: `lunar_nova_token=old; ${COOKIE}` }), 200);
  // A browser's request from this origin, or from an address typed in.
  assert.equal(await status('/jobs', { Cookie: COOKIE, 'Sec-Fetch-Site': 'same-origin' }), 200);
  assert.equal(await status('/jobs', { Cookie: COOKIE, 'Sec-Fetch-Site': 'none' }), 200);
});

test('the cookie: a wrong token, a near miss or another name answers 401', async () => {
  for (const g of GUESSES) {
    const res = await get('/jobs', { Cookie: `lunar_nova_token=${encodeURIComponent(g)}` });
    assert.equal(res.status, 401, g);
    const text = await res.text();
    assert.ok(!text.includes(g) && !text.includes(encodeURIComponent(g)), 'the answer does not echo the guess');
  }
  const enc = encodeURIComponent(TOKEN);
  for (const c of [
    `lunar_nova_token=${TOKEN.replace(/[;" ]/g, '')}`, // the raw token cannot be a cookie
    `lunar_nova_token=${enc}%00`, // a NUL after the token
    `lunar_nova_token=${enc}%00tail`,
    `lunar_nova_token=${enc.slice(0, -1)}`,
    `Lunar_Nova_Token=${enc}`, // cookie names are case-sensitive
    `lunar_nova_token2=${enc}`,
    `xlunar_nova_token=${enc}`,
    `lunar_nova_token =${enc}`,
  ])
    assert.equal(await status('/jobs', { Cookie: c }), 401, c);
  // An upload with a wrong cookie is refused on its headers.
  const up = await upload({ Cookie: `lunar_nova_token=${encodeURIComponent(GUESSES[3])}` });
  assert.equal(up.status, 401);
  await up.arrayBuffer();
});

test('the cookie does not count on a request from another origin (Sec-Fetch-Site)', async () => {
  for (const site of ['cross-site', 'same-site']) {
    assert.equal(await status('/jobs', { Cookie: COOKIE, 'Sec-Fetch-Site': site }), 401, site);
    // An upload from another site's page is refused before its token is looked at.
    const up = await upload({ Cookie: COOKIE, 'Sec-Fetch-Site': site });
    assert.equal(up.status, 403, `upload, ${site}`);
    await up.arrayBuffer();
    // The headers, which another page cannot send without the token, do.
    assert.equal(await status('/jobs', { Authorization: `Bearer ${TOKEN}`, 'Sec-Fetch-Site': site }), 200);
  }
});

test('the headers work as before: Bearer and X-API-Token', async () => {
  assert.equal(await status('/jobs', { Authorization: `Bearer ${TOKEN}` }), 200);
  assert.equal(await status('/jobs', { Authorization: `bearer   ${TOKEN}` }), 200);
  assert.equal(await status('/jobs', { 'X-API-Token': TOKEN }), 200);
  assert.equal(await status('/jobs', { Authorization: `Bearer ${GUESSES[0]}` }), 401);
  assert.equal(await status('/jobs', { 'X-API-Token': GUESSES[1] }), 401);
  assert.equal(await status('/jobs', { Authorization: `Basic ${TOKEN}` }), 401);
  // A wrong header beside the right cookie: any one right token is enough.
  assert.equal(await status('/jobs', { Authorization: `Bearer ${GUESSES[2]}`, Cookie: COOKIE }), 200);
});

test('with the cookie only: upload, event stream, model, preview, inputs, cancel, delete', async () => {
  const headers = { Cookie: COOKIE };
  const up = await upload(headers);
  assert.equal(up.status, 202);
  const { id } = await json(up);
  // The event stream, as an EventSource sends it (the cookie is all it has).
  const ev = await get(`/jobs/${id}/events`, { ...headers, 'Sec-Fetch-Site': 'same-origin' });
  assert.equal(ev.status, 200);
  assert.match(ev.headers.get('content-type'), /^text\/event-stream/);
  const text = await ev.text();
  assert.match(text, /event: job/);
  assert.match(text, /"status":"succeeded"/);
  assert.equal((await waitJob(srv.url, id, { headers })).status, 'succeeded');
  for (const p of ['model.glb', 'model.obj', 'preview.png', 'inputs/0']) {
    assert.equal(await status(`/jobs/${id}/${p}`, headers), 200, p);
    assert.equal(await status(`/jobs/${id}/${p}`), 401, `${p} without the token`);
  }
  const cancel = await fetch(`${srv.url}/jobs/${id}/cancel`, { method: 'POST', headers });
  assert.equal(cancel.status, 409, 'a finished job cannot be canceled, but the request was let in');
  await cancel.arrayBuffer();
  assert.equal((await fetch(`${srv.url}/jobs/${id}`, { method: 'DELETE' })).status, 401);
  const del = await fetch(`${srv.url}/jobs/${id}`, { method: 'DELETE', headers });
  assert.ok([200, 204].includes(del.status), `delete: ${del.status}`);
  await del.arrayBuffer();
});

test('the token and the guesses never reach the log', async () => {
  // The log is read after the server stopped, so that every line is in.
  const log = await srv.stop();
  srv = null;
  assert.match(log, /GET \/jobs 401/, 'refusals are logged');
  assert.match(log, /GET \/jobs 200/, 'accepted requests are logged');
  for (const secret of [TOKEN, encodeURIComponent(TOKEN), ...GUESSES, ...GUESSES.map(encodeURIComponent)]) {
    assert.ok(!log.includes(secret), `the log contains ${JSON.stringify(secret)}`);
  }
  for (const word of ['lunar_nova_token', 'Cookie', 'Authorization', 'X-API-Token', 'Bearer'])
    assert.ok(!log.toLowerCase().includes(word.toLowerCase()), `the log mentions ${word}`);
});
