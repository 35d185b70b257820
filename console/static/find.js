// Find: one order by provider and id, orders by merchant reference, and
// the recent orders under filters, a page at a time.

import { get } from './api.js';
import { h, field, select, errorBox, amount, pager, timeEl, storyHref, kindName, KINDS, fromInput, announce } from './dom.js';
import { providers, states } from './machines-data.js';

const PAGE = 50;

export function resultsTable(rows, caption) {
  if (!rows.length) return h('p', { class: 'empty' }, 'Nothing matches.');
  return h('table', { class: 'list results' },
    h('caption', { class: 'sr-only' }, caption),
    h('thead', {}, h('tr', {}, ['Provider', 'Kind', 'Id', 'Merchant reference', 'State', 'Provider status', 'Amount', 'Updated'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((a) => {
      const id = a.providerId ?? a.providerOrderId;
      const kind = kindName(a.kind) || 'payment';
      return h('tr', {},
        h('td', {}, a.provider), h('td', {}, kind),
        h('td', { class: 'id' }, h('a', { href: storyHref(a.provider, kind, id) }, id)),
        h('td', { class: 'id' }, a.merchantReference || ''),
        h('td', {}, h('span', { class: 'state' }, a.state?.startsWith?.('PAYMENT_STATE_') ? a.stateName : (a.stateName || a.state))),
        h('td', {}, a.providerStatus || ''), h('td', { class: 'num' }, amount(a)), h('td', {}, timeEl(a.updateTime)));
    })));
}

export function render(main) {
  const provSel = (name) => select(name, [['', 'any provider']]);
  const byId = h('form', { class: 'card', 'aria-labelledby': 'find-id' },
    h('h2', { id: 'find-id' }, 'By provider and id'),
    h('div', { class: 'row' },
      field('Provider', select('provider', [])),
      field('Kind', select('kind', KINDS.map((k) => [k, k]), 'payment')),
      field('Id', h('input', { name: 'id', required: true, autocomplete: 'off' }))),
    h('button', { type: 'submit' }, 'Open'));
  byId.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(byId);
    location.hash = storyHref(f.get('provider'), f.get('kind'), String(f.get('id')).trim());
  });

  const refOut = h('div', { id: 'ref-results', 'aria-live': 'polite' });
  const byRef = h('form', { class: 'card', 'aria-labelledby': 'find-ref' },
    h('h2', { id: 'find-ref' }, 'By merchant reference'),
    h('div', { class: 'row' }, field('Merchant reference', h('input', { name: 'ref', required: true, autocomplete: 'off' }))),
    h('button', { type: 'submit' }, 'Look up'));
  byRef.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ref = String(new FormData(byRef).get('ref')).trim();
    refOut.replaceChildren(h('p', { class: 'status' }, 'Looking up…'));
    try {
      const r = await get('/v1/orders:lookup', { merchantReference: ref });
      refOut.replaceChildren(h('section', { class: 'card wide out', 'aria-labelledby': 'ref-title' },
        h('h2', { id: 'ref-title' }, `Merchant reference ${ref}`), resultsTable(r.orders || [], 'Orders with this merchant reference')));
      announce(`${(r.orders || []).length} orders found`);
    } catch (e) { refOut.replaceChildren(errorBox(e)); }
  });

  const stateList = h('datalist', { id: 'state-names' });
  const listOut = h('div', { class: 'out' });
  const paging = pager((i) => show(i));
  const list = h('form', { class: 'card wide', 'aria-labelledby': 'find-list' },
    h('h2', { id: 'find-list' }, 'Orders'),
    h('div', { class: 'row' },
      field('Provider', provSel('provider')),
      field('Kind', select('kind', [['', 'any kind'], ...KINDS.map((k) => [k, k])])),
      field('State', h('input', { name: 'state', list: 'state-names', autocomplete: 'off', placeholder: 'any state' })),
      field('Updated since (UTC)', h('input', { name: 'since', type: 'datetime-local', step: 1 }))),
    stateList,
    h('button', { type: 'submit' }, 'List'), listOut, paging.el);

  // tokens[i] is the page token of page i; going back reuses them.
  let filter = {}, tokens = [''], at = 0;
  async function show(i) {
    listOut.setAttribute('aria-busy', 'true');
    try {
      const r = await get('/v1/aggregates', { ...filter, pageSize: PAGE, pageToken: tokens[i] });
      at = i;
      tokens[i + 1] = r.nextPageToken || '';
      tokens.length = i + 2;
      listOut.replaceChildren(resultsTable(r.aggregates || [], 'Orders matching the filters'));
      paging.show(at, !!r.nextPageToken);
      announce(`Page ${at + 1}: ${(r.aggregates || []).length} rows`);
    } catch (e) {
      listOut.replaceChildren(errorBox(e));
      paging.hide();
    } finally { listOut.removeAttribute('aria-busy'); }
  }
  list.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(list);
    filter = { provider: f.get('provider'), kind: f.get('kind'), state: String(f.get('state')).trim(), updatedSince: fromInput(f.get('since')) };
    tokens = [''];
    show(0);
  });

  main.append(h('h1', {}, 'Find'), h('div', { class: 'grid' }, byId, byRef), refOut, list);
  providers().then((ps) => {
    byId.elements.provider.replaceChildren(...ps.map((p) => h('option', { value: p }, p)));
    list.elements.provider.append(...ps.map((p) => h('option', { value: p }, p)));
  }).catch((e) => main.prepend(errorBox(e)));
  states().then((ss) => stateList.append(...ss.map((st) => h('option', { value: st })))).catch(() => {});
  filter = {};
  show(0);
}
