// Runs functions/edge/viewer_request.js (or viewer_response.js) under Node exactly as deployed, with CloudFront's `cloudfront` and
// `crypto` modules injected and the clock fixed. The file on disk is not changed: its two `import` lines
// become bindings to the injected modules (same line numbers), and any other module syntax is refused.
// Node's vm accepts what cloudfront-js-2.0 refuses (await inside call arguments, for one): the strict
// checks are the same scenarios under njs (njs.py, njs_runner.js) and the allow-list (check_runtime.mjs).
import { readFileSync } from 'node:fs';
import nodeCrypto from 'node:crypto';
import vm from 'node:vm';
import cases from './cases.mjs';

export const SOURCE = new URL('../../functions/edge/viewer_request.js', import.meta.url);
export const RESPONSE_SOURCE = new URL('../../functions/edge/viewer_response.js', import.meta.url);

/** A KeyValueStore stub: `get` rejects for a missing key, as CloudFront's does. */
export function keyValueStore(entries = {}) {
  const reads = [];
  return {
    reads,
    async get(name) {
      reads.push(name);
      if (!Object.prototype.hasOwnProperty.call(entries, name)) throw new Error(`KeyNotFound: ${name}`);
      return entries[name];
    },
  };
}

/** Load the function (`source`, the viewer-request one by default) with `kvs` as its KeyValueStore and
 * `nowSeconds` as the time; returns `handler`. */
export function loadEdge({ kvs = keyValueStore(), nowSeconds = Date.now() / 1000, source = SOURCE } = {}) {
  const modules = {
    cloudfront: { kvs: () => kvs },
    // CloudFront's crypto module offers createHash and createHmac.
    crypto: { createHmac: (...a) => nodeCrypto.createHmac(...a), createHash: (...a) => nodeCrypto.createHash(...a) },
  };
  const text = readFileSync(source, 'utf8');
  const script = text.replace(/^import (\w+) from '([\w-]+)';$/gm, (_, name, module) => {
    if (!(module in modules)) throw new Error(`the edge function imports an unknown module: ${module}`);
    return `var ${name} = __modules[${JSON.stringify(module)}];`;
  });
  if (/^\s*(import|export)\b/m.test(script)) throw new Error('the edge function has module syntax the harness cannot load');
  const context = vm.createContext({ __modules: modules, Date: { now: () => nowSeconds * 1000 } });
  vm.runInContext(script, context, { filename: source.pathname.split('/').pop() });
  if (typeof context.handler !== 'function') throw new Error('the edge function defines no handler');
  return context.handler;
}

export const { viewerEvent, viewerResponseEvent, outcome, storeEntries } = cases;

/** `load` for the scenarios in cases.mjs: the function under Node with `store` as its KeyValueStore. */
export function nodeLoader(source = SOURCE) {
  return (store, nowSeconds) => {
    const kvs = store === 'failing' ? failingStore() : keyValueStore(store);
    return { handler: loadEdge({ kvs, nowSeconds, source }), reads: kvs.reads };
  };
}

/** A KeyValueStore whose every read fails. */
export function failingStore() {
  return { reads: [], async get(name) { this.reads.push(name); throw new Error('KVS unavailable'); } };
}
