import { createRequire } from 'node:module';
import type * as XtermHeadless from '@xterm/headless';
import type { IBufferCell, Terminal as HeadlessTerminal } from '@xterm/headless';
import type * as XtermSerialize from '@xterm/addon-serialize';

/**
 * @xterm/headless and @xterm/addon-serialize, loaded, and the terminal state
 * their public API does not show, read from xterm's private internals.
 *
 * This is the only file allowed to reach into xterm's private state (`_core` and
 * what hangs off it); the rest of analysis sees it only through the checked,
 * typed view internals() returns. Both packages are pinned to exact versions in
 * package.json for this reason: a new version may move what is read here, and
 * must be checked against it (the keyframe tests replay every keyframe).
 */

// Both are CommonJS bundles: ESM sees no named exports in them, and their typings
// declare no default export (`import x from '@xterm/headless'` fails to type-check).
const require = createRequire(import.meta.url);
export const { Terminal } = require('@xterm/headless') as typeof XtermHeadless;
export const { SerializeAddon } = require('@xterm/addon-serialize') as typeof XtermSerialize;

/** The attributes of a cell or a pen (xterm's AttributeData), as the public IBufferCell shows them. */
export type Attributes = Pick<
  IBufferCell,
  | 'isBold' | 'isDim' | 'isItalic' | 'isUnderline' | 'isBlink' | 'isInverse' | 'isInvisible' | 'isStrikethrough' | 'isOverline'
  | 'isFgRGB' | 'isFgPalette' | 'getFgColor' | 'isBgRGB' | 'isBgPalette' | 'getBgColor' | 'isAttributeDefault'
>;

/** A character set as xterm holds it: what each character prints as instead; undefined for ASCII. */
export type Charset = Record<string, string> | undefined;

/** What is read of one of xterm's two buffers (normal, alternate). */
export interface InternalBuffer {
  scrollTop: number;
  scrollBottom: number;
  savedX: number;
  /** Counted from the top of the scrollback (our terminals keep none). */
  savedY: number;
  savedCurAttrData: Attributes;
  savedCharset: Charset;
}

/**
 * A row of a buffer. Written too, not only read: screen-snapshot.ts unwraps and
 * shortens rows for SerializeAddon and puts them back right after.
 */
export interface InternalRow {
  length: number;
  isWrapped: boolean;
}

export interface InternalRows {
  get(i: number): InternalRow | undefined;
}

/** The checked view of xterm's private state that the rest of analysis works with. */
export interface Internals {
  normal: InternalBuffer;
  active: InternalBuffer;
  normalRows: InternalRows;
  alternateRows: InternalRows;
  pen: Attributes;
  /** The set in use, G0–G3, and which of them was last shifted to. */
  charset: Charset;
  charsets: Charset[];
  glevel: number;
}

/**
 * Terminal state the public API does not show, read from @xterm/headless 6.0's
 * internals (SerializeAddon itself reads the pen there). Checked, not trusted:
 * undefined when the shape is not the expected one (another xterm version), and
 * snapshot() then falls back to SerializeAddon's output as it is.
 */
export function internals(term: HeadlessTerminal): Internals | undefined {
  const core = (term as unknown as { _core?: Record<string, unknown> })._core;
  const buffers = core?.['buffers'] as { normal?: { lines?: unknown }; active?: unknown; alt?: { lines?: unknown } } | undefined;
  const pen = (core?.['_inputHandler'] as { _curAttrData?: unknown } | undefined)?._curAttrData;
  const cs = core?.['_charsetService'] as { charset?: unknown; _charsets?: unknown; glevel?: unknown } | undefined;
  const isAttributes = (a: unknown): a is Attributes => typeof (a as { isAttributeDefault?: unknown } | undefined)?.isAttributeDefault === 'function';
  const isBuffer = (b: unknown): b is InternalBuffer =>
    typeof b === 'object' &&
    b !== null &&
    ['scrollTop', 'scrollBottom', 'savedX', 'savedY'].every((k) => typeof (b as Record<string, unknown>)[k] === 'number') &&
    isAttributes((b as { savedCurAttrData?: unknown }).savedCurAttrData);
  if (!isBuffer(buffers?.normal) || !isBuffer(buffers?.active) || !isAttributes(pen)) return undefined;
  if (!Array.isArray(cs?._charsets) || typeof cs?.glevel !== 'number') return undefined;
  const charset = typeof cs.charset === 'object' ? (cs.charset as Charset) : undefined;
  const isRows = (l: unknown): l is InternalRows => typeof (l as { get?: unknown } | undefined)?.get === 'function';
  const normalRows = buffers.normal.lines;
  const alternateRows = buffers.alt?.lines;
  if (!isRows(normalRows) || !isRows(alternateRows)) return undefined;
  const row = normalRows.get(0);
  if (typeof row?.length !== 'number' || typeof row.isWrapped !== 'boolean') return undefined;
  return { normal: buffers.normal, active: buffers.active, normalRows, alternateRows, pen, charset, charsets: cs._charsets as Charset[], glevel: cs.glevel };
}
