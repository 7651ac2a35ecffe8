// Runs functions/edge/viewer_request.js (or viewer_response.js) under Node exactly as deployed, with CloudFront's `cloudfront` and
// `crypto` modules injected and the clock fixed. The file on disk is not changed: its two `import` lines
// become bindings to the injected modules (same line numbers), and any other module syntax is refused.
import { readFileSync } from 'node:fs';
import nodeCrypto from 'node:crypto';
import vm from 'node:vm';

export const SOURCE = new URL('../../functions/edge/viewer_request.js', import.meta.url);
export const RESPONSE_SOURCE = new URL('../../functions/edge/viewer_response.js', import.meta.url);
export const MAX_BYTES = 10 * 1024;

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

/** A viewer-request event as CloudFront builds it (query values as sent, header names lower-case). */
export function viewerEvent({ uri, query = null, accept = null, method = 'GET' }) {
  const querystring = {};
  for (const piece of (query || '').split('&')) {
    if (!piece) continue;
    const [name, ...rest] = piece.split('=');
    const value = rest.join('=');
    if (querystring[name]) {
      const entry = querystring[name];
      entry.multiValue = entry.multiValue || [{ value: entry.value }];
      entry.multiValue.push({ value });
    } else {
      querystring[name] = { value };
    }
  }
  const headers = { host: { value: 'images.example.com' } };
  if (accept !== null) headers.accept = { value: accept };
  return {
    version: '1.0',
    context: { eventType: 'viewer-request', distributionId: 'EDFDVBD6EXAMPLE', requestId: 'test' },
    viewer: { ip: '198.51.100.7' },
    request: {
      method,
      uri,
      querystring,
      headers,
      cookies: {},
      // CloudFront: the query as received, without "?"; undefined when the URL has no "?".
      rawQueryString: () => (query === null ? undefined : query),
    },
  };
}

/** A viewer-response event: the viewer's request (as viewerEvent builds it) and the answer to it. */
export function viewerResponseEvent({ uri, query = null, accept = null, status = 200, headers = {} }) {
  const event = viewerEvent({ uri, query, accept });
  event.context.eventType = 'viewer-response';
  const answer = {};
  for (const [name, value] of Object.entries(headers)) {
    answer[name] = Array.isArray(value)
      ? { value: value[0], multiValue: value.map((v) => ({ value: v })) }
      : { value };
  }
  event.response = { statusCode: status, statusDescription: '', headers: answer, cookies: {} };
  return event;
}

/** What the function decided, in the vectors' terms. */
export function outcome(result) {
  if (result && typeof result.statusCode === 'number') {
    const body = JSON.parse(result.body.data);
    return {
      status: result.statusCode,
      code: body.type.replace('urn:imgpipe:problem:', ''),
      param: body.param,
      headers: Object.fromEntries(Object.entries(result.headers).map(([k, v]) => [k, v.value])),
      body,
    };
  }
  const query = Object.entries(result.querystring).map(([name, entry]) => `${name}=${entry.value}`).join('&');
  return { status: 200, uri: result.uri, query, key: decodeURIComponent(result.uri.slice(1)) };
}
