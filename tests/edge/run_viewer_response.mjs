// Runs functions/edge/viewer_response.js (see harness.mjs) over the cases in the JSON file named by the
// first argument and prints a JSON report of the Vary each answer goes out with.
// tests/unit/delivery/test_viewer_response.py writes the cases and judges the report against the Python twin.
// A case: {name, request: {uri, query, accept}, presets (the store's document; absent: no such key),
// store ("ok" or "failing"), status, headers: {name: value or [values]}}.
import { readFileSync } from 'node:fs';
import { RESPONSE_SOURCE, keyValueStore, loadEdge, viewerResponseEvent } from './harness.mjs';

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const failing = { reads: [], async get(name) { this.reads.push(name); throw new Error('KVS unavailable'); } };
const results = [];
for (const entry of cases) {
  const entries = entry.presets === undefined ? {} : { presets: JSON.stringify(entry.presets) };
  const kvs = entry.store === 'failing' ? failing : keyValueStore(entries);
  const handler = loadEdge({ kvs, source: RESPONSE_SOURCE });
  const before = kvs.reads.length;
  try {
    const response = await handler(viewerResponseEvent({ ...entry.request, status: entry.status, headers: entry.headers }));
    const vary = response.headers.vary;
    results.push({
      name: entry.name,
      status: response.statusCode,
      vary: vary ? (vary.multiValue || [vary]).map((e) => e.value).join(', ') : null,
      reads: kvs.reads.slice(before),
    });
  } catch (error) {
    results.push({ name: entry.name, error: String(error && error.stack || error) });
  }
}
console.log(JSON.stringify({ results }));
