import { describe, expect, it } from 'vitest';
import { inertText } from '../../../core/index.js';

describe('text made inert for a terminal', () => {
  it('shows control characters instead of sending them', () => {
    const attacks = {
      'CSI line erase': 'fine\x1b[2K\x1b[1Gapproved by admin',
      'OSC 8 hidden link': '\x1b]8;;https://evil.example\x07click\x1b]8;;\x07',
      'OSC 52 clipboard write': '\x1b]52;c;cm0gLXJmIH4K\x07',
      'C1 CSI': 'x\u009b2Jy',
      'BEL and backspaces': 'a\x07\x08\x08b',
      'DEL': 'a\x7fb',
    };
    for (const [name, text] of Object.entries(attacks)) {
      const out = inertText(text);
      expect(out, name).not.toMatch(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/);
    }
    expect(inertText('a\x1b[2Kb')).toBe('a\\u001b[2Kb');
  });

  it('keeps ordinary text, tabs and (when asked) newlines, and caps the length', () => {
    expect(inertText('données → ok\tyes')).toBe('données → ok\tyes');
    expect(inertText('two\nlines')).toBe('two\\nlines');
    expect(inertText('two\nlines', { keepNewlines: true })).toBe('two\nlines');
    expect(inertText('x'.repeat(50), { max: 10 })).toBe('xxxxxxxxxx…');
  });
});
