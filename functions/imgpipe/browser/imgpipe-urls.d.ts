// Type declarations for imgpipe-urls.mjs: preset URLs, srcsets and sizes for the browser (no secrets): only
// what the edge serves unsigned, a preset varied by fm and a dpr of 1, 2 or 3 (or the preset's own).

/** Output formats; "auto" (the default) lets the edge choose AVIF > WebP > JPEG/PNG from `Accept`. */
export type Format = 'auto' | 'avif' | 'webp' | 'jpeg' | 'jpg' | 'png' | 'gif';

/** Preset name → its query, e.g. { small: 'w=400' }: the stage's presets (they are public). */
export type Presets = Readonly<Record<string, string>>;

/**
 * What a preset URL may vary and still be served unsigned: the output format and a dpr on the ladder
 * 1, 2, 3 (or the preset's own). `v`, `dl`, other dprs and look parameters need a signature, so they are
 * not options here (at run time they throw): build such URLs on a server that holds the signing keys.
 */
export interface PresetOptions {
  /** Device pixel ratio: 1, 2 or 3, or the preset's own dpr; others throw a RangeError. */
  dpr?: number | string;
  /** Output format; omitted or "auto" means negotiated by `Accept`. */
  fm?: Format;
}

export interface DensityOptions extends Omit<PresetOptions, 'dpr'> {
  /** The densities to offer, each on the unsigned ladder (or the preset's own dpr); default [1, 2, 3]. */
  dprs?: ReadonlyArray<number>;
}

/** A `sizes` rule: [media condition, length], e.g. ['(min-width: 1024px)', '33vw']. */
export type SizesRules = ReadonlyArray<readonly [string, string]> | Readonly<Record<string, string>>;

export declare const DEFAULT_PRESETS: Presets;
export declare const FORMATS: ReadonlyArray<Exclude<Format, 'jpg'>>;
/** The dprs a preset URL may carry unsigned (besides the preset's own): [1, 2, 3]. */
export declare const DEFAULT_DPRS: ReadonlyArray<number>;

/** Percent-encodes as the edge does: only A-Z a-z 0-9 - _ . ~ stay as they are. */
export declare function encode(text: string): string;
/** The URL path of an object key ("uploads/my cat.jpg" → "/uploads/my%20cat.jpg"); throws for a bad key. */
export declare function keyPath(key: string): string;
/** A dpr in canonical text ("1.255" → "1.26", 2 → "2"); throws outside 1-4. */
export declare function dprText(dpr: number | string): string;
/** The `sizes` attribute: "(min-width: 1024px) 33vw, 100vw". */
export declare function sizes(rules?: SizesRules, fallback?: string): string;

export declare class ImageUrls {
  readonly baseUrl: string;
  readonly presets: Presets;
  /** `baseUrl`: the distribution's origin ("https://images.example.com") or a path prefix. */
  constructor(baseUrl: string, options?: { presets?: Presets });
  /** The URL of `key` with a named preset: url('uploads/a.jpg', 'thumb', { dpr: 2 }); throws if it needs signing. */
  url(key: string, preset: string, options?: PresetOptions): string;
  /** Density variants of one preset: "… 1x, …&dpr=2 2x, …&dpr=3 3x". */
  densitySrcset(key: string, preset: string, options?: DensityOptions): string;
  /** Width candidates from presets with a width (default: every width-only preset), narrowest first. */
  widthSrcset(key: string, presetNames?: ReadonlyArray<string>, options?: Omit<PresetOptions, 'dpr'>): string;
  sizes(rules?: SizesRules, fallback?: string): string;
}
