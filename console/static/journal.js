// Journal and integrity: the journal under filters, the chain head (and
// its signed checkpoint when the server gives one), verification of the
// whole chain with its progress, and an export for working papers.

import { get, call, pages } from './api.js';
import { h, breakable, pager, errorBox, timeEl, shortHash, storyHref, kindName, verdictBadge, verdictName, select, field, fromInput, announce, VERDICTS, KINDS } from './dom.js';
import { providers } from './machines-data.js';

const PAGE = 100;
const VERIFY_CHUNK = 20000;
const EXPORT_LIMIT = 200000;

function filterForm(id, extra) {
  const form = h('form', { class: 'filters', 'aria-labelledby': id },
    h('fieldset', { class: 'verdicts' }, h('legend', {}, 'Verdicts'),
      VERDICTS.map((v) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'verdict', value: v }), ' ', verdictBadge('VERDICT_' + v.toUpperCase())))),
    h('div', { class: 'row' },
      field('Provider', select('provider', [['', 'any provider']])),
      field('Kind', select('kind', [['', 'any kind'], ...KINDS.map((k) => [k, k])])),
      field('Received since (UTC)', h('input', { name: 'since', type: 'datetime-local', step: 1 })),
      field('Received before (UTC)', h('input', { name: 'until', type: 'datetime-local', step: 1 }))),
    extra);
  providers().then((ps) => form.elements.provider.append(...ps.map((p) => h('option', { value: p }, p)))).catch(() => {});
  return form;
}

function filterOf(form) {
  const f = new FormData(form);
  return {
    provider: f.get('provider'), kind: f.get('kind'),
    verdicts: f.getAll('verdict').map((v) => 'VERDICT_' + String(v).toUpperCase()),
    receivedSince: fromInput(f.get('since')), receivedUntil: fromInput(f.get('until')),
  };
}

