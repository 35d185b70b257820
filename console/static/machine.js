// Draws a provider's machine as SVG from ListMachines' states and
// transitions: states in columns by their distance from "new", edges as
// curves, the edges an order took and its current state marked.

import { h, s } from './dom.js';

const NODE_W = 156, NODE_H = 34, COL_GAP = 74, ROW_GAP = 20, PAD = 28;
// Edges between states of one column bulge to the right of it.
const SAME_COL_ROOM = 64;
let uid = 0;

// edgesOf returns one edge per (from, to) pair with the events that take
// it. It reads the machine's Mermaid diagram, which the server draws from
// the edges the engine runs, with every state an edge can end in (a
// capture ends in partially_captured or captured, as the amounts decide);
// the transition rows name only the declared target.
export function edgesOf(machine) {
  const edges = new Map();
  const add = (from, to, event, revert) => {
    const key = from + '\u2192' + to;
    const e = edges.get(key) || { from, to, events: [], revert: true };
    if (!e.events.includes(event)) e.events.push(event);
    e.revert = e.revert && revert;
    edges.set(key, e);
  };
  const node = (x) => (x === '[*]' ? 'new' : x);
  for (const line of (machine.mermaid || '').split('\n')) {
    const m = /^\s*(\S+) --> (\S+) : (.+)$/.exec(line);
    if (!m) continue;
    for (const label of m[3].split(', ')) add(node(m[1]), node(m[2]), label.replace(/ \(revert\)$/, ''), label.endsWith(' (revert)'));
  }
  if (edges.size) return [...edges.values()];
  for (const t of machine.transitions || []) {
    for (const from of t.from || []) add(from, t.to === '(stay)' ? from : t.to, t.event, !!t.revert);
  }
  return [...edges.values()];
}

// ranks gives each state its column: the length of the longest path to it
// from "new" along edges that move forward in the machine's own order of
// states (ListMachines lists them in lifecycle order). Edges back in that
// order (retries, reverts, reviews that return) are drawn but do not
// place, so that a lifecycle reads left to right.
function ranks(states, edges) {
  const index = new Map(states.map((st, i) => [st, i]));
  const col = new Map(states.map((st) => [st, 0]));
  const forward = edges.filter((e) => index.get(e.to) > index.get(e.from));
  for (const st of states) {
    for (const e of forward) if (e.to === st) col.set(st, Math.max(col.get(st), col.get(e.from) + 1));
  }
  return col;
}

// layout places each state in its column (ranks), and orders each column
// to keep edges short: each state near the mean row of the states before
// it that lead to it (two sweeps).
function layout(states, edges) {
  const col = ranks(states, edges);
  const columns = [];
  for (const st of states) (columns[col.get(st)] ||= []).push(st);
  for (let i = 0; i < columns.length; i++) columns[i] ||= [];
  const rowOf = new Map();
  const number = () => columns.forEach((c) => c.forEach((st, i) => rowOf.set(st, i)));
  number();
  for (let sweep = 0; sweep < 2; sweep++) {
    for (let c = 1; c < columns.length; c++) {
      const centre = (st) => {
        const ins = edges.filter((e) => e.to === st && col.get(e.from) < c).map((e) => rowOf.get(e.from));
        return ins.length ? ins.reduce((a, b) => a + b, 0) / ins.length : rowOf.get(st);
      };
      const keyed = columns[c].map((st) => [centre(st), rowOf.get(st), st]);
      keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      columns[c] = keyed.map((k) => k[2]);
      number();
    }
  }
  const tallest = Math.max(1, ...columns.map((c) => c.length));
  const height = tallest * (NODE_H + ROW_GAP) - ROW_GAP;
  const pos = new Map();
  columns.forEach((c, ci) => {
    const top = PAD + 26 + (height - (c.length * (NODE_H + ROW_GAP) - ROW_GAP)) / 2;
    c.forEach((st, ri) => pos.set(st, { x: PAD + ci * (NODE_W + COL_GAP), y: top + ri * (NODE_H + ROW_GAP), col: ci }));
  });
  return { pos, width: PAD * 2 + columns.length * (NODE_W + COL_GAP) - COL_GAP + SAME_COL_ROOM, height: height + PAD * 2 + 26 + 40 + 14 * columns.length };
}

