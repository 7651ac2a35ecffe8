// imgpipe viewer response (cloudfront-js-2.0, docs/delivery.md). Python twin: imgpipe.delivery.negotiated_by_query
// and imgpipe.delivery.vary_with_accept. Adds `Vary: Accept` when the edge chose the format by Accept
// (`fm` absent or `auto`, and no preset that fixes it): S3 cannot store Vary, so the transformed bucket's
// answers lack it. The rule reads the viewer's query as viewer_request.js does (names and values
// percent-decoded, `+` a space, the last of a repeated name wins, a query it refused never gets here).
import cf from 'cloudfront';

var kvs = cf.kvs();
var STATUSES = [200, 206, 304, 307];

function dec(s) {
  s = s.replace(/\+/g, ' ');
  try { return decodeURIComponent(s.replace(/%(?![0-9a-fA-F]{2})/g, '%25')); } catch (e) { return s; }
}
// Only `fm` and `preset` matter here.
function read(raw) {
  var got = {};
  (raw || '').replace(/^\?/, '').split('&').forEach((piece) => {
    var i = piece.indexOf('='), n = dec(i < 0 ? piece : piece.slice(0, i));
    if (n == 'fm' || n == 'preset') got[n] = dec(i < 0 ? '' : piece.slice(i + 1));
  });
  return got;
}
function rawQuery(r) {
  if (typeof r.rawQueryString == 'function') return r.rawQueryString() || '';
  var q = r.querystring || {}, parts = [];
  for (var n in q) (q[n].multiValue || [q[n]]).forEach((e) => parts.push(e.value === '' ? n : n + '=' + e.value));
  return parts.join('&');
}
async function negotiated(r) {
  var got = read(rawQuery(r)), fm = got.fm;
  if (fm === undefined && got.preset !== undefined) {
    // The stage's presets; when the store cannot be read the defaults apply, and none of them fixes fm.
    var presets = null;
    try {
      // The await stands alone: CloudFront refuses one inside call arguments (JSON.parse(await ...)).
      var doc = await kvs.get('presets');
      presets = JSON.parse(doc);
    } catch (e) { presets = null; }
    if (presets && typeof presets == 'object' && Object.prototype.hasOwnProperty.call(presets, got.preset) &&
        typeof presets[got.preset] == 'string') fm = read(presets[got.preset]).fm;
  }
  return fm === undefined || fm.toLowerCase() == 'auto';
}

async function handler(event) {
  var res = event.response, v = res.headers.vary;
  if (STATUSES.indexOf(res.statusCode) < 0) return res;
  var have = v ? (v.multiValue || [v]).map((e) => e.value).filter((x) => x).join(', ') : '';
  if (/(^|,)\s*(accept|\*)\s*(,|$)/i.test(have)) return res;
  var chosen = await negotiated(event.request);
  if (!chosen) return res;
  res.headers.vary = {value: have ? have + ', Accept' : 'Accept'};
  return res;
}
