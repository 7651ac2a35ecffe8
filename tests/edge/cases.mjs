// What the edge tests run, independent of the engine: the events CloudFront builds, the outcomes in the
// vectors' terms, and the three scenarios (the shared vectors, the viewer-response cases, a failing or
// garbled KeyValueStore). Node (harness.mjs) and njs (njs_runner.js) load the function each their own way
// and pass `load(store, nowSeconds)`, which returns {handler, reads}: `store` is the KeyValueStore's
// entries, or 'failing' for a store whose every read fails. Written in the subset both engines accept.

var own = function (o, k) { return Object.prototype.hasOwnProperty.call(o, k); };

/** A viewer-request event as CloudFront builds it (query values as sent, header names lower-case). */
function viewerEvent(spec) {
  var query = spec.query === undefined ? null : spec.query;
  var querystring = {};
  (query || '').split('&').forEach(function (piece) {
    if (!piece) return;
    var i = piece.indexOf('='), name = i < 0 ? piece : piece.slice(0, i), value = i < 0 ? '' : piece.slice(i + 1);
    if (own(querystring, name)) {
      var entry = querystring[name];
      entry.multiValue = entry.multiValue || [{ value: entry.value }];
      entry.multiValue.push({ value: value });
    } else {
      querystring[name] = { value: value };
    }
  });
  var headers = { host: { value: 'images.example.com' } };
  if (spec.accept !== undefined && spec.accept !== null) headers.accept = { value: spec.accept };
  return {
    version: '1.0',
    context: { eventType: 'viewer-request', distributionId: 'EDFDVBD6EXAMPLE', requestId: 'test' },
    viewer: { ip: '198.51.100.7' },
    request: {
      method: spec.method || 'GET',
      uri: spec.uri,
      querystring: querystring,
      headers: headers,
      cookies: {},
      // CloudFront: the query as received, without "?"; undefined when the URL has no "?".
      rawQueryString: function () { return query === null ? undefined : query; },
    },
  };
}

/** A viewer-response event: the viewer's request (as viewerEvent builds it) and the answer to it. */
function viewerResponseEvent(spec) {
  var event = viewerEvent(spec), answer = {};
  event.context.eventType = 'viewer-response';
  Object.keys(spec.headers || {}).forEach(function (name) {
    var value = spec.headers[name];
    answer[name] = Array.isArray(value)
      ? { value: value[0], multiValue: value.map(function (v) { return { value: v }; }) }
      : { value: value };
  });
  event.response = { statusCode: spec.status || 200, statusDescription: '', headers: answer, cookies: {} };
  return event;
}

/** What the function decided, in the vectors' terms. */
function outcome(result) {
  if (result && typeof result.statusCode === 'number') {
    var body = JSON.parse(result.body.data), headers = {};
    Object.keys(result.headers).forEach(function (k) { headers[k] = result.headers[k].value; });
    return {
      status: result.statusCode,
      code: body.type.replace('urn:imgpipe:problem:', ''),
      param: body.param,
      headers: headers,
      body: body,
    };
  }
  var query = Object.keys(result.querystring).map(function (name) {
    return name + '=' + result.querystring[name].value;
  }).join('&');
  return { status: 200, uri: result.uri, query: query, key: decodeURIComponent(result.uri.slice(1)) };
}

/** The KeyValueStore entries a vector runs against: the vector's `edge` settings over the file's defaults
 * (the active keys, its policy and presets, as every deploy writes them); a null setting leaves its key out. */
function storeEntries(vectors, edge) {
  edge = edge || {};
  var entries = {}, keys = {}, ids = edge.keys === undefined ? vectors.active_keys : edge.keys;
  var policy = edge.policy === undefined ? vectors.policy : edge.policy;
  var presets = edge.presets === undefined ? vectors.presets : edge.presets;
  ids.forEach(function (id) { keys[id] = vectors.keys[id]; });
  entries['signing-keys'] = JSON.stringify(keys);
  if (policy !== null) entries['signing-policy'] = policy;
  if (presets !== null) entries.presets = JSON.stringify(presets);
  return entries;
}

function failure(error) { return String(error && error.stack || error); }

