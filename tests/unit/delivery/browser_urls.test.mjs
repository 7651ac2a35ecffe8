// Node tests of the browser module functions/imgpipe/browser/imgpipe-urls.mjs (node --test; pytest runs
// them through test_browser_module.py).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import {
  DEFAULT_DPRS, DEFAULT_PRESETS, ImageUrls, dprText, encode, keyPath, sizes,
} from '../../../functions/imgpipe/browser/imgpipe-urls.mjs';

const MODULE = new URL('../../../functions/imgpipe/browser/imgpipe-urls.mjs', import.meta.url);
const TYPES = new URL('../../../functions/imgpipe/browser/imgpipe-urls.d.ts', import.meta.url);
const BASE = 'https://images.example.com';
const urls = new ImageUrls(`${BASE}/`);

test('a preset URL is the preset alone, on the encoded key', () => {
  assert.equal(urls.url('uploads/acme/cat.jpg', 'thumb'), `${BASE}/uploads/acme/cat.jpg?preset=thumb`);
  assert.equal(
    urls.url('uploads/café/my cat (1).jpg', 'small'),
    `${BASE}/uploads/caf%C3%A9/my%20cat%20%281%29.jpg?preset=small`,
  );
});

test('fm and a ladder dpr are normalised and sorted after the preset: dpr, fm', () => {
  assert.equal(
    urls.url('uploads/a.jpg', 'small', { fm: 'JPG', dpr: '2.0' }),
    `${BASE}/uploads/a.jpg?preset=small&dpr=2&fm=jpeg`,
  );
  assert.equal(urls.url('uploads/a.jpg', 'small', { dpr: 3, fm: 'avif' }), `${BASE}/uploads/a.jpg?preset=small&dpr=3&fm=avif`);
  assert.equal(urls.url('uploads/a.jpg', 'small', { dpr: 1, fm: 'auto' }), `${BASE}/uploads/a.jpg?preset=small`);
  assert.equal(urls.url('uploads/a.jpg', 'small', { v: null, dl: undefined }), `${BASE}/uploads/a.jpg?preset=small`);
});

test('v, dl, other parameters and off-ladder dprs need a signature, so they throw', () => {
  const signature = /needs a signature, so build it on a server that holds the signing keys/;
  for (const options of [{ v: 7 }, { dl: 'a.jpg' }, { fm: 'webp', v: 'x' }, { w: 300 }, { exp: 1 }]) {
    assert.throws(() => urls.url('uploads/a.jpg', 'small', options), (error) => {
      assert.ok(error instanceof TypeError, JSON.stringify(options));
      assert.match(error.message, signature);
      assert.match(error.message, new RegExp(`^imgpipe: ${Object.keys(options).at(-1)}\\b`));
      return true;
    });
  }
  for (const dpr of [1.5, '2.5', 4, 1.255]) {
    assert.throws(() => urls.url('uploads/a.jpg', 'small', { dpr }), (error) => {
      assert.ok(error instanceof RangeError, String(dpr));
      assert.match(error.message, /^imgpipe: dpr /);
      assert.match(error.message, signature);
      return true;
    });
  }
});

test("a preset's own dpr goes unsigned, and dpr=1 is written when the preset's differs", () => {
  const crisp = new ImageUrls(BASE, { presets: { crisp: 'w=300&dpr=1.50', webp: 'w=300&fm=webp' } });
  assert.equal(crisp.url('uploads/a.jpg', 'crisp'), `${BASE}/uploads/a.jpg?preset=crisp`);
  assert.equal(crisp.url('uploads/a.jpg', 'crisp', { dpr: 1.5 }), `${BASE}/uploads/a.jpg?preset=crisp`);
  assert.equal(crisp.url('uploads/a.jpg', 'crisp', { dpr: 1 }), `${BASE}/uploads/a.jpg?preset=crisp&dpr=1`);
  assert.equal(crisp.url('uploads/a.jpg', 'webp', { fm: 'auto' }), `${BASE}/uploads/a.jpg?preset=webp&fm=auto`);
  assert.equal(crisp.url('uploads/a.jpg', 'webp', { fm: 'webp' }), `${BASE}/uploads/a.jpg?preset=webp`);
  assert.throws(() => crisp.url('uploads/a.jpg', 'crisp', { dpr: 2.5 }), RangeError);
});

test('dpr text rounds half up to two decimals and keeps the bounds as written', () => {
  assert.equal(dprText(1.255), '1.26');
  assert.equal(dprText('1.5'), '1.5');
  assert.equal(dprText(4), '4');
  assert.equal(dprText('3.999'), '4');
  for (const bad of [0.99, 4.001, -1, 'NaN', Infinity, 1e21, '', '1,5']) {
    assert.throws(() => dprText(bad), RangeError, String(bad));
  }
});

