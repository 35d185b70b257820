// The machines, fetched once per page load: every page uses them for its
// provider and state choices, and the story and machines pages draw them.

import { get } from './api.js';

let cached = null;

export function machines() {
  cached ||= get('/v1/machines').then((r) => r.machines || []).catch((e) => { cached = null; throw e; });
  return cached;
}

export async function providers() {
  return [...new Set((await machines()).map((m) => m.provider))].sort();
}

export async function states() {
  return [...new Set((await machines()).flatMap((m) => m.states || []))].filter((s) => s !== 'new').sort();
}
