// Machines: every provider's machines, drawn, with their tables beside.

import { h, errorBox, select, field } from './dom.js';
import { machines } from './machines-data.js';
import { draw, kindLabel, transitionsTable, edgesOf } from './machine.js';

export function render(main) {
  const out = h('div', { class: 'machines' }, h('p', { class: 'status' }, 'Loading…'));
  const pick = select('provider', [['', 'every provider']]);
  const form = h('form', { class: 'filters inline' }, field('Provider', pick));
  main.append(h('h1', {}, 'Machines'),
    h('p', { class: 'lead' }, 'The state machines every webhook is judged by, drawn from the tables the engine runs, left to right in the order of the lifecycle; dashed arrows undo money movement (reverts); hover an arrow or a state for its events.'),
    form, out);
  let all = [];
  function show() {
    const want = pick.value;
    const list = all.filter((m) => !want || m.provider === want);
    out.replaceChildren(...list.map((m, i) => h('section', { class: 'card wide machine-card', 'aria-labelledby': `m-${i}` },
      h('h2', { id: `m-${i}` }, `${m.provider} — ${kindLabel(m.kind)}`, h('small', {}, ` ${m.mode} mode · ${(m.states || []).length} states · ${edgesOf(m).length} transitions`)),
      h('div', { class: 'scroll' }, draw(m)),
      m.recordOnly?.length ? h('p', { class: 'note' }, 'Recorded without a transition: ', m.recordOnly.map((w) => h('code', {}, w + ' '))) : null,
      h('details', {}, h('summary', {}, 'Transitions as a table'), transitionsTable(m)))));
  }
  pick.addEventListener('change', show);
  form.addEventListener('submit', (ev) => ev.preventDefault());
  machines().then((ms) => {
    all = ms;
    pick.append(...[...new Set(ms.map((m) => m.provider))].sort().map((p) => h('option', { value: p }, p)));
    show();
  }, (e) => out.replaceChildren(errorBox(e)));
}
