// Runs every case of tests/vectors/delivery.json through the edge function (see harness.mjs) and prints a
// JSON report; exits 1 when a case disagrees. pytest runs this (tests/unit/delivery/test_vectors.py).
import { readFileSync } from 'node:fs';
import { keyValueStore, loadEdge, outcome, viewerEvent } from './harness.mjs';

const vectors = JSON.parse(readFileSync(new URL('../vectors/delivery.json', import.meta.url), 'utf8'));

/** The KeyValueStore entries a case runs against (the defaults: the active keys, no policy, no presets). */
export function storeEntries(vectorSet, edge = {}) {
  const entries = {};
  const ids = edge.keys ?? vectorSet.active_keys;
  entries['signing-keys'] = JSON.stringify(Object.fromEntries(ids.map((id) => [id, vectorSet.keys[id]])));
  if (edge.policy !== undefined) entries['signing-policy'] = edge.policy;
  if (edge.presets !== undefined) entries.presets = JSON.stringify(edge.presets);
  return entries;
}

const FIELDS_OK = ['status', 'uri', 'query', 'key'];
const FIELDS_REFUSED = ['status', 'code', 'param'];
const failures = [];
for (const entry of vectors.cases) {
  const handler = loadEdge({
    kvs: keyValueStore(storeEntries(vectors, entry.edge)),
    nowSeconds: entry.now ?? vectors.now,
  });
  let got;
  try {
    got = outcome(await handler(viewerEvent(entry.request)));
  } catch (error) {
    failures.push({ name: entry.name, error: String(error && error.stack || error) });
    continue;
  }
  const fields = entry.expect.status === 200 ? FIELDS_OK : FIELDS_REFUSED;
  const wrong = fields.filter((field) => got[field] !== entry.expect[field]);
  if (wrong.length) {
    failures.push({
      name: entry.name,
      expected: Object.fromEntries(wrong.map((f) => [f, entry.expect[f]])),
      got: Object.fromEntries(wrong.map((f) => [f, got[f]])),
    });
  }
}
console.log(JSON.stringify({ cases: vectors.cases.length, failures }, null, 1));
process.exit(failures.length ? 1 : 0);
