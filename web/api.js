// The Lunar Nova HTTP API as the UI uses it: JSON requests whose errors
// ({"error":{"code","message"}}) become an ApiError with a sentence a person
// can act on, the API token of a server that wants one, and a job watcher
// that follows the job's Server-Sent Events and falls back to polling
// GET /jobs/{id} when a stream cannot be used.

export const FINAL_STATUSES = new Set(['succeeded', 'failed', 'canceled']);

export function isFinal(job) {
  return FINAL_STATUSES.has(job.status);
}

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

// ---- the API token ---------------------------------------------------------
// A server started with --api-token answers 401 to the API without it. The
// browser cannot put a header on an EventSource, an <img> or a download
// link, so the token lives in a cookie, which it sends with all of them:
// SameSite=Strict (never sent with a request that another site's page
// starts), Path=/ (the whole API), Secure on https, and no expiry (it is
// gone when the browser closes). The value is encodeURIComponent(token),
// which the server decodes. The token is never put in an address (those
// reach logs and the history).
export const TOKEN_COOKIE = 'lunar_nova_token';

function cookieAttributes() {
  return `; Path=/; SameSite=Strict${location.protocol === 'https:' ? '; Secure' : ''}`;
}

// The cookie's value as it is sent now ('' when there is none).
function tokenCookie() {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === TOKEN_COOKIE) return part.slice(eq + 1).trim();
  }
  return '';
}

export function hasToken() {
  return tokenCookie() !== '';
}

export function forgetToken() {
  document.cookie = `${TOKEN_COOKIE}=${cookieAttributes()}; Max-Age=0`;
}

// Called with no argument whenever the server refuses a request for want
// of the token (the UI then asks for it).
const tokenNeeded = new Set();
export function onTokenNeeded(fn) {
  tokenNeeded.add(fn);
}

// A promise that settles the next time a token is accepted: what failed
// for want of it waits on this and is tried again.
let accepted = null;
export function whenTokenAccepted() {
  if (!accepted) {
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    accepted = { promise, resolve };
  }
  return accepted.promise;
}

// Keeps the token in the cookie and asks the server whether it takes it:
// resolves to false when it is refused; otherwise everything waiting on
// whenTokenAccepted() goes again. A server that cannot answer now (busy,
// unreachable) has not refused it.
export async function useToken(token) {
  document.cookie = `${TOKEN_COOKIE}=${encodeURIComponent(token)}${cookieAttributes()}`;
  try {
    await request('/jobs?limit=1&offset=0');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return false;
  }
  const waiting = accepted;
  accepted = null;
  if (waiting) waiting.resolve();
  return true;
}

export function isTokenError(err) {
  return err instanceof ApiError && err.status === 401;
}

// ---- requests ---------------------------------------------------------------

// Sends a request and resolves to the parsed JSON body (null for 204).
export async function request(path, { method = 'GET', body, headers } = {}) {
  const sent = tokenCookie();
  let res;
  try {
    res = await fetch(path, { method, body, headers, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'ENETWORK', 'the server cannot be reached');
  }
  // A token given while this request was on its way: send it again with it.
  if (res.status === 401 && tokenCookie() !== sent) return request(path, { method, body, headers });
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = data && data.error;
    const err = new ApiError(
      res.status,
      (e && e.code) || `HTTP_${res.status}`,
      (e && e.message) || `the server answered ${res.status} ${res.statusText}`.trim(),
      res.headers.get('Retry-After'),
    );
    if (res.status === 401) for (const fn of tokenNeeded) fn();
    throw err;
  }
  return data;
}

const LEADS = {
  0: 'Cannot reach the server. Is lunar-nova serve still running?',
  400: 'The server refused the request',
  401: 'This server wants an API token',
  404: 'Not found',
  409: 'Not possible now',
  413: 'Too large',
  415: 'Not an image Lunar Nova can read',
  422: 'The image cannot be used',
  503: 'The server is busy',
};

