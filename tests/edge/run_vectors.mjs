// Runs every case of tests/vectors/delivery.json through the edge function under Node (see harness.mjs) and
// prints a JSON report; exits 1 when a case disagrees. pytest runs this (tests/unit/delivery/test_vectors.py);
// njs_runner.js runs the same scenario under njs.
import { readFileSync } from 'node:fs';
import cases from './cases.mjs';
import { nodeLoader } from './harness.mjs';

const vectors = JSON.parse(readFileSync(new URL('../vectors/delivery.json', import.meta.url), 'utf8'));
const report = await cases.runVectors(vectors, nodeLoader());
console.log(JSON.stringify(report, null, 1));
process.exit(report.failures.length ? 1 : 0);
