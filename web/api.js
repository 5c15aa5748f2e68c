// The Lunar Nova HTTP API as the UI uses it: JSON requests whose errors
// ({"error":{"code","message"}}) become an ApiError with a sentence a person
// can act on, and a job watcher that follows the job's Server-Sent Events
// and falls back to polling GET /jobs/{id} when a stream cannot be used.

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

// Sends a request and resolves to the parsed JSON body (null for 204).
export async function request(path, { method = 'GET', body, headers } = {}) {
  let res;
  try {
    res = await fetch(path, { method, body, headers, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'ENETWORK', 'the server cannot be reached');
  }
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
    throw new ApiError(
      res.status,
      (e && e.code) || `HTTP_${res.status}`,
      (e && e.message) || `the server answered ${res.status} ${res.statusText}`.trim(),
      res.headers.get('Retry-After'),
    );
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

  if (typeof EventSource === 'function' && openStreams < MAX_STREAMS) {
    openStreams++;
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
    // end (a restart, a proxy) switches this job to polling.
    source.onerror = () => {
      if (stopped) return;
      closeStream();
      poll();
    };
  } else {
    poll();
  }
  return stop;
}
