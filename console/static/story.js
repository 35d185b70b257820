// An order's story: where it stands, how it got there (the machine with
// the path taken), every journal entry with its verdict, and the state as
// of a chosen time.

import { get, path } from './api.js';
import { h, errorBox, money, amount, timeEl, time, shortHash, storyHref, kindName, verdictBadge, verdictName, fromInput, announce } from './dom.js';
import { machines } from './machines-data.js';
import { draw } from './machine.js';
import { resultsTable } from './find.js';

const EVENTS_PAGE = 1000;

// steps is the path an aggregate took through its machine: the edges of
// its applied entries, through any states a status snapshot skipped.
export function steps(entries) {
  const out = [];
  for (const e of entries) {
    if (verdictName(e.verdict) !== 'applied') continue;
    const chain = [e.stateBefore || 'new', ...(e.skippedStates || []), e.stateAfter];
    for (let i = 1; i < chain.length; i++) out.push([chain[i - 1], chain[i], i === chain.length - 1 ? e.event : '']);
  }
  return out;
}

// receivedAfter compares timestamps as times: their texts differ in how
// many fractional digits they carry.
const receivedAfter = (ts, until) => Date.parse(ts) > Date.parse(until);

function refOf(name) {
  const m = /^providers\/([^/]+)\/aggregates\/([^/]+)\/(.+)$/.exec(name || '');
  return m ? { provider: m[1], kind: m[2], id: m[3] } : null;
}

function amounts(a) {
  const kind = kindName(a.kind);
  const c = a.currency;
  // A payment's own amount first, then what moved since: an order
  // service compares the first with what it charged, the rest with what
  // it expects to have been taken and given back.
  const rows = !c ? [['Amounts', 'no currency known yet']]
    : kind === 'payment'
      ? [['Amount', amount(a)], ['Authorised', money(a.authorizedMinor, c)], ['Captured', money(a.capturedMinor, c)], ['Refunded', money(a.refundedMinor, c)]]
      : [['Amount', amount(a)]];
  // An event moved money without saying how much: the totals are what
  // the events proved, which the provider may not agree with.
  if (a.amountsUnknown) rows.push(['Amounts known', h('span', { class: 'warn' }, 'not fully: an event moved money without saying how much; ask the provider before relying on these totals')]);
  return rows;
}