test('density srcset of a preset: the ladder by default, off-ladder dprs throw', () => {
  assert.deepEqual(DEFAULT_DPRS, [1, 2, 3]);
  assert.equal(
    urls.densitySrcset('uploads/a.jpg', 'small', { fm: 'webp' }),
    `${BASE}/uploads/a.jpg?preset=small&fm=webp 1x, `
      + `${BASE}/uploads/a.jpg?preset=small&dpr=2&fm=webp 2x, `
      + `${BASE}/uploads/a.jpg?preset=small&dpr=3&fm=webp 3x`,
  );
  assert.throws(() => urls.densitySrcset('uploads/a.jpg', 'small', { dprs: [1, 1.5, 2] }), RangeError);
  assert.throws(() => urls.densitySrcset('uploads/a.jpg', 'small', { v: 2 }), TypeError);
  assert.throws(() => urls.densitySrcset('uploads/a.jpg', 'small', { dpr: 2 }), TypeError);
});

test('width srcset from the width-only presets, narrowest first', () => {
  assert.equal(
    urls.widthSrcset('uploads/a.jpg'),
    `${BASE}/uploads/a.jpg?preset=small 400w, ${BASE}/uploads/a.jpg?preset=medium 800w, `
      + `${BASE}/uploads/a.jpg?preset=large 1600w`,
  );
  assert.equal(
    urls.widthSrcset('uploads/a.jpg', ['large', 'small'], { fm: 'avif' }),
    `${BASE}/uploads/a.jpg?preset=small&fm=avif 400w, ${BASE}/uploads/a.jpg?preset=large&fm=avif 1600w`,
  );
  assert.throws(() => urls.widthSrcset('uploads/a.jpg', ['small'], { v: 3 }), TypeError);
});

test('the stage presets replace the defaults', () => {
  const custom = new ImageUrls('/img', { presets: { hero: 'w=1920&h=600&fit=cover', card: 'w=480' } });
  assert.equal(custom.url('uploads/a.jpg', 'hero'), '/img/uploads/a.jpg?preset=hero');
  assert.equal(custom.widthSrcset('uploads/a.jpg'), '/img/uploads/a.jpg?preset=card 480w');
  assert.throws(() => custom.url('uploads/a.jpg', 'thumb'), /unknown preset/);
  assert.throws(() => custom.widthSrcset('uploads/a.jpg', ['hero', 'nope']), TypeError);
});

test('bad keys, presets and options throw instead of building a URL the edge refuses', () => {
  for (const key of ['', '/a.jpg', 'a//b.jpg', 'a/../b.jpg', 'a/./b', 'a\\b', 'a\u0000b', 'x'.repeat(1025), '\ud800']) {
    assert.throws(() => keyPath(key), Error, JSON.stringify(key));
  }
  assert.throws(() => urls.url('uploads/a.jpg', 'th umb'), TypeError);
  assert.throws(() => urls.url('uploads/a.jpg', '__proto__'), TypeError);
  assert.throws(() => urls.url('uploads/a.jpg', 'small', { fm: 'bmp' }), TypeError);
  assert.throws(() => urls.url('uploads/a.jpg', 'small', { dpr: 0.5 }), RangeError);
  assert.throws(() => new ImageUrls('images.example.com'), TypeError);
});

test('encode leaves only unreserved characters', () => {
  assert.equal(encode("a b!'()*~._-/"), 'a%20b%21%27%28%29%2A~._-%2F');
});

test('sizes', () => {
  assert.equal(sizes(), '100vw');
  assert.equal(sizes({ '(min-width: 1024px)': '33vw', 'min-width: 640px': '50vw' }),
    '(min-width: 1024px) 33vw, (min-width: 640px) 50vw, 100vw');
  assert.equal(urls.sizes([['(max-width: 600px)', '480px']], '800px'), '(max-width: 600px) 480px, 800px');
  assert.throws(() => sizes({ '(a), (b)': '1px' }), TypeError);
});

test('the module has no dependencies and holds no secrets', () => {
  const source = readFileSync(MODULE, 'utf8');
  assert.doesNotMatch(source, /^\s*import\b/m);
  assert.doesNotMatch(source, /\b(require|fetch|XMLHttpRequest|createHmac|crypto)\b/);
  assert.deepEqual(Object.keys(DEFAULT_PRESETS), ['thumb', 'small', 'medium', 'large', 'og']);
});

test('the type declarations name every export, and only those', async () => {
  const exported = Object.keys(await import(MODULE.href)).sort();
  const declared = [...readFileSync(TYPES, 'utf8').matchAll(/^export declare (?:const|function|class) (\w+)/gm)]
    .map((m) => m[1]).sort();
  assert.deepEqual(declared, exported);
});
