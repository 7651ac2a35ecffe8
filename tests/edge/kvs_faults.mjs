// The edge function under Node when its KeyValueStore misbehaves (cases.mjs, runStoreFaults): prints one JSON
// object of outcomes; tests/unit/delivery/test_edge_function.py judges them (and the same under njs).
import cases from './cases.mjs';
import { nodeLoader } from './harness.mjs';

console.log(JSON.stringify(await cases.runStoreFaults(nodeLoader())));
