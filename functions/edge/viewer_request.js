// imgpipe viewer request (cloudfront-js-2.0, <= 10 KB). Python twin: imgpipe.delivery.at_edge.
import cf from 'cloudfront';
import crypto from 'crypto';

var kvs = cf.kvs();
var PRESETS = {thumb: 'w=200&h=200&fit=cover&g=auto', small: 'w=400', medium: 'w=800', large: 'w=1600',
  og: 'w=1200&h=630&fit=cover&g=auto'};
var COMPANIONS = ['preset', 'fm', 'dpr', 'v', 'dl', 'exp', 's'];
var ALPHA = /\.(png|apng|webp|avif|heic|heif|tif|tiff|jxl|bmp)$/i;
var NAME = /^[A-Za-z0-9._-]{1,64}$/;
var G = {center: 'center', centre: 'center'};
'n north ne northeast e east se southeast s south sw southwest w west nw northwest'.split(' ')
  .forEach((x, i, a) => { G[x] = a[i - i % 2]; });

var own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
var fail = (st, code, p, m) => ({st: st, code: code, p: p, m: m});
var bad = (p, m) => fail(400, 'bad-parameter', p, m);
var enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
function dec(s, p) {
  try { return decodeURIComponent(s.replace(/%(?![0-9a-fA-F]{2})/g, '%25')); } catch (e) { throw bad(p, 'not UTF-8'); }
}
var whole = (lo, hi) => (t) => {
  if (!/^[0-9]+$/.test(t) || +t < lo || +t > hi) throw 'whole ' + lo + '-' + hi;
  return '' + +t;
};
// Bounds in hundredths, exact (4.001 is refused, not rounded); rounds half up.
var decimal = (lo, hi, pl) => (t) => {
  var x = t.split('.'), f = (x[1] || '') + '0000', a = +(x[0] || '0') * 100 + +f.slice(0, 2);
  if (!/^([0-9]+(\.[0-9]*)?|\.[0-9]+)$/.test(t) || a < lo || a + /[1-9]/.test(f.slice(2)) > hi) {
    throw 'number ' + lo / 100 + '-' + hi / 100;
  }
  var d = Math.pow(10, pl), n = +((x[0] || '0') + f.slice(0, pl)) + (f[pl] >= '5');
  var r = ('' + (n % d + d)).slice(1).replace(/0+$/, '');
  return Math.floor(n / d) + (r ? '.' + r : '');
};
var choice = (m) => (t) => {
  var v = t.toLowerCase();
  if (!own(m, v)) throw 'allowed value';
  return m[v];
};
var pat = (re) => (t) => { if (!re.test(t)) throw 'allowed value'; return t; };
var list = (read) => (t) => {
  var p = t.split(',');
  if (p.length != read.length) throw read.length + ' values';
  return p.map((v, i) => read[i](v)).join(',');
};
function colour(t) {
  if (!/^([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(t)) throw 'a hex colour';
  var d = t.toLowerCase();
  if (d.length < 5) d = d.replace(/./g, '$&$&');
  return d.slice(6) == 'ff' ? d.slice(0, 6) : d;
}
function rot(t) {
  var n = +t;
  if (!/^-?[0-9]+$/.test(t) || n % 90 || n < -360 || n > 360) throw 'multiple of 90';
  return '' + (n % 360 + 360) % 360;
}
function badKey(k) {
  if (!k) return 'empty key';
  if (enc(k).replace(/%../g, '.').length > 1024) return 'key over 1024 bytes';
  if (/[\x00-\x1f\x7f-\x9f\\]/.test(k)) return 'control char or \\';
  if (k[0] == '/' || k.split('/').some((s) => s == '' || s == '.' || s == '..')) return 'empty, . or .. segment';
}
var key = (t) => { var m = badKey(t); if (m) throw m; return t; };
var B = choice({'1': '1', 'true': '1', yes: '1', '0': '0', 'false': '0', no: '0'}), GR = choice(G);
var D = decimal(0, 100, 3), O = whole(0, 1e6), E = whole(1, 1e6);
// name: [read, canonical default] in the model's field order. The Lambda checks txt fully.
var P = {w: [whole(1, 8192)], h: [whole(1, 8192)], dpr: [decimal(100, 400, 2), '1'],
  fit: [choice({inside: 'inside', cover: 'cover', contain: 'contain', fill: 'fill'}), 'inside'],
  up: [B, '0'], g: [(t) => t.toLowerCase() == 'auto' ? 'auto' : GR(t), 'center'], fp: [list([D, D])],
  crop: [list([O, O, E, E])],
  fm: [choice({auto: 'auto', avif: 'avif', webp: 'webp', jpeg: 'jpeg', jpg: 'jpeg', png: 'png', gif: 'gif'}), 'auto'],
  q: [whole(1, 100)], bg: [colour], blur: [decimal(0, 10000, 1), '0'], sharp: [decimal(0, 10000, 1), '0'],
  rot: [rot, '0'], flip: [choice({h: 'h', v: 'v', hv: 'hv', vh: 'hv'})], gray: [B, '0'], anim: [B, '1'],
  preset: [pat(NAME)], dl: [pat(/^(?!\.)[A-Za-z0-9._-]{1,120}$/)], v: [pat(NAME)], exp: [whole(0, 2 ** 40)],
  s: [pat(/^[A-Za-z0-9_-]{1,128}$/)], mark: [key], markpos: [GR, 'se'], markalpha: [whole(0, 100), '100'],
  markw: [decimal(1, 100, 3), '0.25'], txt: [pat(/^[^\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]+$/)],
  txtpos: [GR, 'se'], txtsize: [whole(6, 400), '24'], txtclr: [colour, 'ffffff']};

function split(raw) {
  if (raw.length > 2048) throw bad('query', 'over 2048 characters');
  var given = {};
  raw.split('&').forEach((piece) => {
    if (!piece) return;
    var i = piece.indexOf('='), n = dec((i < 0 ? piece : piece.slice(0, i)).replace(/\+/g, ' '), 'query');
    if (!n) throw bad('query', 'no name');
    if (!own(P, n)) throw bad(n, 'unknown parameter');
    if (own(given, n)) throw bad(n, 'duplicate');
    var v = dec((i < 0 ? '' : piece.slice(i + 1)).replace(/\+/g, ' '), n);
    if (!v) throw bad(n, 'empty value');
    given[n] = v;
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
  if (canon(vals, false).length > 1984) throw bad('query', 'too long');
  return vals;
}
var canon = (vals, variant) => Object.keys(vals).sort()
  .filter((n) => n != 'preset' && n != 's' && !(variant && n == 'exp') && vals[n] !== P[n][1])
  .map((n) => n + '=' + (n == 'fp' || n == 'crop' ? vals[n] : enc(vals[n]))).join('&');
function expand(name, presets) {
  if (!NAME.test(name)) throw bad('preset', 'bad name');
  if (!own(presets, name) || typeof presets[name] != 'string') throw bad('preset', 'unknown preset');
  try {
    var given = split(presets[name]);
    if (own(given, 'preset') || own(given, 's') || own(given, 'exp')) throw 0;
    return values(given, {});
  } catch (e) { throw bad('preset', 'invalid preset'); }
}
function srcKey(uri) {
  var e = uri.slice(uri[0] == '/' ? 1 : 0);
  if (!e) throw bad('key', 'no image');
  if (/%(2f|5c)|%(?![0-9a-f]{2})/i.test(e)) throw bad('key', 'encoded separator or bad escape');
  var k = dec(e, 'key'), m = badKey(k);
  if (m) throw bad('key', m);
  return k;
}
// fm=auto: AVIF > WebP > JPEG/PNG by Accept; alpha and animation guessed from the extension.
function format(fm, accept, k) {
  if (fm != 'auto') return fm;
  var w = {}, ok = (t) => w['image/' + t] > 0;
  (accept || '').toLowerCase().split(',').forEach((part) => {
    var ps = part.split(';').map((s) => s.trim()), q = 1, m = ps[0];
    if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+*-]+$/.test(m)) return;
    for (var i = 1; i < ps.length; i++) {
      var kv = ps[i].split('='), v = kv.slice(1).join('=').trim();
      if (kv[0].trim() != 'q') continue;
      if (!/^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/.test(v)) return;
      q = +v;
    }
    w[m] = q == 0 || w[m] === 0 ? 0 : Math.max(q, w[m] || 0);
  });
  if (/\.gif$/i.test(k)) return ok('webp') ? 'webp' : 'gif';
  return ok('avif') ? 'avif' : ok('webp') ? 'webp' : ALPHA.test(k) ? 'png' : 'jpeg';
}
var sign = (msg, secret) => crypto.createHmac('sha256', secret).update(msg).digest('base64')
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
function same(a, b) {
  var d = a.length ^ b.length;
  for (var i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i % b.length);
  return d === 0;
}
async function kv(name) {
  try { return await kvs.get(name); } catch (e) { return null; }
}
async function authorize(path, canonical, vals, presetOnly, now) {
  var policy = await kv('signing-policy') || 'presets-unsigned', s = vals.s, match = false;
  var expired = own(vals, 'exp') && now >= +vals.exp;
  if (policy == 'off') return;
  if (s == null) {
    if (policy != 'presets-unsigned' || !presetOnly) throw fail(403, 'signature-required', 's', 'a signature is required');
  } else {
    var keys, msg = canonical ? path + '?' + canonical : path;
    try { keys = JSON.parse(await kv('signing-keys')) || {}; } catch (e) { keys = {}; }
    // Every key is tried: the time taken does not tell which one signed.
    for (var id in keys) {
      if (own(keys, id) && /^[\x21-\x7e]{16,256}$/.test(keys[id]) && same(sign(msg, keys[id]), s)) match = true;
    }
    if (!match || !/^[A-Za-z0-9_-]{43}$/.test(s)) throw fail(403, 'signature-invalid', 's', 'wrong signature');
  }
  if (expired) throw fail(403, 'expired', 'exp', 'URL expired');
}

async function handler(event) {
  var r = event.request;
  try {
    var k = srcKey(r.uri), given = split((r.rawQueryString() || '').replace(/^\?/, '')), base = {};
    if (own(given, 'preset')) {
      var presets;
      try { presets = JSON.parse(await kv('presets')) || PRESETS; } catch (e) { presets = PRESETS; }
      base = expand(given.preset, presets);
    }
    var vals = values(given, base), canonical = canon(vals, false), path = '/' + k.split('/').map(enc).join('/');
    var presetOnly = own(given, 'preset') && Object.keys(given).every((n) => COMPANIONS.indexOf(n) >= 0);
    await authorize(path, canonical, vals, presetOnly, Date.now() / 1000);
    var rendition = {}, qs = {};
    for (var n in vals) rendition[n] = vals[n];
    rendition.fm = format(vals.fm || 'auto', r.headers.accept && r.headers.accept.value, k);
    r.uri = path + '/' + enc(canon(rendition, true));
    (canonical ? canonical.split('&') : []).forEach((pair) => {
      var i = pair.indexOf('=');
      qs[pair.slice(0, i)] = {value: pair.slice(i + 1)};
    });
    if (vals.preset) qs.preset = {value: vals.preset};
    if (vals.s) qs.s = {value: vals.s};
    r.querystring = qs;
    return r;
  } catch (e) {
    if (!e || !e.st) throw e;
    var doc = {type: 'urn:imgpipe:problem:' + e.code, title: e.st == 400 ? 'Bad Request' : 'Forbidden', status: e.st,
      detail: e.m, param: e.p};
    return {statusCode: e.st, statusDescription: doc.title, headers: {
      'content-type': {value: 'application/problem+json'},
      'cache-control': {value: e.st == 400 ? 'public, max-age=60' : 'no-store'}},
      body: {encoding: 'text', data: JSON.stringify(doc)}};
  }
}
