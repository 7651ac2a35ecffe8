// Appended by tests/edge/njs.py to an edge function's own source (its `import cf from 'cloudfront'` pointed at
// cloudfront_stub.js, `cases` imported from cases.mjs, INPUT defined before this text): runs one scenario of
// cases.mjs under njs, the engine family of CloudFront Functions, and prints its report as JSON.
function njsLoad(store, nowSeconds) {
  cf.state.failing = store === 'failing';
  cf.state.entries = store === 'failing' ? {} : store;
  cf.state.reads = [];
  // CloudFront fixes the clock for a function run; so does this.
  Date.now = function () { return nowSeconds * 1000; };
  return { handler: handler, reads: cf.state.reads };
}

async function njsMain() {
  var report = null;
  if (INPUT.scenario === 'vectors') report = await cases.runVectors(INPUT.vectors, njsLoad);
  if (INPUT.scenario === 'response') report = await cases.runResponseCases(INPUT.cases, njsLoad);
  if (INPUT.scenario === 'faults') report = await cases.runStoreFaults(njsLoad);
  console.log(JSON.stringify(report));
}
njsMain().catch(function (error) { console.log(JSON.stringify({ runner_error: String(error && error.stack || error) })); });
