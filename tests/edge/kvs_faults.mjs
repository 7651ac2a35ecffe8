// The edge function when its KeyValueStore misbehaves: every read failing, or documents that do not
// parse. Prints one JSON object of outcomes; tests/unit/delivery/test_edge_function.py judges them.
import { keyValueStore, loadEdge, outcome, viewerEvent } from './harness.mjs';

const failing = { reads: [], async get(name) { this.reads.push(name); throw new Error('KVS unavailable'); } };
const garbage = keyValueStore({ 'signing-keys': '{not json', presets: '[1, 2]', 'signing-policy': '' });
const now = 1700000000;
const run = async (kvs, uri, query, accept = 'image/webp') =>
  outcome(await loadEdge({ kvs, nowSeconds: now })(viewerEvent({ uri, query, accept })));

const results = {
  failingPreset: await run(failing, '/uploads/a.jpg', 'preset=small'),
  failingSigned: await run(failing, '/uploads/a.jpg', 'w=10&s=' + 'A'.repeat(43)),
  failingReads: failing.reads,
  garbagePreset: await run(garbage, '/uploads/a.jpg', 'preset=small'),
  garbageSigned: await run(garbage, '/uploads/a.jpg', 'w=10&s=' + 'A'.repeat(43)),
  methodHead: outcome(await loadEdge({ kvs: keyValueStore(), nowSeconds: now })(
    viewerEvent({ uri: '/uploads/a.jpg', query: 'preset=thumb', method: 'HEAD' }))),
};
console.log(JSON.stringify(results));