function summary(a, title) {
  const parent = refOf(a.parent);
  return h('dl', { class: 'facts', 'aria-label': title },
    [['State', h('span', { class: 'state big', id: title === 'Now' ? 'current-state' : null }, a.state)],
      ['Provider status', h('code', {}, a.providerStatus || '—')],
      ...amounts(a),
      ['Version', a.version ?? '0'],
      ['Held events', a.pendingDeferred ?? 0],
      ['Merchant reference', a.merchantReference || '—'],
      ['First seen', timeEl(a.createTime)],
      ['Last changed', timeEl(a.updateTime)],
      parent ? ['Parent', h('a', { href: storyHref(parent.provider, parent.kind, parent.id) }, `${parent.kind} ${parent.id}`)] : null,
    ].filter(Boolean).map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
}

function body(e) {
  if (!e.redactedBody) return null;
  let text = e.redactedBody;
  try { text = JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON: as received */ }
  return h('details', { class: 'body' }, h('summary', {}, 'Redacted body'), h('pre', {}, text));
}

function timeline(entries) {
  const releasedAs = new Map();
  for (const e of entries) if (e.resolvesSequence && e.resolvesSequence !== '0') releasedAs.set(String(e.resolvesSequence), e.sequence);
  const bySeq = new Map(entries.map((e) => [String(e.sequence), e]));
  return h('ol', { class: 'timeline', 'aria-label': 'Journal entries, oldest first' }, entries.map((e) => {
    const v = verdictName(e.verdict);
    const held = e.resolvesSequence && e.resolvesSequence !== '0' ? bySeq.get(String(e.resolvesSequence)) : null;
    const changed = e.stateBefore !== e.stateAfter;
    return h('li', { class: `entry v-${v}`, tabindex: -1, dataset: { seq: e.sequence, verdict: v, received: e.receiveTime || '' } },
      h('div', { class: 'entry-head' },
        h('span', { class: 'seq' }, '#' + e.sequence),
        verdictBadge(e.verdict),
        h('code', { class: 'event' }, e.event),
        h('span', { class: 'transition' }, changed ? `${e.stateBefore} → ${e.stateAfter}` : `stays ${e.stateAfter || e.stateBefore}`),
        h('span', { class: 'when' }, 'received ', timeEl(e.receiveTime))),
      e.reason ? h('p', { class: 'reason' }, e.reason) : null,
      e.skippedStates?.length ? h('p', { class: 'skipped' }, 'Passed through without an event of their own: ', e.skippedStates.join(', ')) : null,
      held || (e.resolvesSequence && e.resolvesSequence !== '0')
        ? h('p', { class: 'released' }, `Releases held event #${e.resolvesSequence}`, held ? ` (${held.event}, received ${time(held.receiveTime)})` : '') : null,
      releasedAs.has(String(e.sequence)) ? h('p', { class: 'released' }, `Held, then applied as #${releasedAs.get(String(e.sequence))}`) : null,
      h('p', { class: 'meta' },
        e.occurTime ? ['occurred ', timeEl(e.occurTime), ' · '] : null,
        'version ', e.versionAfter ?? '0', ' · hash ', shortHash(e.hash), ' · previous ', shortHash(e.prevHash),
        ' · dedupe key ', h('code', {}, e.dedupeKey || '—')),
      body(e));
  }));
}

export function render(main, ctx, [provider, kind, id]) {
  const ac = new AbortController();
  const signal = ac.signal;
  const head = h('h1', {}, `${kind} ${id}`, h('small', {}, ` at ${provider}`));
  const status = h('p', { class: 'status', role: 'status' }, 'Loading…');
  main.append(head, status);
  const base = path`/v1/providers/${provider}/aggregates/${kind}/${id}`;

  (async () => {
    let agg, firstPage = null, noState = '';
    try { agg = await get(base, {}, { signal }); } catch (e) {
      // An order whose every event is held has no state yet, but it has a
      // history: show it to a role that may read it.
      if (e.status === 404 && ctx.may('AggregateService/ListAggregateEvents')) {
        firstPage = await get(base + '/events', { pageSize: EVENTS_PAGE }, { signal }).catch(() => null);
      }
      if (!firstPage?.entries?.length) {
        status.replaceChildren(e.status === 404 ? h('p', { class: 'error', role: 'alert' }, e.message || `paystate has not seen ${kind} ${id} at ${provider}.`) : errorBox(e));
        return;
      }
      noState = e.message;
      agg = { provider, kind: 'KIND_' + kind.toUpperCase(), providerId: id, state: 'new', version: '0',
        pendingDeferred: firstPage.entries.filter((x) => verdictName(x.verdict) === 'deferred').length };
    }
    status.remove();
    const machine = (await machines().catch(() => [])).find((m) => m.provider === provider && kindName(m.kind) === kind);
    let entries = [];
    let more = '';
    const figure = h('figure', { class: 'card wide drawing' });
    const asOfOut = h('div', { class: 'asof-out', 'aria-live': 'polite' });
    const timelineBox = h('section', { class: 'card wide', 'aria-labelledby': 'tl-title' });

    function redraw(until) {
      const shown = until ? entries.filter((e) => !receivedAfter(e.receiveTime, until)) : entries;
      const marked = until ? (shown.length ? shown.filter((e) => verdictName(e.verdict) === 'applied').at(-1)?.stateAfter : undefined) : agg.state;
      figure.replaceChildren(
        machine ? draw(machine, { current: marked ?? (until ? 'new' : agg.state), steps: steps(shown) }) : h('p', {}, 'No machine is loaded for this provider and kind.'),
        h('figcaption', {}, machine ? `${provider} ${kind} machine (${machine.mode} mode). ` : '',
          ctx.may('AggregateService/ListAggregateEvents') ? (until ? `The path taken until ${time(until)} is drawn bold; ` : 'The path this order took is drawn bold; ') + 'the current state is marked ●.'
            : 'The current state is marked ●; the path taken needs a role that may read the journal.'));
      for (const li of timelineBox.querySelectorAll('li.entry')) li.classList.toggle('after', !!until && receivedAfter(li.dataset.received, until));
    }

    function drawTimeline() {
      timelineBox.replaceChildren(h('h2', { id: 'tl-title' }, `Timeline (${entries.length} entries)`), timeline(entries));
      if (more) timelineBox.append(h('button', { type: 'button', class: 'quiet', onclick: loadMore }, 'Load more entries'));
    }
    async function loadMore(ev) {
      const had = entries.length;
      try {
        const page = firstPage ?? await get(base + '/events', { pageSize: EVENTS_PAGE, pageToken: more }, { signal });
        firstPage = null;
        entries = entries.concat(page.entries || []);
        more = page.nextPageToken || '';
        drawTimeline();
        redraw(currentAsOf);
        // The button pressed is gone: reading goes on at the first entry
        // it loaded, not at the top of the document.
        if (ev) timelineBox.querySelectorAll('li.entry')[had]?.focus();
      } catch (e) { timelineBox.append(errorBox(e)); }
    }

    let currentAsOf = '';
    const asOfInput = h('input', { id: 'asof', name: 'asof', type: 'datetime-local', step: 0.001 });
    const asOf = h('form', { class: 'asof', 'aria-labelledby': 'asof-title' },
      h('h2', { id: 'asof-title' }, 'State as of'),
      h('p', { class: 'hint' }, 'The state, amounts and path as they stood at a moment in the past, rebuilt from the journal.'),
      h('div', { class: 'row' }, h('div', { class: 'field' }, h('label', { for: 'asof' }, 'Time (UTC)'), asOfInput),
        h('button', { type: 'submit' }, 'Show'),
        h('button', { type: 'button', class: 'quiet', onclick: () => { currentAsOf = ''; asOfInput.value = ''; asOfOut.replaceChildren(); redraw(''); } }, 'Now')),
      asOfOut);
    asOf.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const when = fromInput(asOfInput.value);
      if (!when) return;
      currentAsOf = when;
      // Before it was first seen nothing can have applied: say so without
      // asking the server for a NOT_FOUND.
      if (Date.parse(when) < Date.parse(agg.createTime)) {
        asOfOut.replaceChildren(h('p', {}, `Nothing had been applied to it by ${time(when)}.`));
        redraw(when);
        return;
      }
      try {
        const then = await get(base, { asOfTime: when }, { signal });
        asOfOut.replaceChildren(h('p', {}, `As it stood at ${time(when)}:`), summary(then, 'As of'));
        announce(`As of ${time(when)} the state was ${then.state}`);
      } catch (e) {
        asOfOut.replaceChildren(e.status === 404 ? h('p', {}, `Nothing had been applied to it by ${time(when)}.`) : errorBox(e));
      }
      redraw(when);
    });

    const children = agg.children || [];
    main.append(...[
      h('div', { class: 'grid story' },
        h('section', { class: 'card', 'aria-labelledby': 'now-title' }, h('h2', { id: 'now-title' }, 'Now'),
          noState ? h('p', { class: 'note', id: 'no-state' }, noState) : null, summary(agg, 'Now')),
        h('section', { class: 'card' }, asOf)),
      figure,
      children.length ? h('section', { class: 'card wide', 'aria-labelledby': 'kids' }, h('h2', { id: 'kids' }, 'Children'), resultsTable(children, 'Children of this order')) : null,
      ctx.may('AggregateService/ListAggregateEvents') ? timelineBox : h('p', { class: 'note' }, 'Your role may not read the journal, so the timeline of this order is not shown.'),
    ].filter(Boolean));
    if (ctx.may('AggregateService/ListAggregateEvents')) await loadMore();
    else redraw('');
    announce(`${kind} ${id}: ${agg.state}`);
  })();
  return () => ac.abort();
}
