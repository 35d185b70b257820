// The console's only way to the server: the public REST API, with the
// token from this tab's session storage in the Authorization header. The
// token never goes into a URL, a log line or local storage.

const TOKEN_KEY = 'paystate.console.token';
const CAPS_KEY = 'paystate.console.caps';

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

export function signIn(t, caps) {
  sessionStorage.setItem(TOKEN_KEY, t);
  sessionStorage.setItem(CAPS_KEY, JSON.stringify(caps));
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(CAPS_KEY);
}

export function savedCaps() {
  try { return JSON.parse(sessionStorage.getItem(CAPS_KEY) || 'null'); } catch { return null; }
}

// ApiError is a refused or failed call: the HTTP status, the gRPC code the
// gateway reports, and the server's message.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

// Listeners told when the server says the token is no longer accepted.
const unauthorised = new Set();
export function onUnauthorised(fn) { unauthorised.add(fn); }

function url(path, query) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === '') continue;
    for (const one of Array.isArray(v) ? v : [v]) u.searchParams.append(k, String(one));
  }
  return u;
}

function headers(t, json) {
  const h = { Authorization: 'Bearer ' + t, Accept: 'application/json' };
  if (json) h['Content-Type'] = 'application/json';
  return h;
}

// path builds an API path from literal parts and values, escaping the values.
export function path(strings, ...values) {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ''), '');
}

// call makes one unary REST call and returns the decoded JSON answer.
export async function call(method, p, { query, body, signal, as } = {}) {
  const res = await fetch(url(p, query), {
    method,
    headers: headers(as ?? token(), body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    cache: 'no-store',
    credentials: 'omit',
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : {}; } catch { data = null; }
  if (!res.ok) {
    if (res.status === 401 && as === undefined) unauthorised.forEach((fn) => fn());
    throw new ApiError(res.status, data?.code, data?.message);
  }
  // An answer that is not the API's JSON (a proxy's page, a cut-off
  // body) is a failure, not an empty result.
  if (data === null || typeof data !== 'object') throw new ApiError(res.status, undefined, 'The server\u2019s answer was not the API\u2019s JSON.');
  return data;
}

export const get = (p, query, opts = {}) => call('GET', p, { ...opts, query });

// pages calls a paged listing until it has `limit` rows or no next page,
// reporting each page to onPage.
export async function pages(p, query, field, { limit = Infinity, signal, onPage } = {}) {
  const rows = [];
  let pageToken = '';
  do {
    const page = await get(p, { ...query, pageToken }, { signal });
    rows.push(...(page[field] || []));
    onPage?.(rows.length);
    pageToken = page.nextPageToken || '';
  } while (pageToken && rows.length < limit);
  return rows;
}

// stream opens a server stream of the REST gateway (newline-delimited
// JSON) with fetch, so that the Authorization header can be sent, and
// hands each message to onMessage. It resolves when the server ends the
// stream and rejects with ApiError when the server refuses or fails it.
export async function stream(p, query, { signal, onOpen, onMessage, as } = {}) {
  const res = await fetch(url(p, query), { headers: headers(as ?? token(), false), signal, cache: 'no-store', credentials: 'omit' });
  if (!res.ok) {
    let data = null;
    try { data = JSON.parse((await res.text()).split('\n')[0]); } catch { data = null; }
    const e = data?.error ?? data;
    throw new ApiError(res.status, e?.code, e?.message);
  }
  onOpen?.();
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line);
      if (msg.error) throw new ApiError(res.status, msg.error.code, msg.error.message);
      onMessage(msg.result ?? msg);
    }
  }
}

// caller asks the API whom the token speaks for and which methods its
// role may call (CallerService.GetCaller); the console leaves out what the
// role may not do, and the API refuses it anyway.
export async function caller(t) {
  const c = await get('/v1/caller', {}, { as: t });
  return { name: c.name || '', role: c.role || '', methods: c.methods || [] };
}

// may says whether the caller's role may call a method ("AuditService/GetEvent").
export const may = (caps, method) => !!caps?.methods?.includes('/paystate.v1.' + method);