function journalTable(entries) {
  if (!entries.length) return h('p', { class: 'empty' }, 'No entries match.');
  return h('table', { class: 'list journal' },
    h('caption', { class: 'sr-only' }, 'Journal entries'),
    h('thead', {}, h('tr', {}, ['Seq', 'Received', 'Provider', 'Kind', 'Id', 'Event', 'Verdict', 'State', 'Reason', 'Hash'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, entries.map((e) => {
      const kind = kindName(e.kind);
      return h('tr', { dataset: { seq: e.sequence, verdict: verdictName(e.verdict) } },
        h('td', { class: 'num' }, e.sequence), h('td', {}, timeEl(e.receiveTime)), h('td', {}, e.provider), h('td', {}, kind),
        h('td', { class: 'id' }, e.providerId ? h('a', { href: storyHref(e.provider, kind, e.providerId) }, e.providerId) : '—'),
        h('td', {}, h('code', {}, breakable(e.event))), h('td', {}, verdictBadge(e.verdict)),
        h('td', {}, e.stateBefore === e.stateAfter ? e.stateAfter : `${e.stateBefore} → ${e.stateAfter}`),
        h('td', { class: 'reason' }, e.reason || ''), h('td', {}, shortHash(e.hash)));
    })));
}

// b64hex shows base64 bytes (the API's JSON for bytes) as hex, as the
// command line prints keys and signatures.
function b64hex(b64) {
  try {
    return [...atob(b64 || '')].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
  } catch {
    return b64 || '';
  }
}

// count is a number and its noun, singular for one.
const count = (n, noun) => `${n ?? 0} ${noun}${String(n ?? 0) === '1' ? '' : 's'}`;

// row is one fact of a definition list.
const row = (k, v, id) => h('div', {}, h('dt', {}, k), h('dd', { id }, v));

// checkpointFacts shows the newest signed checkpoint: the chain head the
// server signed with its checkpoint key, which an auditor keeps outside
// paystate to prove later that the journal still holds that prefix.
function checkpointFacts(cp) {
  return h('section', { class: 'checkpoint', 'aria-labelledby': 'cp-title' },
    h('h3', { id: 'cp-title' }, 'Latest signed checkpoint'),
    h('dl', { class: 'facts' },
      row('Sequence', cp.sequence ?? '0', 'cp-seq'),
      row('Signed', timeEl(cp.signTime)),
      row('Key id', h('code', {}, cp.keyId || ''), 'cp-key'),
      row('Hash', h('code', { class: 'wrap' }, cp.hash || '')),
      cp.treeRoot ? row('Tree root', h('code', { class: 'wrap' }, cp.treeRoot)) : null,
      row('Public key', h('code', { class: 'wrap' }, b64hex(cp.publicKey))),
      row('Signature', h('code', { class: 'wrap' }, b64hex(cp.signature)))),
    h('p', { class: 'hint' }, 'Keep a copy outside paystate (paystate checkpoint export); paystate verify --checkpoint proves the journal still holds it.'));
}

// headFacts shows the chain head, its signed checkpoint when the server
// keeps one, and anything else the server says about it as given.
function headFacts(head) {
  const extra = Object.entries(head).filter(([k, v]) => !['sequence', 'hash', 'checkpoint'].includes(k) && v !== null);
  const value = (v) => (v !== null && typeof v === 'object'
    ? h('dl', { class: 'facts nested' }, Object.entries(v).map(([k, x]) => row(k, value(x))))
    : h('code', { class: 'wrap' }, String(v)));
  return h('div', {},
    h('dl', { class: 'facts' },
      row('Sequence', head.sequence ?? '0', 'head-seq'),
      row('Hash', h('code', { class: 'wrap', id: 'head-hash' }, head.hash || ''))),
    head.checkpoint ? checkpointFacts(head.checkpoint) : h('p', { class: 'note', id: 'cp-none' }, 'No signed checkpoint: the server has no checkpoint key.'),
    extra.length ? h('dl', { class: 'facts' }, extra.map(([k, v]) => row(k, value(v)))) : null);
}

function csvCell(v) {
  let s = Array.isArray(v) ? v.join(' ') : String(v ?? '');
  // A cell a spreadsheet would run as a formula is kept as text.
  if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

const CSV_COLUMNS = ['sequence', 'receiveTime', 'occurTime', 'provider', 'kind', 'providerId', 'event', 'verdict', 'reason',
  'stateBefore', 'stateAfter', 'skippedStates', 'versionAfter', 'resolvesSequence', 'dedupeKey', 'bodySha256', 'prevHash', 'hash'];

export function toCSV(entries) {
  const lines = [CSV_COLUMNS.join(',')];
  for (const e of entries) {
    lines.push(CSV_COLUMNS.map((c) => csvCell(c === 'verdict' ? verdictName(e.verdict) : c === 'kind' ? kindName(e.kind) : e[c])).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name, class: 'sr-only' }, name);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export function render(main, ctx) {
  const ac = new AbortController();
  const signal = ac.signal;

  // The chain head and verification.
  const headBox = h('div', { 'aria-live': 'polite' }, h('p', { class: 'status' }, 'Loading…'));
  const progress = h('progress', { id: 'verify-progress', max: 1, value: 0, 'aria-label': 'Verification progress' });
  const verifyOut = h('div', { id: 'verify-result', role: 'status' });
  const verifyBtn = h('button', { type: 'button', id: 'verify' }, 'Verify now');
  async function loadHead() {
    try {
      const head = await get('/v1/journal/head', {}, { signal });
      headBox.replaceChildren(headFacts(head));
      return head;
    } catch (e) { headBox.replaceChildren(errorBox(e)); throw e; }
  }
  // brokenChain reports the first broken entry of the chain, and names
  // its order when the role may read the entry.
  function brokenChain(rep) {
    const bad = rep.firstBadSequence;
    const where = h('span', {});
    verifyOut.dataset.result = 'broken';
    verifyOut.dataset.where = 'chain';
    verifyOut.replaceChildren(h('p', { class: 'bad' }, `✗ Broken at entry #${bad}: ${rep.problem}. `, where));
    announce(`Verification failed at entry ${bad}`);
    if (ctx.may('AuditService/GetEvent')) get(`/v1/journal/entries/${encodeURIComponent(bad)}`, {}, { signal }).then((e) => {
      where.replaceChildren('It is about ', h('a', { href: storyHref(e.provider, kindName(e.kind), e.providerId) }, `${kindName(e.kind)} ${e.providerId} at ${e.provider}`), '.');
    }, () => {});
  }

  // brokenTables lists how the tables derived from the journal disagree
  // with it (the chain itself is intact).
  function brokenTables(rep) {
    const problems = rep.tableProblems || [];
    verifyOut.dataset.result = 'broken';
    verifyOut.dataset.where = 'tables';
    verifyOut.replaceChildren(
      h('p', { class: 'bad' }, `✗ The chain is intact, but the tables derived from the journal disagree with it: ${rep.derivedTables?.problemCount ?? problems.length} problems. First: ${rep.problem}.`),
      h('table', { class: 'list problems' },
        h('caption', { class: 'sr-only' }, 'Problems in the derived tables'),
        h('thead', {}, h('tr', {}, ['Table', 'Row', 'Entry', 'Problem', 'Repair'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, problems.slice(0, 50).map((p) => h('tr', {},
          h('td', {}, p.table), h('td', {}, h('code', {}, p.row || '')), h('td', { class: 'num' }, p.sequence && p.sequence !== '0' ? '#' + p.sequence : ''),
          h('td', {}, p.problem), h('td', {}, p.fixable ? 'paystate rebuild --fix' : 'by hand'))))));
    announce('Verification failed: the derived tables disagree with the journal');
  }

  // verified is what a passed verification proved: how far the chain
  // was checked, what was committed but not in the chain yet (so not
  // checked), the tables derived from it, and the newest stored
  // checkpoint the check verified, the one an auditor keeps outside
  // paystate knowing the journal held it just now.
  function verified(rep) {
    const d = rep.derivedTables;
    const unsealed = Number(rep.unsealedEntries || 0);
    const cp = rep.head?.checkpoint;
    return [
      h('p', { class: 'ok' }, `✓ Intact: ${rep.entriesChecked ?? 0} entries checked; the chain ends at #${rep.head?.sequence ?? 0}.`),
      h('dl', { class: 'facts' },
        row('Chain head', [`#${rep.head?.sequence ?? 0} `, shortHash(rep.head?.hash)], 'verify-head'),
        row('Not sealed yet', unsealed
          ? h('span', { class: 'warn' }, `${unsealed} committed ${unsealed === 1 ? 'entry has' : 'entries have'} no place in the chain yet, so ${unsealed === 1 ? 'it was' : 'they were'} not checked; verify again after the sealer's next round`)
          : 'none: every committed entry was in the chain', 'verify-unsealed'),
        d ? row('Derived tables', `agree with the journal: ${count(d.receipts, 'receipt')}, ${count(d.heldEvents, 'held event')}, ${count(d.aggregates, 'aggregate')}`, 'verify-tables') : null,
        row('Signed checkpoints', `${rep.checkpointsChecked ?? 0} checked against the journal`, 'verify-cps')),
      cp ? h('section', { class: 'checkpoint', 'aria-labelledby': 'vcp-title', id: 'verify-cp' },
        h('h3', { id: 'vcp-title' }, 'Checkpoint verified'),
        h('p', { class: 'hint' }, 'The newest checkpoint paystate stored that this check verified: keep it outside paystate (paystate checkpoint export), knowing the journal held it just now.'),
        h('dl', { class: 'facts' },
          row('Sequence', cp.sequence ?? '0', 'vcp-seq'),
          row('Signed', timeEl(cp.signTime)),
          row('Key id', h('code', {}, cp.keyId || ''), 'vcp-key'),
          row('Hash', h('code', { class: 'wrap' }, cp.hash || ''), 'vcp-hash'),
          cp.treeRoot ? row('Tree root', h('code', { class: 'wrap' }, cp.treeRoot)) : null))
        : h('p', { class: 'note', id: 'verify-cp-none' }, 'No stored checkpoint was verified: none has been signed.'),
    ];
  }

  verifyBtn.addEventListener('click', async () => {
    verifyBtn.disabled = true;
    verifyOut.replaceChildren('Verifying…');
    verifyOut.dataset.result = 'running';
    delete verifyOut.dataset.where;
    try {
      const head = await loadHead();
      const last = Number(head.sequence || 0);
      progress.max = Math.max(1, last);
      progress.value = 0;
      let checked = 0, from = 1, rep;
      // First the chain, in ranges, so that progress shows; the last range
      // runs to the head as it is then, and checks the stored head against
      // the last entry.
      do {
        const to = from + VERIFY_CHUNK - 1 >= last ? 0 : from + VERIFY_CHUNK - 1;
        rep = await call('POST', '/v1/journal:verify', { body: { fromSequence: String(from), toSequence: String(to), chainOnly: true }, signal });
        checked += Number(rep.entriesChecked || 0);
        progress.value = Math.min(progress.max, checked);
        verifyOut.textContent = `Checked the chain of ${checked} of ${last} entries…`;
        from = to + 1;
      } while (rep.ok && from > 1);
      if (!rep.ok) return brokenChain(rep);
      // Then the whole verification, which replays the journal against
      // the tables derived from it (and checks the signed checkpoints,
      // where the server keeps them): one call, so no figure to show.
      progress.removeAttribute('value');
      verifyOut.textContent = `The chain of ${checked} entries is intact; replaying the journal against the tables derived from it…`;
      const whole = await call('POST', '/v1/journal:verify', { body: {}, signal });
      progress.value = progress.max;
      if (!whole.ok) return whole.tableProblems?.length || whole.derivedTables ? brokenTables(whole) : brokenChain(whole);
      verifyOut.dataset.result = 'ok';
      verifyOut.replaceChildren(...verified(whole));
      announce('Verification passed');
    } catch (e) {
      verifyOut.dataset.result = 'error';
      verifyOut.replaceChildren(errorBox(e));
    } finally {
      if (!progress.hasAttribute('value')) progress.value = 0;
      verifyBtn.disabled = false;
    }
  });

  // The journal, a page at a time.
  const listOut = h('div', { class: 'out' });
  const paging = pager((i) => show(i));
  const exportStatus = h('span', { class: 'status', role: 'status' });
  const exportBtn = (fmt) => h('button', { type: 'button', class: 'quiet', dataset: { export: fmt }, onclick: () => exportAs(fmt) }, `Export ${fmt.toUpperCase()}`);
  const filters = filterForm('journal-title', h('div', { class: 'row actions' },
    h('button', { type: 'submit' }, 'Apply filters'), exportBtn('json'), exportBtn('csv'), exportStatus));
  let filter = {}, tokens = [''], at = 0;
  async function show(i) {
    listOut.setAttribute('aria-busy', 'true');
    try {
      const r = await get('/v1/journal', { ...filter, pageSize: PAGE, pageToken: tokens[i] }, { signal });
      at = i;
      tokens[i + 1] = r.nextPageToken || '';
      tokens.length = i + 2;
      listOut.replaceChildren(journalTable(r.entries || []));
      paging.show(at, !!r.nextPageToken);
    } catch (e) { listOut.replaceChildren(errorBox(e)); paging.hide(); } finally { listOut.removeAttribute('aria-busy'); }
  }
  filters.addEventListener('submit', (ev) => { ev.preventDefault(); filter = filterOf(filters); tokens = ['']; show(0); });

  async function exportAs(fmt) {
    const f = filterOf(filters);
    exportStatus.textContent = 'Exporting…';
    try {
      const head = await get('/v1/journal/head', {}, { signal });
      const entries = await pages('/v1/journal', f, 'entries', {
        signal, limit: EXPORT_LIMIT, onPage: (n) => { exportStatus.textContent = `Exporting… ${n} entries`; },
      });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      if (fmt === 'csv') download(`paystate-journal-${stamp}.csv`, 'text/csv', toCSV(entries));
      else download(`paystate-journal-${stamp}.json`, 'application/json', JSON.stringify({ exportedAt: new Date().toISOString(), filter: f, chainHead: head, entries }, null, 2) + '\n');
      exportStatus.textContent = `Exported ${entries.length} entries${entries.length >= EXPORT_LIMIT ? ' (the limit: narrow the time range for the rest)' : ''}.`;
    } catch (e) { exportStatus.replaceChildren(errorBox(e)); }
  }

  main.append(h('h1', {}, 'Journal & integrity'),
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'head-title' }, h('h2', { id: 'head-title' }, 'Chain head'), headBox),
      h('section', { class: 'card', 'aria-labelledby': 'verify-title' }, h('h2', { id: 'verify-title' }, 'Integrity'),
        h('p', {}, 'Recompute every entry\u2019s hash and its link to the entry before it, from the first entry to the head; then replay the journal against the tables derived from it.'),
        verifyBtn, progress, verifyOut)),
    h('section', { class: 'card wide', 'aria-labelledby': 'journal-title' }, h('h2', { id: 'journal-title' }, 'Journal'),
      filters, listOut, paging.el));
  loadHead().catch(() => {});
  show(0);
  return () => ac.abort();
}
