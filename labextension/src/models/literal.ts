/**
 * Find the credential a finding points at inside a cell's source, and replace it with a
 * read of the secret from the environment. The server never sends the value: the editor
 * has it, and the finding's fingerprint tells which piece of the line it is.
 */
import { IFinding } from '../tokens';

/** Computes the guard's fingerprint of a value (see {@link fingerprint}). */
export type FingerprintFn = (value: string) => Promise<string>;

/** Where the credential sits in the source, and the string literal around it if any. */
export interface ILocatedCredential {
  /** The credential itself (kept in memory only to send it to the secret store). */
  value: string;
  /** Offsets of the value within the whole source. */
  start: number;
  end: number;
  /** The enclosing string literal (prefix and quotes included), if the value is in one. */
  literal: { start: number; end: number; prefix: string; quote: string } | null;
}

const FINGERPRINT_DOMAIN = 'jupyter-qsecure/fingerprint/v1\u0000';

/** The guard's fingerprint: SHA-256 over a domain prefix and the value, 32 hex digits. */
export async function fingerprint(
  value: string,
  subtle: SubtleCrypto | null = globalThis.crypto?.subtle ?? null
): Promise<string> {
  if (subtle === null) {
    throw new Error(
      'Web Crypto is unavailable (the page is not a secure context).'
    );
  }
  const bytes = new TextEncoder().encode(FINGERPRINT_DOMAIN + value);
  const digest = await subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest))
    .map(b => b.toString(16).padStart(2, '0'))
    .join('')
    .slice(0, 32);
}

/** Whether a candidate could be the value a masked preview (`ghp_…9fQ`) stands for. */
export function matchesPreview(candidate: string, preview: string): boolean {
  const lengthOnly = /^…\((\d+) chars\)$/.exec(preview);
  if (lengthOnly !== null) {
    return candidate.length === Number(lengthOnly[1]);
  }
  const [prefix, suffix = ''] = preview.split('…');
  return (
    candidate.length > prefix.length + suffix.length &&
    candidate.startsWith(prefix) &&
    candidate.endsWith(suffix)
  );
}

interface IStringLiteral {
  start: number;
  end: number;
  prefix: string;
  quote: string;
  contentStart: number;
  contentEnd: number;
}

