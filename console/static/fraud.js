// Fraud review, live: the orders in fraud_review now, kept current from
// the watch stream. The list is read after the stream's first cursor is
// known, and every entry the stream delivered after that cursor is applied
// on top of it in journal order, so that nothing between the listing and
// the stream is lost; after a lost connection the stream resumes after the
// last cursor it received.

import { get, stream, pages, ApiError } from './api.js';
import { h, errorBox, amount, timeEl, storyHref, announce } from './dom.js';
import { machines } from './machines-data.js';

const STATE = 'fraud_review';
const LIST_LIMIT = 5000;
const LIST_PAGE = 1000;
const OUT_OF_RANGE = 11; // the gRPC code the gateway reports
// A reconnect that succeeds within this long is routine (the server ends
// long streams); only a longer gap is shown.
const QUIET_GAP = 2500;

export function render(main) {
  const ac = new AbortController();
  const indicator = h('p', { class: 'conn', id: 'conn', role: 'status', dataset: { state: 'connecting' } }, 'Connecting…');
  const count = h('p', { class: 'count', id: 'queue-count' }, 'Loading the queue…');
  const tbody = h('tbody', { id: 'queue' });
  const table = h('table', { class: 'list queue' },
    h('caption', { class: 'sr-only' }, 'Orders in fraud review'),
    h('thead', {}, h('tr', {}, ['Provider', 'Order', 'Merchant reference', 'Amount', 'Entered review', 'By event'].map((c) => h('th', { scope: 'col' }, c)))),
    tbody);
  table.hidden = true;
  const problem = h('div', {});
  main.append(h('div', { class: 'titlebar' }, h('h1', {}, 'Fraud review'), indicator),
    h('p', { class: 'lead' }, 'Orders under the providers\u2019 manual fraud review right now. An order appears when it enters review and disappears when it leaves; no reload needed.'),
    count, problem, table);

  let members = new Map(); // provider/id -> row data
  const key = (provider, id) => provider + '/' + id;
  let cursor = null, synced = false, buffered = [], listing = null, retry = 0, gap = 0;

  function setConn(state, text) {
    indicator.dataset.state = state;
    indicator.textContent = text;
  }

  function draw() {
    const rows = [...members.values()].sort((a, b) => (a.provider + a.id).localeCompare(b.provider + b.id));
    // The rows are drawn anew as the queue changes; a keyboard user on an
    // order's link stays on it (or, if it left, on the table's next one).
    const focusedRow = tbody.contains(document.activeElement) ? document.activeElement.closest('tr')?.dataset.key : null;
    tbody.replaceChildren(...rows.map((r) => h('tr', { dataset: { key: key(r.provider, r.id) } },
      h('td', {}, r.provider),
      h('td', { class: 'id' }, h('a', { href: storyHref(r.provider, 'payment', r.id) }, r.id)),
      h('td', { class: 'id' }, r.ref || ''),
      h('td', { class: 'num' }, r.order ? amount(r.order) : r.failed ? 'unavailable' : '…'),
      h('td', {}, r.exact === false ? ['at or before ', timeEl(r.since)] : timeEl(r.since)),
      h('td', {}, r.exact === false ? h('span', { class: 'unknown' }, 'not known; last status ', h('code', {}, r.event)) : r.event ? h('code', {}, r.event) : ''))));
    if (focusedRow) {
      const keys = rows.map((r) => key(r.provider, r.id));
      const at = keys.includes(focusedRow) ? focusedRow : keys.find((k) => k > focusedRow) ?? keys.at(-1);
      if (at) tbody.querySelector(`tr[data-key="${CSS.escape(at)}"] a`)?.focus();
    }
    count.textContent = rows.length === 0 ? 'No order is in fraud review right now.' : rows.length === 1 ? '1 order in review' : `${rows.length} orders in review`;
    // An empty queue is a sentence, not the headings of an empty table.
    table.hidden = rows.length === 0;
  }

  // A listed order says when it last changed and its last status word,
  // not when and by what it entered review: they are that only when the
  // word is one that enters review. After a word that kept it there
  // (N-Genius ORDER_CLOSED), it entered at or before its last change, by
  // an event the order does not name.
  let entering = new Set();
  function fromOrder(o) {
    return { provider: o.provider, id: o.providerOrderId, ref: o.merchantReference, order: o, since: o.updateTime, event: o.providerStatus,
      exact: entering.has(o.provider + '/' + o.providerStatus) };
  }

  // apply folds one entry of the stream into the queue.
  function apply(e) {
    const k = key(e.provider, e.providerId);
    if (e.stateAfter === STATE && e.stateBefore !== STATE) {
      members.set(k, { provider: e.provider, id: e.providerId, since: e.receiveTime, event: e.event, ...(members.get(k) && { ref: members.get(k).ref }) });
      announce(`Order ${e.providerId} at ${e.provider} entered fraud review`);
      // The entry has no amounts; the order has.
      get(`/v1/providers/${encodeURIComponent(e.provider)}/orders/${encodeURIComponent(e.providerId)}`, {}, { signal: ac.signal })
        .then((o) => { if (members.has(k)) { members.set(k, { ...fromOrder(o), since: e.receiveTime, event: e.event, exact: true }); draw(); } })
        .catch(() => { if (members.has(k)) { members.get(k).failed = true; draw(); } });
    } else if (e.stateBefore === STATE && e.stateAfter !== STATE) {
      if (members.delete(k)) announce(`Order ${e.providerId} at ${e.provider} left fraud review (${e.stateAfter})`);
    }
  }

  // failed says the queue could not be read; the next list read that
  // succeeds clears it. A first page that fails after the queue is in
  // sync (a slow answer) is of no account.
  function failed(e) {
    if (ac.signal.aborted || synced) return;
    problem.replaceChildren(errorBox(e));
    count.textContent = 'The queue could not be read.';
  }

  async function list(limit = LIST_LIMIT) {
    entering = new Set((await machines()).flatMap((m) => (m.transitions || [])
      .filter((t) => t.to === STATE && (t.from || []).some((f) => f !== STATE)).map((t) => m.provider + '/' + t.event)));
    const orders = await pages('/v1/orders', { state: STATE, pageSize: LIST_PAGE }, 'orders', { limit, signal: ac.signal });
    problem.replaceChildren(orders.length >= LIST_LIMIT ? h('p', { class: 'note' }, `Showing the first ${LIST_LIMIT} orders in review.`) : '');
    return new Map(orders.map((o) => [key(o.provider, o.providerOrderId), fromOrder(o)]));
  }

  function onMessage(msg) {
    retry = 0;
    cursor = msg.cursor;
    if (msg.entry) (synced ? (apply(msg.entry), draw()) : buffered.push(msg.entry));
    if (!synced && !listing) {
      // The first cursor is known: what the list reads from now on is at
      // least as new as it, and the stream has everything after it.
      listing = list().then((listed) => {
        members = listed;
        for (const e of buffered) apply(e);
        buffered = [];
        synced = true;
        draw();
      }, (e) => {
        // Read the list again at the next message (a heartbeat at most a
        // second away), and keep the entries meanwhile.
        listing = null;
        failed(e);
      });
    }
  }

  async function connect() {
    while (!ac.signal.aborted) {
      const query = { states: STATE, kinds: 'payment', heartbeatSeconds: 1 };
      if (cursor === null) query.startAtHead = true; else query.afterSequence = cursor;
      try {
        await stream('/v1/journal:watch', query, {
          signal: ac.signal,
          onOpen: () => { clearTimeout(gap); setConn('live', 'Live'); },
          onMessage,
        });
      } catch (e) {
        if (ac.signal.aborted) return;
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
          setConn('down', 'Disconnected');
          problem.replaceChildren(errorBox(e));
          return;
        }
        if (e instanceof ApiError && e.code === OUT_OF_RANGE) {
          // The journal is shorter than our cursor (a restored store): start over.
          cursor = null; synced = false; listing = null; buffered = [];
        }
      }
      if (ac.signal.aborted) return;
      // The server ends streams it has served long enough; a quick
      // reconnect from the cursor is routine, a failing one backs off.
      clearTimeout(gap);
      gap = setTimeout(() => setConn('reconnecting', 'Reconnecting…'), retry ? 0 : QUIET_GAP);
      const wait = Math.min(5000, retry++ ? 250 * 2 ** retry : 0);
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  // Until the stream's first cursor arrives (up to a heartbeat), show the
  // first page of the list as it is; the list read after the cursor
  // replaces it.
  list(LIST_PAGE).then((listed) => { if (!synced) { members = listed; draw(); } }, failed);
  connect();
  return () => { clearTimeout(gap); ac.abort(); };
}
