import type { IBuffer, IBufferLine, Terminal as HeadlessTerminal } from '@xterm/headless';
import type { SerializeAddon as Serializer } from '@xterm/addon-serialize';
import { internals } from './xterm-internals.js';
import type { Attributes, Charset, InternalBuffer, InternalRow, InternalRows, Internals } from './xterm-internals.js';

/**
 * The screen as a string that redraws it in a reset terminal of the same size.
 *
 * SerializeAddon (0.14) writes the text and attributes of the normal screen and,
 * if active, the alternate one, the cursor, the pen and the modes. Its handling
 * of wrapped rows has bugs (a stray '-' after an empty row, a row that starts
 * with empty cells drawn on the row above), it writes the alternate screen's
 * rows past the right margin after the terminal got narrower (xterm keeps those
 * cells there, hidden), and it leaves out state that changes what later output
 * draws. So:
 * - the addon draws the rows each on its own, with their wrap flags off and cut
 *   to the width for the moment (see prepareRows()); the wraps are then made
 *   again by printing across each row end (rewrap());
 * - the cursor is placed with an absolute move, and a pending wrap at the right
 *   margin is recreated by printing the last character of the row again;
 * - the scroll region (vim, less), the saved cursor with its pen and character
 *   set (DECSC, and what ESC[?1049h saved, which leaving the alternate screen
 *   restores), and the DEC line-drawing character set are set.
 * All that is read from xterm's internals (see internals(), xterm-internals.ts);
 * if those ever change shape, the addon's output is used as it is.
 * Not kept: scrollback, tab stops, character sets other than line drawing, the
 * wrap flag of the top row, cells hidden past the right margin.
 */
