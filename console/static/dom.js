// Small helpers to build the page. Text always goes in as text nodes,
// never as HTML, so nothing a provider sent can become markup.

import { exponent } from './currencies.js';

const SVG = 'http://www.w3.org/2000/svg';

function build(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// h makes an HTML element: h('a', {href: '#/x'}, 'text', child...).
export function h(tag, attrs, ...children) { return build(document.createElement(tag), attrs, children); }

// s makes an SVG element.
export function s(tag, attrs, ...children) { return build(document.createElementNS(SVG, tag), attrs, children); }

// announce tells screen readers about a change they would not otherwise see.
export function announce(text) {
  const live = document.getElementById('announce');
  if (!live) return;
  live.textContent = '';
  setTimeout(() => { live.textContent = text; }, 30);
}

// Verdict and kind names as the API spells them, and as people read them.
export const verdictName = (v) => String(v || '').replace(/^VERDICT_/, '').toLowerCase();
export const kindName = (k) => String(k || '').replace(/^KIND_/, '').toLowerCase();
export const VERDICTS = ['applied', 'duplicate', 'deferred', 'rejected', 'recorded'];
export const KINDS = ['payment', 'refund', 'chargeback', 'subscription', 'link', 'onboarding'];

export function verdictBadge(v) {
  const name = verdictName(v);
  return h('span', { class: `verdict v-${name}` }, name);
}

// time shows a timestamp in UTC, to the millisecond: auditors compare it
// with logs and providers' consoles, not with a wall clock.
export function time(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  return d.toISOString().replace('T', ' ').replace('Z', ' UTC');
}

export function timeEl(ts) {
  return ts ? h('time', { datetime: ts }, time(ts)) : '';
}

// money formats an amount in minor units (the API's int64, a string in
// JSON) in the currency's units, exactly: no floating point, and with the
// server's exponent for the currency; a code the server does not know
// keeps minor units.
export function money(minor, currency) {
  const raw = String(minor ?? '0');
  if (!/^-?\d+$/.test(raw)) return raw;
  const digits = exponent(currency);
  if (digits === null) return `${raw} (minor units)${currency ? ' ' + currency : ''}`;
  const neg = raw.startsWith('-');
  let n = neg ? raw.slice(1) : raw;
  n = n.padStart(digits + 1, '0');
  const whole = n.slice(0, n.length - digits).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const frac = digits ? '.' + n.slice(n.length - digits) : '';
  return `${neg ? '-' : ''}${whole}${frac} ${currency}`;
}

// amount shows an order's own amount (what was authorised or sold; for
// a refund or chargeback its face amount), not the totals that moved
// since. The API answers 0 while no event has reported it, and says so
// in amountKnown: a known 0 is a zero-amount order (a card check).
export function amount(a) {
  if (!a?.amountKnown) return h('span', { class: 'unknown', title: 'No event has reported the amount yet' }, 'not reported');
  return a.currency ? money(a.amountMinor, a.currency) : `${a.amountMinor} (minor units, no currency)`;
}

// breakable lets a long provider word (POST_AUTH_FRAUD_CHECK_REJECTED,
// refund.completed) wrap after its underscores and dots, not mid-word.
export function breakable(text) {
  return String(text ?? '').split(/(?<=[_.])/).flatMap((part, i) => (i ? [h('wbr', {}), part] : [part]));
}

// pager is the Previous / Page n / Next row of a paged list; go(i) shows
// page i. Its buttons stay in place from page to page, so that keyboard
// focus stays on the one pressed, or moves to the other when the pressed
// one has no page left to go to.
export function pager(go) {
  let at = 0;
  const prev = h('button', { type: 'button', class: 'quiet', onclick: () => go(at - 1) }, '← Previous');
  const next = h('button', { type: 'button', class: 'quiet', onclick: () => go(at + 1) }, 'Next →');
  const label = h('span', {});
  const el = h('div', { class: 'pager', hidden: true }, prev, label, next);
  return {
    el,
    show(page, more) {
      at = page;
      const focused = document.activeElement;
      prev.disabled = at === 0;
      next.disabled = !more;
      label.textContent = `Page ${at + 1}`;
      el.hidden = false;
      if (focused === next && next.disabled && !prev.disabled) prev.focus();
      if (focused === prev && prev.disabled && !next.disabled) next.focus();
    },
    hide() { el.hidden = true; },
  };
}

// shortHash shows the start of a hex hash; the whole one is in its title.
export function shortHash(hash) {
  return hash ? h('code', { class: 'hash', title: hash }, hash.slice(0, 12) + '…') : '';
}

// toRFC3339 turns a datetime-local input's value (taken as UTC) into what
// the API's timestamps accept.
export function fromInput(value) {
  if (!value) return '';
  const d = new Date(value + (value.length === 16 ? ':00Z' : 'Z'));
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

export function storyHref(provider, kind, id) {
  return `#/story/${encodeURIComponent(provider)}/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`;
}

// field is a labelled form control.
export function field(label, control, hint) {
  const id = control.id || (control.id = 'f-' + Math.random().toString(36).slice(2, 9));
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint ? h('small', {}, hint) : null);
}

export function select(name, options, value = '') {
  return h('select', { name }, options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

// errorBox shows a failed call in words.
export function errorBox(e) {
  let text = e?.message || String(e);
  // fetch rejects with a TypeError when no answer came at all.
  if (e instanceof TypeError && !('status' in e)) text = 'The server could not be reached; check the connection and try again.';
  else if (e?.status === 403) text = 'Your role may not do this. ' + text;
  else if (e?.status >= 500) text = `The server failed to answer (HTTP ${e.status})` + (e.message && e.message !== `HTTP ${e.status}` ? `: ${e.message}` : '.');
  return h('p', { class: 'error', role: 'alert', dataset: { status: e?.status ?? 'network' } }, text);
}
