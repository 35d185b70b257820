// The console's shell: sign-in, navigation and the hash router. Each page
// is a module whose render(main, ctx, params) draws into main and returns
// a function that stops what it started (streams, timers).

import * as api from './api.js';
import { h, announce, errorBox } from './dom.js';
import * as find from './find.js';
import * as story from './story.js';
import * as fraud from './fraud.js';
import * as journal from './journal.js';
import * as machines from './machines.js';

// Pages in the order of the navigation; need lists the methods a page
// calls, so that a role that may not call them does not see the page.
const PAGES = [
  { path: 'find', title: 'Find', module: find, need: ['AggregateService/ListAggregates', 'OrderService/LookupOrders'] },
  { path: 'fraud', title: 'Fraud review', module: fraud, need: ['WatchService/Watch', 'OrderService/ListOrders'] },
  { path: 'journal', title: 'Journal & integrity', module: journal, need: ['AuditService/ListJournal', 'AuditService/GetChainHead', 'AuditService/VerifyJournal'] },
  { path: 'machines', title: 'Machines', module: machines, need: ['MachineService/ListMachines'] },
];
const HIDDEN = [{ path: 'story', title: 'Order', module: story, need: ['AggregateService/GetAggregate'], params: 3 }];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let stop = () => {};

function decodeAll(parts) {
  try { return parts.map((p) => decodeURIComponent(p)); } catch { return null; }
}

function allowed(page, caps) { return page.need.every((m) => api.may(caps, m)); }

function signInPage(message) {
  stop();
  stop = () => {};
  nav.replaceChildren();
  who.replaceChildren();
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
  const status = h('p', { class: 'status', role: 'status' }, message || '');
  const form = h('form', { class: 'signin card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    h('p', {}, 'Paste an API token. It stays in this tab only (session storage) and is sent to the API in the Authorization header; closing the tab forgets it.'),
    h('div', { class: 'field' }, h('label', { for: 'token' }, 'API token'), input),
    h('button', { type: 'submit' }, 'Sign in'),
    status);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const t = input.value.trim();
    if (!t) return;
    status.textContent = 'Checking the token…';
    try {
      const caps = await api.caller(t);
      api.signIn(t, caps);
      input.value = '';
      if (!location.hash || location.hash === '#/signin') location.hash = '#/find';
      else route();
    } catch (e) {
      status.replaceChildren(e.status === 401 ? 'That token was not accepted.' : errorBox(e));
    }
  });
  main.replaceChildren(form);
  document.title = 'Sign in · paystate console';
  input.focus();
}

function drawNav(caps, current) {
  nav.replaceChildren(h('ul', {}, PAGES.filter((p) => allowed(p, caps)).map((p) =>
    h('li', {}, h('a', { href: '#/' + p.path, 'aria-current': p.path === current ? 'page' : false }, p.title)))));
  who.replaceChildren(
    h('span', { class: 'role', id: 'role', title: `token ${caps.name}` }, 'Role: ' + caps.role),
    h('button', { type: 'button', class: 'quiet', id: 'signout', onclick: () => { api.signOut(); signInPage('Signed out.'); } }, 'Sign out'));
}

function route() {
  const caps = api.savedCaps();
  if (!api.token() || !caps) return signInPage();
  const [name, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const page = [...PAGES, ...HIDDEN].find((p) => p.path === name);
  if (!page || !allowed(page, caps)) {
    const home = PAGES.find((p) => allowed(p, caps));
    if (home && home !== page) location.replace('#/' + home.path);
    else main.replaceChildren(h('p', { class: 'note' }, 'Your role may use no page of the console.'));
    return;
  }
  stop();
  stop = () => {};
  drawNav(caps, page.path === 'story' ? 'find' : page.path);
  main.replaceChildren();
  document.title = `${page.title} · paystate console`;
  // The address is anyone's to edit or to send in a link: one that does
  // not decode, or names fewer parts than the page needs, is said to be
  // so instead of becoming a request.
  const params = decodeAll(rest);
  if (!params || params.length < (page.params || 0) || params.slice(0, page.params).some((p) => !p)) {
    main.replaceChildren(h('h1', {}, 'Not a page of the console'),
      h('p', { class: 'error', role: 'alert', id: 'bad-address' }, 'This address does not name anything the console can show. ', h('a', { href: '#/find' }, 'Find an order'), ' instead.'));
    main.focus({ preventScroll: true });
    return;
  }
  stop = page.module.render(main, { caps, may: (m) => api.may(caps, m), announce }, params) || (() => {});
  main.focus({ preventScroll: true });
}

api.onUnauthorised(() => { api.signOut(); signInPage('The server no longer accepts this token; sign in again.'); });
document.getElementById('skip').addEventListener('click', (ev) => { ev.preventDefault(); main.focus(); });
window.addEventListener('hashchange', route);
route();