/** Every vector through the viewer-request function: {cases, failures}. */
async function runVectors(vectors, load) {
  var failures = [];
  for (var n = 0; n < vectors.cases.length; n++) {
    var entry = vectors.cases[n], got = null;
    var loaded = load(storeEntries(vectors, entry.edge), entry.now === undefined ? vectors.now : entry.now);
    try {
      var result = await loaded.handler(viewerEvent(entry.request));
      got = outcome(result);
    } catch (error) {
      failures.push({ name: entry.name, error: failure(error) });
      continue;
    }
    var fields = entry.expect.status === 200 ? ['status', 'uri', 'query', 'key'] : ['status', 'code', 'param'];
    var wrong = fields.filter(function (f) { return got[f] !== entry.expect[f]; });
    if (wrong.length) {
      var expected = {}, seen = {};
      wrong.forEach(function (f) { expected[f] = entry.expect[f]; seen[f] = got[f]; });
      failures.push({ name: entry.name, expected: expected, got: seen });
    }
  }
  return { cases: vectors.cases.length, failures: failures };
}

/** The viewer-response function over `cases` (tests/unit/delivery/test_viewer_response.py writes them):
 * {name, request: {uri, query, accept}, presets (the store's document; absent: no such key), store ("ok" or
 * "failing"), status, headers: {name: value or [values]}}; reports the Vary each answer goes out with. */
async function runResponseCases(cases, load) {
  var results = [];
  for (var n = 0; n < cases.length; n++) {
    var entry = cases[n];
    var store = entry.store === 'failing' ? 'failing' : entry.presets === undefined ? {} : { presets: JSON.stringify(entry.presets) };
    var loaded = load(store, 1700000000);
    var spec = { uri: entry.request.uri, query: entry.request.query, accept: entry.request.accept, status: entry.status, headers: entry.headers };
    try {
      var response = await loaded.handler(viewerResponseEvent(spec));
      var vary = response.headers.vary;
      results.push({
        name: entry.name,
        status: response.statusCode,
        vary: vary ? (vary.multiValue || [vary]).map(function (e) { return e.value; }).join(', ') : null,
        reads: loaded.reads.slice(),
      });
    } catch (error) {
      results.push({ name: entry.name, error: failure(error) });
    }
  }
  return { results: results };
}

/** The viewer-request function when its store misbehaves: every read failing, or documents that do not
 * parse (tests/unit/delivery/test_edge_function.py judges the outcomes). */
async function runStoreFaults(load) {
  var now = 1700000000, signed = 'w=10&s=' + 'A'.repeat(43), presets = JSON.stringify({ small: 'w=400', thumb: 'w=200&h=200&fit=cover&g=auto' });
  var garbage = { 'signing-keys': '{not json', presets: '[1, 2]', 'signing-policy': '' };
  var run = async function (store, uri, query, method) {
    var loaded = load(store, now);
    var result = await loaded.handler(viewerEvent({ uri: uri, query: query, accept: 'image/webp', method: method }));
    var got = outcome(result);
    got.reads = loaded.reads.slice();
    return got;
  };
  return {
    failingPreset: await run('failing', '/uploads/a.jpg', 'preset=small'),
    failingSigned: await run('failing', '/uploads/a.jpg', signed),
    failingUnsigned: await run('failing', '/uploads/a.jpg', 'w=10'),
    noPolicyPreset: await run({ 'signing-keys': '{}', presets: presets }, '/uploads/a.jpg', 'preset=small'),
    emptyPolicyPreset: await run({ 'signing-policy': '', presets: presets }, '/uploads/a.jpg', 'preset=small'),
    unknownPolicyPreset: await run({ 'signing-policy': 'Presets-Unsigned', presets: presets }, '/uploads/a.jpg', 'preset=small'),
    unsignedPolicyPreset: await run({ 'signing-policy': 'presets-unsigned', presets: presets }, '/uploads/a.jpg', 'preset=small'),
    garbagePreset: await run(garbage, '/uploads/a.jpg', 'preset=small'),
    garbageSigned: await run(garbage, '/uploads/a.jpg', signed),
    methodHead: await run({ 'signing-policy': 'presets-unsigned', presets: presets }, '/uploads/a.jpg', 'preset=thumb', 'HEAD'),
  };
}

export default {
  viewerEvent: viewerEvent,
  viewerResponseEvent: viewerResponseEvent,
  outcome: outcome,
  storeEntries: storeEntries,
  runVectors: runVectors,
  runResponseCases: runResponseCases,
  runStoreFaults: runStoreFaults,
};
