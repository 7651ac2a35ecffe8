// imgpipe viewer request (cloudfront-js-2.0); twin: imgpipe.delivery.at_edge; docs/delivery.md.
// An await is a whole right-hand side: CloudFront refuses one in call arguments.
import cf from 'cloudfront';
import crypto from 'crypto';

var kvs = cf.kvs();
var G = 'center centre:center n north:n ne northeast:ne e east:e se southeast:se s south:s sw southwest:sw w west:w nw' +
  ' northwest:nw';

var own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
var fail = (status, code, param, detail) => ({type: 'urn:imgpipe:problem:' + code,
  title: {400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found'}[status], status: status, detail: detail, param: param});
var bad = (p, m) => fail(400, 'bad-parameter', p, m);
var enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.codePointAt(0).toString(16).toUpperCase());
function dec(s, p) {
  try { return decodeURIComponent(s.replace(/%(?![0-9a-fA-F]{2})/g, '%25')); } catch (e) { throw bad(p, 'not UTF-8'); }
}
var whole = (lo, hi) => (t) => { if (!/^[0-9]+$/.test(t) || +t < lo || +t > hi) throw 'whole ' + lo + '-' + hi; return '' + +t; };
// exact bounds in hundredths (4.001 is refused); rounds half up
var decimal = (lo, hi, pl) => (t) => {
  var x = t.split('.'), i = x[0] || '0', f = (x[1] || '') + '0000', a = +i * 100 + +f.slice(0, 2);
  if (!/^([0-9]+(\.[0-9]*)?|\.[0-9]+)$/.test(t) || a < lo || a + /[1-9]/.test(f.slice(2)) > hi) throw 'number ' + lo / 100 + '-' + hi / 100;
  return '' + +((+(i + f.slice(0, pl)) + (f[pl] >= '5')) / 10 ** pl).toFixed(pl);
};
// 'value alias:value ...'
var choice = (words) => {
  var m = {};
  words.split(' ').forEach((w) => { m[w.split(':')[0]] = w.split(':').pop(); });
  return (t) => { if (!own(m, t.toLowerCase())) throw 'allowed value'; return m[t.toLowerCase()]; };
};
var pat = (re) => (t) => { if (!re.test(t)) throw 'allowed value'; return t; };
var list = (read) => (t) => {
  if (t.split(',').length != read.length) throw read.length + ' values';
  return t.split(',').map((v, i) => read[i](v)).join(',');
};
function colour(t) {
  if (!/^([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(t)) throw 'a hex colour';
  var d = t.toLowerCase().replace(/^(.)(.)(.)(.?)$/, '$1$1$2$2$3$3$4$4');
  return d.slice(6) == 'ff' ? d.slice(0, 6) : d;
}
function rot(t) {
  if (!/^-?[0-9]+$/.test(t) || t % 90 || t < -360 || t > 360) throw 'multiple of 90';
  return '' + (t % 360 + 360) % 360;
}
function badKey(k) {
  if (!k || enc(k).replace(/%../g, '.').length > 1024) return 'empty or over 1024 bytes';
  if (/[\x00-\x1f\x7f-\x9f\\]/.test(k)) return 'control char or \\';
  if (k[0] == '/' || k.split('/').some((s) => s == '' || s == '.' || s == '..')) return 'empty, . or .. segment';
}
var N = pat(/^[A-Za-z0-9._-]{1,64}$/), B = choice('1 true:1 yes:1 0 false:0 no:0'), GR = choice(G);
var W = whole(1, 8192), D = decimal(0, 100, 3), O = whole(0, 1e6), E = whole(1, 1e6), F = decimal(0, 10000, 1);
// name: [read, canonical default], model field order
var P = {w: [W], h: [W], dpr: [decimal(100, 400, 2), '1'],
  fit: [choice('inside cover contain fill'), 'inside'], up: [B, '0'], g: [choice('auto ' + G), 'center'],
  fp: [list([D, D])], crop: [list([O, O, E, E])], fm: [choice('auto avif webp jpeg jpg:jpeg png gif'), 'auto'],
  q: [whole(1, 100)], bg: [colour], blur: [F, '0'], sharp: [F, '0'],
  rot: [rot, '0'], flip: [choice('h v hv vh:hv')], gray: [B, '0'], anim: [B, '1'],
  preset: [N], dl: [pat(/^(?!\.)[A-Za-z0-9._-]{1,120}$/)], v: [N], exp: [whole(0, 2 ** 40)],
  s: [pat(/^[A-Za-z0-9_-]{1,128}$/)], mark: [(t) => { if (badKey(t)) throw badKey(t); return t; }],
  markpos: [GR, 'se'], markalpha: [whole(0, 100), '100'], markw: [decimal(1, 100, 3), '0.25'],
  txt: [pat(/^[^\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]+$/)], txtpos: [GR, 'se'], txtsize: [whole(6, 400), '24'],
  txtclr: [colour, 'ffffff']};
var val = (o, n) => own(o, n) ? o[n] : P[n][1];

function split(raw) {
  if (raw.length > 2048) throw bad('query', 'over 2048 characters');
  var given = {};
  raw.split('&').forEach((piece) => {
    if (!piece) return;
    var nv = piece.replace(/\+/g, ' ').split('='), n = dec(nv[0], 'query');
    if (!n || !own(P, n) || own(given, n)) throw bad(n || 'query', n ? 'unknown or repeated' : 'no name');
    given[n] = dec(nv.slice(1).join('='), n);
    if (!given[n]) throw bad(n, 'empty value');
  });
  return given;
}
function values(given, base) {
  var vals = {};
  for (var n in P) {
    if (own(given, n)) {
      try { vals[n] = P[n][0](given[n]); } catch (m) { throw bad(n, 'expected ' + m); }
    } else if (own(base, n)) vals[n] = base[n];
  }
  if (canon(vals).length > 1984) throw bad('query', 'too long');
  return vals;
}
// the canonical query as [name, value]s; variant (the rendition's name) leaves out exp
var pairs = (vals, variant) => Object.keys(vals).sort()
  .filter((n) => n != 'preset' && n != 's' && !(variant && n == 'exp') && vals[n] !== P[n][1])
  .map((n) => [n, n == 'fp' || n == 'crop' ? vals[n] : enc(vals[n])]);
var canon = (vals, variant) => pairs(vals, variant).map((p) => p.join('=')).join('&');
// presets come from the store alone (written on every deploy)
function expand(name, doc) {
  try {
    var presets = JSON.parse(doc);
    if (!own(presets, name) || typeof presets[name] != 'string') throw 0;
    var given = split(presets[name]);
    if (own(given, 'preset') || own(given, 's') || own(given, 'exp')) throw 0;
    return values(given, {});
  } catch (e) { throw bad('preset', 'unknown or invalid preset'); }
}
function srcKey(uri) {
  var e = uri.slice(1), k = dec(e, 'key');
  if (!e || /%(2f|5c)|%(?![0-9a-f]{2})/i.test(e)) throw bad('key', 'empty, %2F, %5C or a bad %');
  if (badKey(k)) throw bad('key', badKey(k));
  // originals only: never a mezzanine, an export or another internal object
  if (!/^(uploads|batches)\//.test(k)) throw fail(404, 'no-source', 'key', 'no image under this key');
  return k;
}
// AVIF > WebP > JPEG/PNG by Accept; alpha and animation judged by the extension
function format(fm, accept, k) {
  if (fm != 'auto') return fm;
  var w = {}, ok = (t) => w['image/' + t] > 0;
  (accept || '').toLowerCase().split(',').forEach((part) => {
    var ps = part.split(';').map((s) => s.trim()), q = 1, m = ps[0];
    for (var i = 1; i < ps.length; i++) {
      var pv = ps[i].split('='), v = pv.slice(1).join('=').trim();
      if (pv[0].trim() != 'q') continue;
      if (!/^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/.test(v)) return;
      q = +v;
    }
    w[m] = q == 0 || w[m] === 0 ? 0 : Math.max(q, w[m] || 0);
  });
  if (/\.gif$/i.test(k)) return ok('webp') ? 'webp' : 'gif';
  return ok('avif') ? 'avif' : ok('webp') ? 'webp' : /\.(a?png|webp|avif|hei[cf]|tiff?|jxl|bmp)$/i.test(k) ? 'png' : 'jpeg';
}
async function kv(name) {
  try { return await kvs.get(name); } catch (e) { return null; }
}

async function handler(event) {
  var r = event.request;
  try {
    var k = srcKey(r.uri), given = split(r.rawQueryString() || ''), base = {}, doc = null;
    if (own(given, 'preset')) {
      doc = await kv('presets');
      base = expand(given.preset, doc);
    }
    var vals = values(given, base), canonical = canon(vals), path = '/' + k.split('/').map(enc).join('/');
    // unsigned: a preset varied only by fm and a dpr of 1, 2 or 3 (delivery.preset_equivalent)
    var free = own(given, 'preset');
    for (var n in P) if (!/^(preset|fm|s)$/.test(n) && val(vals, n) !== val(base, n) && !/^dpr[123]$/.test(n + vals[n])) free = false;
    // fails closed: no readable, known policy requires a signature
    var policy = await kv('signing-policy'), s = vals.s, keys = {}, d = 1;
    if (policy != 'off') {
      if (s == null && (policy != 'presets-unsigned' || !free)) throw fail(403, 'signature-required', 's', 'signature needed');
      if (s != null) {
        doc = await kv('signing-keys');
        try { keys = JSON.parse(doc); } catch (e) { keys = {}; }
        // every key compared in full: the time taken tells nothing
        for (var id in keys) {
          if (!own(keys, id) || !/^[\x21-\x7e]{16,256}$/.test(keys[id])) continue;
          var h = crypto.createHmac('sha256', keys[id]).update(canonical ? path + '?' + canonical : path).digest('base64url');
          for (var i = 0, x = h.length ^ s.length; i < h.length; i++) x |= h.codePointAt(i) ^ s.codePointAt(i % s.length);
          d &= x != 0;
        }
        if (d) throw fail(403, 'signature-invalid', 's', 'wrong signature');
      }
      if (own(vals, 'exp') && Date.now() / 1000 >= +vals.exp) throw fail(403, 'expired', 'exp', 'URL expired');
    }
    r.uri = path + '/' + enc(canon(Object.assign({}, vals, {fm: format(val(vals, 'fm'), (r.headers.accept || {}).value, k)}), 1));
    r.querystring = {};
    pairs(vals).concat([['preset', vals.preset], ['s', s]]).forEach((p) => { if (p[1]) r.querystring[p[0]] = {value: p[1]}; });
    return r;
  } catch (e) {
    if (!e || !e.type) throw e;
    return {statusCode: e.status, statusDescription: e.title, headers: {
      'content-type': {value: 'application/problem+json'},
      'cache-control': {value: e.status == 403 ? 'no-store' : 'public, max-age=60'}},
      body: {encoding: 'text', data: JSON.stringify(e)}};
  }
}
