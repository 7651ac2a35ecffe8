// imgpipe-urls: preset URLs, srcsets and sizes for the browser. No dependencies and no secrets: it only
// writes URLs the edge serves unsigned under the default policy ("presets-unsigned"): a named preset varied
// only over a closed set, any output format (fm) and a dpr of 1, 2 or 3 (or the preset's own), so nobody
// can multiply unsigned renders by inventing values (imgpipe.delivery.preset_equivalent is the rule).
// Anything else (v, dl, another dpr, any look parameter) needs a signature, which only a server holding
// the keys can add (imgpipe.client.ImageUrls in Python): asked for one, this module throws.
//
// URLs come out in the form the Python SDK writes for the same request (tests compare them), so the
// browser cache, CloudFront and the stored rendition all see one spelling.

export const DEFAULT_PRESETS = Object.freeze({
  thumb: 'w=200&h=200&fit=cover&g=auto',
  small: 'w=400',
  medium: 'w=800',
  large: 'w=1600',
  og: 'w=1200&h=630&fit=cover&g=auto',
});
export const FORMATS = Object.freeze(['auto', 'avif', 'webp', 'jpeg', 'png', 'gif']);
/** The dprs a preset URL may carry unsigned (besides the preset's own): the edge's ladder. */
export const DEFAULT_DPRS = Object.freeze([1, 2, 3]);
const UNSIGNED_DPRS = Object.freeze(DEFAULT_DPRS.map(String));
const SIGNED_ONLY = 'an unsigned preset URL may vary only fm and a dpr of 1, 2 or 3 (or the preset\'s own):'
  + ' this URL needs a signature, so build it on a server that holds the signing keys (imgpipe.client.ImageUrls)';

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_KEY_BYTES = 1024;

