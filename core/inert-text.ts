/**
 * Text someone typed (a request reason, an approver's comment, a user name in
 * an error) made inert for somebody else's terminal: every C0 and C1 control
 * character and DEL becomes a visible escape (\x1b → "\u001b" style, \n → "\n"),
 * so no escape sequence (CSI line erase, OSC 8 hidden links, OSC 52 clipboard
 * writes) reaches the viewer's terminal (Guacamole CVE-2024-35164 class).
 * Tabs and, when asked, newlines are kept.
 */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const CONTROL_NO_NEWLINE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

export function inertText(text: string, options: { keepNewlines?: boolean; max?: number } = {}): string {
  const max = options.max ?? 4096;
  const clipped = text.length > max ? text.slice(0, max) + '…' : text;
  return clipped.replace(options.keepNewlines ? CONTROL : CONTROL_NO_NEWLINE, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
