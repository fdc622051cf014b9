/**
 * Text from a file, as the extension shows it: a finding's attachment or member name, a
 * masked preview, a path are chosen by whoever wrote the file. Control and invisible
 * characters are shown escaped, as the server's reports and the command line show them
 * (``\x1b``, ``\u202e``): raw, a bidirectional control reordered the line it sat in
 * ("attachment a<U+202E>txt.exe of cell 1" read as "attachment a1 llec fo exe.txt").
 */

/** Control, format, surrogate, private-use, unassigned and separator characters. */
const UNSEEN = /[\p{C}\p{Z}]/gu;

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0');
}

/** One character as Python's ``repr`` escapes it. */
function escaped(char: string): string {
  if (char === ' ') {
    return char;
  }
  const named: Record<string, string> = {
    '\t': '\\t',
    '\n': '\\n',
    '\r': '\\r'
  };
  if (named[char] !== undefined) {
    return named[char];
  }
  const code = char.codePointAt(0) ?? 0;
  if (code < 0x100) {
    return `\\x${hex(code, 2)}`;
  }
  return code < 0x10000 ? `\\u${hex(code, 4)}` : `\\U${hex(code, 8)}`;
}

/** ``text`` with every character a reader cannot see as it is escaped (the space kept). */
export function shown(text: string): string {
  return String(text).replace(UNSEEN, escaped);
}