// One plain sentence for an error from request() (or anything thrown).
export function describeError(err) {
  if (!(err instanceof ApiError)) return `Something went wrong: ${err && err.message ? err.message : err}`;
  if (err.status === 0) return LEADS[0];
  // The server's words are for scripts (which header to send); a person
  // has the form at the top of the page.
  if (err.status === 401) return `${LEADS[401]}: enter it in the form at the top of the page.`;
  const lead = LEADS[err.status] || `The server failed (${err.status})`;
  let text = `${lead}: ${err.message}`;
  if (!/[.!?]$/.test(text)) text += '.';
  if (err.status === 503 && err.retryAfter) text += ` Try again in ${err.retryAfter} s.`;
  return text;
}

// A random key for the Idempotency-Key header: sending the same form twice
// (a retry after a lost answer) gives back the same job.
export function newIdempotencyKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export const api = {
  health: () => request('/health'),
  options: () => request('/options'),
  listJobs: (limit, offset) => request(`/jobs?limit=${limit}&offset=${offset}`),
  getJob: (id) => request(`/jobs/${encodeURIComponent(id)}`),
  cancelJob: (id) => request(`/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' }),
  deleteJob: (id) => request(`/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' }),
  submit: (multi, formData, key) =>
    request(multi ? '/generate/multi' : '/generate', {
      method: 'POST',
      body: formData,
      headers: key ? { 'Idempotency-Key': key } : undefined,
    }),
};

// Browsers hold about six connections per server over HTTP/1.1; streams
// beyond this many would starve the page's other requests, so further jobs
// are polled instead.
const MAX_STREAMS = 3;
let openStreams = 0;
const POLL_MS = 1000;
const RETRY_MS = 3000;

// Follows a job until it is final. onUpdate(job) gets every new snapshot;
// onGone() is called when the job no longer exists (deleted elsewhere);
// onTrouble(err|null) reports a lost connection and its recovery. Returns a
// function that stops watching.
export function watchJob(id, { onUpdate, onGone = () => {}, onTrouble = () => {} }) {
  let stopped = false;
  let source = null;
  let timer = null;

  const closeStream = () => {
    if (source) {
      source.close();
      source = null;
      openStreams--;
    }
  };

  const deliver = (job) => {
    if (stopped) return;
    onUpdate(job);
    if (isFinal(job)) stop();
  };

  const poll = async () => {
    timer = null;
    if (stopped) return;
    try {
      const job = await api.getJob(id);
      onTrouble(null);
      deliver(job);
      if (!stopped) timer = setTimeout(poll, POLL_MS);
    } catch (err) {
      if (stopped) return;
      if (err instanceof ApiError && err.status === 404) {
        stop();
        onGone();
        return;
      }
      // Refused for want of the token: the page asks for it; the stream
      // starts again once it is accepted.
      if (isTokenError(err)) {
        whenTokenAccepted().then(start);
        return;
      }
      onTrouble(err);
      timer = setTimeout(poll, RETRY_MS);
    }
  };

  function stop() {
    stopped = true;
    closeStream();
    if (timer) clearTimeout(timer);
    timer = null;
  }

  function start() {
    if (stopped) return;
    if (typeof EventSource !== 'function' || openStreams >= MAX_STREAMS) {
      poll();
      return;
    }
    openStreams++;
    // Same origin: the browser sends the token's cookie, if any, with it.
    source = new EventSource(`/jobs/${encodeURIComponent(id)}/events`);
    source.addEventListener('job', (ev) => {
      let job;
      try {
        job = JSON.parse(ev.data);
      } catch {
        return;
      }
      deliver(job);
    });
    // A stream ends after the final state, which closes it above; any other
    // end (a restart, a proxy, a refusal) switches this job to polling.
    source.onerror = () => {
      if (stopped) return;
      closeStream();
      poll();
    };
  }

  start();
  return stop;
}