export function snapshot(term: HeadlessTerminal, addon: Serializer): string {
  const state = internals(term);
  if (!state) return addon.serialize({ scrollback: 0 });
  const alt = term.buffer.active.type === 'alternate';
  // The normal screen's rows as a player shows them: from the top of its viewport.
  // (After a resize while the alternate screen shows, xterm can leave its buffer
  // shorter than that; the rows a player then shows below its end are the ones
  // the addon is given here, not the ones it would pick itself.)
  const normalBuf = term.buffer.normal;
  const top = normalBuf.baseY;
  const bottom = top + term.rows - 1;
  const prepared = prepareRows(state, term, top, alt);
  let normal: string;
  let alternate = '';
  try {
    normal = addon.serialize({ range: { start: top, end: bottom }, excludeAltBuffer: true, excludeModes: true });
    if (alt) {
      // The addon writes the alternate screen only after the normal one.
      const before = addon.serialize({ scrollback: 0, excludeAltBuffer: true, excludeModes: true });
      alternate = addon.serialize({ scrollback: 0, excludeModes: true }).slice(before.length);
    }
  } finally {
    prepared.restore();
  }
  let screen = normal + rewrap(normalBuf, top, term.cols, prepared.normal);
  if (alt) {
    // ESC[?1049h saves the cursor: set up what the program's own ESC[?1049h saved.
    // The addon then draws the alternate screen from a default pen.
    screen += region(state.normal, term.rows) + saved(state.normal, normalBuf, top, term.cols);
    screen += alternate.replace(/^\x1b\[\?1049h/, '$&\x1b[0m\x1b(B');
    screen += rewrap(term.buffer.alternate, term.buffer.alternate.length - term.rows, term.cols, prepared.alternate);
  }
  const b = state.active;
  screen += region(b, term.rows);
  // The set in use can differ from the designated one after a DECRC (or leaving the
  // alternate screen) restored it: a DECRC recreates that, when the saved set is it.
  const restore = isLineDrawing(state.charset) !== isLineDrawing(state.charsets[state.glevel]) && isLineDrawing(state.charset) === isLineDrawing(b.savedCharset);
  if (restore || b.savedX !== 0 || b.savedY !== 0 || b.savedCharset !== undefined || !b.savedCurAttrData.isAttributeDefault()) {
    screen += saved(b, term.buffer.active, term.buffer.active.baseY, term.cols) + '\x1b7\x1b(B';
  }
  screen += modes(term);
  const buf = term.buffer.active;
  const y = term.modes.originMode ? buf.cursorY - b.scrollTop : buf.cursorY;
  // The cursor is placed (a pending wrap printed) while ASCII is still in use, unless
  // the set in use must come from a DECRC, which moves the cursor.
  const cursor = (charset: Charset): string =>
    buf.cursorX < term.cols ? cup(y, buf.cursorX) : pendingWrap(buf.getLine(buf.baseY + buf.cursorY), y, term.cols, charset);
  if (restore) screen += charsets(state) + '\x1b8' + cursor(state.charset);
  else screen += cursor(undefined) + charsets(state);
  return screen + sgr(state.pen);
}

/**
 * For the addon: the visible rows of both screens without wrap flags and no
 * longer than the width. Returns which rows (0 = top of the screen) were wrapped,
 * and how to put everything back.
 */
function prepareRows(state: Internals, term: HeadlessTerminal, top: number, alt: boolean): { normal: number[]; alternate: number[]; restore: () => void } {
  const changed: Array<[InternalRow, number, boolean]> = [];
  const prepare = (rows: InternalRows, base: number): number[] => {
    const wrapped: number[] = [];
    for (let y = 0; y < term.rows; y++) {
      const row = rows.get(base + y);
      if (!row || (!row.isWrapped && row.length <= term.cols)) continue;
      changed.push([row, row.length, row.isWrapped]);
      if (row.isWrapped) wrapped.push(y);
      row.isWrapped = false;
      row.length = Math.min(row.length, term.cols);
    }
    return wrapped;
  };
  const normal = prepare(state.normalRows, top);
  const alternate = alt ? prepare(state.alternateRows, term.buffer.alternate.length - term.rows) : [];
  return {
    normal,
    alternate,
    restore: () => {
      for (const [row, length, isWrapped] of changed) {
        row.length = length;
        row.isWrapped = isWrapped;
      }
    },
  };
}

/**
 * Makes each listed row a wrapped continuation of the row above again: prints the
 * last character of the row above and the first of the row (the second one wraps,
 * as it did when the program wrote it), then erases whichever was an empty cell.
 * Run right after the rows are drawn: no scroll region, origin mode, insert mode
 * or line-drawing set is in force yet.
 */
function rewrap(buf: IBuffer, top: number, cols: number, wrapped: number[]): string {
  let s = '';
  for (const y of wrapped) {
    if (y === 0) continue; // the row it continues has scrolled away
    const above = buf.getLine(top + y - 1);
    const row = buf.getLine(top + y);
    let x = cols - 1;
    let last = above?.getCell(x);
    if (last && last.getWidth() === 0 && x > 0) last = above?.getCell(--x);
    const first = row?.getCell(0);
    if (!last || !first) continue;
    const lastChars = last.getChars();
    const firstChars = first.getChars();
    s += cup(y - 1, x) + sgr(last) + (lastChars || ' ') + sgr(first) + (firstChars || ' ');
    if (!firstChars) s += '\b\x1b[X';
    if (!lastChars) s += cup(y - 1, x) + sgr(last) + '\x1b[X';
  }
  return s;
}

/** CUP to a 0-based row and column. */
function cup(row: number, col: number): string {
  return `\x1b[${row + 1};${col + 1}H`;
}

function region(b: InternalBuffer, rows: number): string {
  return b.scrollTop !== 0 || b.scrollBottom !== rows - 1 ? `\x1b[${b.scrollTop + 1};${b.scrollBottom + 1}r` : '';
}

/** Pen, character set and position as saved in the buffer, ready for a DECSC (or ESC[?1049h) to save them. */
function saved(b: InternalBuffer, buf: IBuffer, top: number, cols: number): string {
  const y = b.savedY - top;
  // Saved just past the right margin: placed there by printing, while ASCII is in use.
  const position = b.savedX < cols ? cup(y, b.savedX) : pendingWrap(buf.getLine(top + y), y, cols, undefined);
  return position + sgr(b.savedCurAttrData) + (isLineDrawing(b.savedCharset) ? '\x1b(0' : '\x1b(B');
}

/**
 * The cursor just past the right margin (x === cols): the next character wraps.
 * Only printing into the last column gets there.
 */
function pendingWrap(line: IBufferLine | undefined, y: number, cols: number, charset: Charset): string {
  let x = cols - 1;
  let cell = line?.getCell(x);
  if (cell && cell.getWidth() === 0 && x > 0) cell = line?.getCell(--x);
  const chars = cell?.getChars();
  // Not when empty, or when the character set in use would print something else.
  if (!cell || !chars || charset?.[chars] !== undefined) return cup(y, cols - 1);
  return cup(y, x) + sgr(cell) + chars;
}

/** The same modes SerializeAddon writes, written here so that origin mode comes before the cursor is placed. */
function modes(term: HeadlessTerminal): string {
  const m = term.modes;
  let s = '';
  if (m.applicationCursorKeysMode) s += '\x1b[?1h';
  if (m.applicationKeypadMode) s += '\x1b[?66h';
  if (m.bracketedPasteMode) s += '\x1b[?2004h';
  if (m.insertMode) s += '\x1b[4h';
  if (m.originMode) s += '\x1b[?6h';
  if (m.reverseWraparoundMode) s += '\x1b[?45h';
  if (m.sendFocusMode) s += '\x1b[?1004h';
  if (!m.wraparoundMode) s += '\x1b[?7l';
  const mouse = { none: '', x10: '\x1b[?9h', vt200: '\x1b[?1000h', drag: '\x1b[?1002h', any: '\x1b[?1003h' }[m.mouseTrackingMode];
  return s + mouse;
}

/** SGR setting exactly these attributes. */
function sgr(a: Attributes): string {
  const p = [0];
  if (a.isBold()) p.push(1);
  if (a.isDim()) p.push(2);
  if (a.isItalic()) p.push(3);
  if (a.isUnderline()) p.push(4);
  if (a.isBlink()) p.push(5);
  if (a.isInverse()) p.push(7);
  if (a.isInvisible()) p.push(8);
  if (a.isStrikethrough()) p.push(9);
  if (a.isOverline()) p.push(53);
  colour(p, a.isFgRGB(), a.isFgPalette(), a.getFgColor(), 30);
  colour(p, a.isBgRGB(), a.isBgPalette(), a.getBgColor(), 40);
  return `\x1b[${p.join(';')}m`;
}

function colour(p: number[], rgb: boolean, palette: boolean, c: number, base: 30 | 40): void {
  if (rgb) p.push(base + 8, 2, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff);
  else if (palette && c < 8) p.push(base + c);
  else if (palette && c < 16) p.push(base + 60 + c - 8);
  else if (palette) p.push(base + 8, 5, c);
}

/** DEC special graphics: ncurses draws boxes with it. */
function isLineDrawing(set: Charset): boolean {
  return set?.['q'] === '\u2500';
}

/** G0–G3 and the one in use. Only line drawing is kept; other sets come back as ASCII. */
function charsets(state: Internals): string {
  let s = '';
  state.charsets.forEach((set, g) => {
    if (isLineDrawing(set)) s += `\x1b${'()*+'[g] ?? '('}0`;
  });
  if (state.glevel === 1) s += '\x0e';
  else if (state.glevel === 2) s += '\x1bn';
  else if (state.glevel === 3) s += '\x1bo';
  return s;
}