// lane is the height at which an edge that skips columns crosses them:
// the straight line if no state of those columns is in its way, else the
// nearest gap between their states, so that the edge and its label pass
// between states rather than through one.
function lane(a, b, pos) {
  const y1 = a.y + NODE_H / 2, y2 = b.y + NODE_H / 2;
  const between = [...pos.values()].filter((p) => p.col > a.col && p.col < b.col);
  if (!between.length) return null;
  const clear = (y) => between.every((p) => y < p.y - 6 || y > p.y + NODE_H + 6);
  const want = (y1 + y2) / 2;
  const candidates = [want, y1, y2, ...between.flatMap((p) => [p.y - ROW_GAP / 2, p.y + NODE_H + ROW_GAP / 2])];
  const y = candidates.filter(clear).sort((p, q) => Math.abs(p - want) - Math.abs(q - want))[0] ?? null;
  // A level edge with nothing in its way is drawn as any other.
  return y === y1 && y === y2 ? null : y;
}

function curve(a, b, e, pos) {
  if (e.from === e.to) {
    const x = a.x + NODE_W - 34, y = a.y;
    return `M${x},${y} C${x - 6},${y - 26} ${x + 30},${y - 26} ${x + 24},${y}`;
  }
  if (b.col > a.col) {
    const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
    const y = b.col - a.col > 1 ? lane(a, b, pos) : null;
    if (y !== null) {
      // Down (or up) to the lane in the first gap, along it past the
      // columns skipped, and to the target in the last gap.
      const xa = x1 + COL_GAP, xb = x2 - COL_GAP, h = COL_GAP / 2;
      return `M${x1},${y1} C${x1 + h},${y1} ${xa - h},${y} ${xa},${y} L${xb},${y} C${xb + h},${y} ${x2 - h},${y2} ${x2},${y2}`;
    }
    const dx = Math.max(30, (x2 - x1) / 2);
    return `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
  }
  if (b.col === a.col) {
    const x = a.x + NODE_W, y1 = a.y + NODE_H / 2, y2 = b.y + NODE_H / 2;
    const bulge = Math.min(SAME_COL_ROOM - 14, 26 + Math.abs(y2 - y1) / 4);
    return `M${x},${y1} C${x + bulge},${y1} ${x + bulge},${y2} ${x},${y2}`;
  }
  // Backwards (a revert, or a retry from a failure): under the nodes.
  const x1 = a.x + NODE_W / 2, y1 = a.y + NODE_H, x2 = b.x + NODE_W / 2 + 10, y2 = b.y + NODE_H;
  const drop = 26 + 14 * (a.col - b.col);
  return `M${x1},${y1} C${x1},${Math.max(y1, y2) + drop} ${x2},${Math.max(y1, y2) + drop} ${x2},${y2}`;
}

function labelAt(a, b, e, pos) {
  if (e.from === e.to) return { x: a.x + NODE_W - 22, y: a.y - 24 };
  if (b.col > a.col) {
    const y = b.col - a.col > 1 ? lane(a, b, pos) : null;
    if (y !== null) return { x: (a.x + NODE_W + b.x) / 2, y: y + 4 };
    return { x: (a.x + NODE_W + b.x) / 2, y: (a.y + b.y + NODE_H) / 2 - 6 };
  }
  if (b.col === a.col) return { x: a.x + NODE_W + 30, y: (a.y + b.y + NODE_H) / 2 };
  return { x: (a.x + b.x + NODE_W) / 2, y: Math.max(a.y, b.y) + NODE_H + 24 + 10 * (a.col - b.col) };
}

// draw returns the machine's SVG. mark, if given, is {current, steps}:
// steps are [from, to, event] the order took, in order.
export function draw(machine, mark = {}) {
  const states = machine.states || [];
  const edges = edgesOf(machine);
  const { pos, width, height } = layout(states, edges);
  const id = ++uid;
  const onPath = new Map();
  for (const [from, to, event] of mark.steps || []) {
    const key = from + '\u2192' + to;
    const events = onPath.get(key) || [];
    if (event && !events.includes(event)) events.push(event);
    onPath.set(key, events);
  }
  const visited = new Set((mark.steps || []).flatMap(([f, t]) => [f, t]));
  const name = `${machine.provider} ${kindLabel(machine.kind)} machine`;
  const pathWords = mark.steps?.length ? ['new', ...mark.steps.map((st) => st[1])].join(' → ') : '';
  const desc = [
    `${states.length} states, ${edges.length} transitions.`,
    mark.current ? `Current state: ${mark.current}.` : '',
    pathWords ? `Path taken: ${pathWords}.` : '',
  ].join(' ');
  const arrow = (cls) => s('marker', { id: `arrow-${cls}-${id}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse', class: `arrow ${cls}` },
    s('path', { d: 'M0,0 L10,5 L0,10 z' }));
  const svg = s('svg', {
    class: 'machine', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img',
    'aria-labelledby': `mt-${id} md-${id}`, dataset: { provider: machine.provider, kind: kindLabel(machine.kind) },
  },
  s('title', { id: `mt-${id}` }, name),
  s('desc', { id: `md-${id}` }, desc),
  s('defs', {}, arrow('plain'), arrow('taken')));
  const edgeLayer = s('g', { class: 'edges' });
  const labelLayer = s('g', { class: 'labels' });
  // Edges on the path are drawn last, over the others.
  const ordered = [...edges].sort((a, b) => onPath.has(a.from + '\u2192' + a.to) - onPath.has(b.from + '\u2192' + b.to));
  for (const e of ordered) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    const key = e.from + '\u2192' + e.to;
    const taken = onPath.has(key);
    const cls = ['edge', taken ? 'on-path' : '', e.revert ? 'revert' : '', e.from === e.to ? 'self' : ''].filter(Boolean).join(' ');
    edgeLayer.append(s('path', {
      d: curve(a, b, e, pos), class: cls, 'marker-end': `url(#arrow-${taken ? 'taken' : 'plain'}-${id})`,
      dataset: { from: e.from, to: e.to },
    }, s('title', {}, `${e.from} → ${e.to}: ${e.events.join(', ')}${e.revert ? ' (revert)' : ''}`)));
    if (taken && onPath.get(key).length) {
      const at = labelAt(a, b, e, pos);
      const text = onPath.get(key).join(', ');
      labelLayer.append(s('text', { x: at.x, y: at.y, class: 'edge-label', 'text-anchor': 'middle', dataset: { from: e.from, to: e.to } }, text.length > 30 ? text.slice(0, 29) + '…' : text));
    }
  }
  const nodeLayer = s('g', { class: 'nodes' });
  for (const st of states) {
    const p = pos.get(st);
    const cls = ['node', st === 'new' ? 'start' : '', visited.has(st) ? 'visited' : '', st === mark.current ? 'current' : ''].filter(Boolean).join(' ');
    const outgoing = edges.filter((e) => e.from === st).map((e) => `${e.events.join(', ')} → ${e.to}`);
    nodeLayer.append(s('g', { class: cls, dataset: { state: st } },
      s('title', {}, `${st}${st === mark.current ? ' (current)' : ''}${outgoing.length ? '\n' + outgoing.join('\n') : ''}`),
      s('rect', { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: st === 'new' ? NODE_H / 2 : 6 }),
      s('text', { x: p.x + NODE_W / 2, y: p.y + NODE_H / 2 + 5, 'text-anchor': 'middle' }, st === mark.current ? `● ${st}` : st)));
  }
  svg.append(edgeLayer, nodeLayer, labelLayer);
  return svg;
}

export const kindLabel = (k) => String(k || '').replace(/^KIND_/, '').toLowerCase();

// transitionsTable lists the machine's rows, for reading rather than looking.
export function transitionsTable(machine) {
  return h('table', { class: 'rows' },
    h('caption', {}, `Transitions of the ${machine.provider} ${kindLabel(machine.kind)} machine (${machine.mode} mode)`),
    h('thead', {}, h('tr', {}, ['Event', 'From', 'To', 'Amount effect', 'Note'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, (machine.transitions || []).map((t) => h('tr', {},
      h('td', {}, h('code', {}, t.event)), h('td', {}, (t.from || []).join(', ')), h('td', {}, t.to + (t.revert ? ' (revert)' : '')),
      h('td', {}, t.effect || ''), h('td', {}, t.note || '')))));
}