const STRING_LITERAL =
  /([rRbBuUfF]{0,2})("""|'''|"|')((?:\\[\s\S]|(?!\2)[^\\])*?)\2/g;

function stringLiterals(line: string): IStringLiteral[] {
  const found: IStringLiteral[] = [];
  for (const m of line.matchAll(STRING_LITERAL)) {
    const start = m.index ?? 0;
    const contentStart = start + m[1].length + m[2].length;
    found.push({
      start,
      end: start + m[0].length,
      prefix: m[1],
      quote: m[2],
      contentStart,
      contentEnd: contentStart + m[3].length
    });
  }
  return found;
}

/** Every substring of a line that could be a credential: string contents and tokens. */
function candidates(line: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  for (const literal of stringLiterals(line)) {
    spans.push([literal.contentStart, literal.contentEnd]);
  }
  for (const m of line.matchAll(/[^\s"'`,;()[\]{}<>]+/g)) {
    // A token like `token=ghp_...` or `user:pw@host/path`: try every piece between separators.
    const start = m.index ?? 0;
    const cuts = [start];
    for (const sep of m[0].matchAll(/[=:@/]/g)) {
      cuts.push(start + (sep.index ?? 0), start + (sep.index ?? 0) + 1);
    }
    cuts.push(start + m[0].length);
    for (let i = 0; i < cuts.length; i += 2) {
      for (let j = i + 1; j < cuts.length; j += 2) {
        if (cuts[j] > cuts[i]) {
          spans.push([cuts[i], cuts[j]]);
        }
      }
    }
  }
  return spans;
}

/**
 * Locate the credential of ``finding`` in ``source`` (the cell's whole source). Returns
 * null when no piece of the line has the finding's fingerprint (or, without Web Crypto,
 * when the preview does not single one out).
 */
export async function locateCredential(
  source: string,
  finding: IFinding,
  hash: FingerprintFn = value => fingerprint(value)
): Promise<ILocatedCredential | null> {
  const lines = source.split('\n');
  if (finding.line < 1 || finding.line > lines.length) {
    return null;
  }
  const lineStart = lines
    .slice(0, finding.line - 1)
    .reduce((n, l) => n + l.length + 1, 0);
  const line = lines[finding.line - 1];
  const spans = candidates(line).filter(([s, e]) =>
    matchesPreview(line.slice(s, e), finding.preview)
  );
  let chosen: [number, number] | undefined;
  try {
    for (const span of spans) {
      if ((await hash(line.slice(span[0], span[1]))) === finding.fingerprint) {
        chosen = span;
        break;
      }
    }
  } catch {
    // No Web Crypto: trust the preview when it singles out one piece of the line.
    const distinct = new Set(spans.map(([s, e]) => line.slice(s, e)));
    chosen = distinct.size === 1 ? spans[0] : undefined;
  }
  if (chosen === undefined) {
    return null;
  }
  const [start, end] = chosen;
  const enclosing = stringLiterals(line).find(
    l => l.contentStart <= start && end <= l.contentEnd
  );
  return {
    value: line.slice(start, end),
    start: lineStart + start,
    end: lineStart + end,
    literal:
      enclosing === undefined
        ? null
        : {
            start: lineStart + enclosing.start,
            end: lineStart + enclosing.end,
            prefix: enclosing.prefix,
            quote: enclosing.quote
          }
  };
}

/** Thrown when a literal cannot be rewritten safely; the message says what to do. */
export class ReplaceError extends Error {}

/** Python that reads the secret: `os.environ["NAME"]`. */
export function environRead(name: string, quote = '"'): string {
  return `os.environ[${quote}${name}${quote}]`;
}

/**
 * The source with the located credential replaced by a read of ``name`` from the
 * environment, and `import os` added when the cell does not import it.
 *
 * - the whole content of a plain string literal: the literal becomes `os.environ["NAME"]`;
 * - part of a plain string (`"Bearer ghp_..."`): it becomes an f-string;
 * - outside any string (a comment, say): the value itself is replaced.
 */
export function replaceCredential(
  source: string,
  located: ILocatedCredential,
  name: string
): string {
  let replaced: string;
  const literal = located.literal;
  if (literal === null) {
    replaced =
      source.slice(0, located.start) +
      environRead(name) +
      source.slice(located.end);
  } else {
    const prefix = literal.prefix.toLowerCase();
    const content = source.slice(
      literal.start + literal.prefix.length + literal.quote.length,
      literal.end - literal.quote.length
    );
    const whole =
      located.start ===
        literal.start + literal.prefix.length + literal.quote.length &&
      located.end === literal.end - literal.quote.length;
    if (prefix.includes('b')) {
      throw new ReplaceError(
        'The credential is in a bytes literal: replace it by hand with os.environ["' +
          name +
          '"].encode().'
      );
    }
    if (whole && !prefix.includes('f')) {
      replaced =
        source.slice(0, literal.start) +
        environRead(name) +
        source.slice(literal.end);
    } else {
      if (!prefix.includes('f') && /[{}]/.test(content)) {
        throw new ReplaceError(
          'The string around the credential contains braces: replace the credential by hand with os.environ["' +
            name +
            '"].'
        );
      }
      const inner = literal.quote.startsWith('"') ? "'" : '"';
      const fprefix = prefix.includes('f')
        ? literal.prefix
        : `f${literal.prefix}`;
      replaced =
        source.slice(0, literal.start) +
        fprefix +
        source.slice(literal.start + literal.prefix.length, located.start) +
        `{${environRead(name, inner)}}` +
        source.slice(located.end);
    }
  }
  return importsOs(replaced) ? replaced : `import os\n${replaced}`;
}

/** Whether Python source imports the `os` module by that name. */
export function importsOs(source: string): boolean {
  return /^\s*import\s+(?:[\w.]+\s*,\s*)*os\b(?!\.)(?!\s+as\b)/m.test(source);
}
