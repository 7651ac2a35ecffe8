// Runs functions/edge/viewer_response.js under Node (see harness.mjs) over the cases in the JSON file named by
// the first argument (cases.mjs, runResponseCases) and prints a JSON report of the Vary each answer goes out
// with. tests/unit/delivery/test_viewer_response.py writes the cases and judges the report.
import { readFileSync } from 'node:fs';
import cases from './cases.mjs';
import { RESPONSE_SOURCE, nodeLoader } from './harness.mjs';

const entries = JSON.parse(readFileSync(process.argv[2], 'utf8'));
console.log(JSON.stringify(await cases.runResponseCases(entries, nodeLoader(RESPONSE_SOURCE))));