/** Percent-encode as the edge and Python's quote(safe='') do: only A-Z a-z 0-9 - _ . ~ stay as they are. */
export function encode(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** The URL path of an object key ("uploads/my cat.jpg" → "/uploads/my%20cat.jpg"); throws for a bad key. */
export function keyPath(key) {
  if (typeof key !== 'string' || !key) throw new TypeError('imgpipe: the key is empty');
  if (new TextEncoder().encode(key).length > MAX_KEY_BYTES) throw new RangeError('imgpipe: the key is over 1024 bytes');
  if (/[\u0000-\u001f\u007f-\u009f\\]/.test(key)) throw new TypeError('imgpipe: the key has a control character or a backslash');
  if (/[\ud800-\udfff]/.test(key.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) {
    throw new TypeError('imgpipe: the key is not valid Unicode');
  }
  const segments = key.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new TypeError("imgpipe: the key has an empty, '.' or '..' segment");
  }
  return '/' + segments.map(encode).join('/');
}

/** A dpr from 1 to 4 in canonical text: at most two decimals (rounded half up), no trailing zeros. */
export function dprText(dpr) {
  const text = String(dpr);
  if (!/^([0-9]+(\.[0-9]*)?|\.[0-9]+)$/.test(text)) throw new RangeError(`imgpipe: dpr ${text} is not a number`);
  const [whole, fraction = ''] = text.split('.');
  const hundredths = Number(whole || '0') * 100 + Number((fraction + '00').slice(0, 2));
  const beyond = fraction.slice(2);
  // The bounds apply to the value as written, so 4.001 is refused rather than rounded down to 4.
  if (hundredths < 100 || hundredths > 400 || (hundredths === 400 && /[1-9]/.test(beyond))) {
    throw new RangeError(`imgpipe: dpr must be from 1 to 4, got ${text}`);
  }
  const rounded = hundredths + (beyond[0] >= '5' ? 1 : 0);
  const rest = String(rounded % 100).padStart(2, '0').replace(/0+$/, '');
  return rest ? `${Math.floor(rounded / 100)}.${rest}` : String(Math.floor(rounded / 100));
}

function formatText(fm) {
  const format = String(fm).toLowerCase() === 'jpg' ? 'jpeg' : String(fm).toLowerCase();
  if (!FORMATS.includes(format)) throw new TypeError(`imgpipe: fm must be one of ${FORMATS.join(', ')}, got ${fm}`);
  return format;
}

/** The preset's own value of `name` (dpr or fm) as written in its definition, or undefined. */
function presetValue(query, name) {
  for (const piece of query.split('&')) {
    const at = piece.indexOf('=');
    if (at > 0 && piece.slice(0, at) === name) return decodeURIComponent(piece.slice(at + 1).replace(/\+/g, ' '));
  }
  return undefined;
}

// The unsigned variations of a preset, in name order (dpr, fm). A value is written whenever it differs
// from the preset's own, even when it is the global default (dpr=1 on a preset with dpr=1.5), since the
// edge expands the preset first and an omitted parameter means the preset's value.
function variations(presetQuery, options = {}) {
  for (const name of Object.keys(options)) {
    if (name === 'dpr' || name === 'fm' || options[name] == null) continue;
    const what = name === 'v' || name === 'dl' ? name : `${name} (not a preset URL option)`;
    throw new TypeError(`imgpipe: ${what}: ${SIGNED_ONLY}`);
  }
  const own = presetValue(presetQuery, 'dpr');
  const ownDpr = own == null ? '1' : dprText(own);
  const ownFormat = formatText(presetValue(presetQuery, 'fm') ?? 'auto');
  const pairs = [];
  if (options.dpr != null) {
    const text = dprText(options.dpr);
    if (text !== ownDpr && !UNSIGNED_DPRS.includes(text)) throw new RangeError(`imgpipe: dpr ${text}: ${SIGNED_ONLY}`);
    if (text !== ownDpr) pairs.push(['dpr', text]);
  }
  if (options.fm != null) {
    const format = formatText(options.fm);
    if (format !== ownFormat) pairs.push(['fm', format]);
  }
  return pairs;
}

function presetWidth(presets, name) {
  const query = presets[name];
  for (const piece of query.split('&')) {
    const [key, value] = piece.split('=');
    if (key === 'w' && /^[0-9]+$/.test(value)) return Number(value);
  }
  throw new TypeError(`imgpipe: preset ${name} has no width (w), so it cannot be a width candidate`);
}

/**
 * URL builder for one distribution. `baseUrl` is the distribution's origin ("https://images.example.com")
 * or a path prefix; `presets` must be the stage's presets (name → query), since they are public.
 */
export class ImageUrls {
  constructor(baseUrl, { presets = DEFAULT_PRESETS } = {}) {
    if (typeof baseUrl !== 'string' || !/^(https?:\/\/|\/)/.test(baseUrl)) {
      throw new TypeError('imgpipe: baseUrl must be an http(s) URL or a path');
    }
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.presets = Object.freeze({ ...presets });
  }

  /**
   * The URL of `key` rendered with a named preset: url('uploads/a.jpg', 'thumb', { dpr: 2, fm: 'webp' }).
   * Only `fm` and a `dpr` of 1, 2 or 3 (or the preset's own) are allowed; anything else needs a signature
   * and throws (TypeError; RangeError for a dpr off the ladder).
   */
  url(key, preset, options = {}) {
    if (typeof preset !== 'string' || !NAME.test(preset)) throw new TypeError(`imgpipe: bad preset name ${preset}`);
    if (!Object.prototype.hasOwnProperty.call(this.presets, preset)) {
      throw new TypeError(`imgpipe: unknown preset ${preset}; the presets are ${Object.keys(this.presets).join(', ')}`);
    }
    const pairs = [['preset', preset], ...variations(this.presets[preset], options)];
    const query = pairs.map(([n, v]) => `${n}=${encode(v)}`).join('&');
    return `${this.baseUrl}${keyPath(key)}?${query}`;
  }

  /**
   * Density variants of one preset: "… 1x, …&dpr=2 2x, …&dpr=3 3x" (the engine lowers q as dpr rises).
   * `dprs` must be on the unsigned ladder (DEFAULT_DPRS, or the preset's own dpr); others throw.
   */
  densitySrcset(key, preset, { dprs = DEFAULT_DPRS, ...options } = {}) {
    if ('dpr' in options) throw new TypeError('imgpipe: densitySrcset sets dpr itself');
    return dprs.map((dpr) => `${this.url(key, preset, { ...options, dpr })} ${dprText(dpr)}x`).join(', ');
  }

  /** Width candidates from several presets, narrowest first: "…?preset=small 400w, …?preset=medium 800w". */
  widthSrcset(key, presetNames, options = {}) {
    if ('dpr' in options) throw new TypeError('imgpipe: widthSrcset leaves the choice of density to the browser');
    const names = presetNames ?? Object.keys(this.presets).filter((name) => {
      const query = this.presets[name];
      return /(^|&)w=/.test(query) && !/(^|&)h=/.test(query);
    });
    return names
      .map((name) => [presetWidth(this.presets, name), name])
      .sort((a, b) => a[0] - b[0])
      .map(([width, name]) => `${this.url(key, name, options)} ${width}w`)
      .join(', ');
  }

  sizes(rules, fallback) {
    return sizes(rules, fallback);
  }
}

/**
 * The `sizes` attribute from [condition, length] pairs (or an object) and a fallback length:
 * sizes({ '(min-width: 1024px)': '33vw' }) → "(min-width: 1024px) 33vw, 100vw".
 */
export function sizes(rules = [], fallback = '100vw') {
  const pairs = Array.isArray(rules) ? rules : Object.entries(rules);
  return [...pairs, ['', fallback]]
    .map(([condition, length]) => {
      const c = String(condition).trim();
      const l = String(length).trim();
      if (!l || c.includes(',') || l.includes(',')) {
        throw new TypeError(`imgpipe: a sizes entry needs a length and no comma: ${c} ${l}`);
      }
      if (!c) return l;
      return `${c.startsWith('(') && c.endsWith(')') ? c : `(${c})`} ${l}`;
    })
    .join(', ');
}
