import { BypassReason, IFinding } from '../tokens';
import { shown } from './shown';

/** Human words for the reasons a finding may be accepted for. */
export const BYPASS_LABELS: Record<BypassReason, string> = {
  false_positive: 'False positive',
  test_credential: 'Test credential',
  will_rotate: 'Will rotate'
};

/** One row of the blocked-save dialog. */
export interface IFindingRow {
  /** Stable key for the row (the fingerprint plus the place). */
  key: string;
  /** Where it is, e.g. "Cell 3, line 2" or "Output 1 of cell 3, line 4". */
  where: string;
  kind: string;
  preview: string;
  /** The cell can be shown (the finding is in a cell of the notebook). */
  inCell: boolean;
  /** The literal can be replaced by a secret (it sits in a cell's source). */
  movable: boolean;
  /** The finding is in an output, which clearing the cell's outputs removes. */
  inOutput: boolean;
  finding: IFinding;
}

/** Where a finding sits, in the words the server's messages use (the names the file
 * chose, an attachment's say, escaped). */
export function describeLocation(finding: IFinding): string {
  return shown(location(finding));
}

function location(finding: IFinding): string {
  const line = `line ${finding.line}`;
  if (finding.cell_index === null) {
    if (PATH_FIELDS.includes(finding.field)) {
      return capitalize(finding.field); // a name has no lines
    }
    if (finding.field === 'binary') {
      return 'Its binary content';
    }
    return finding.field === 'text'
      ? capitalize(line)
      : capitalize(`${finding.field}, ${line}`);
  }
  const cell = `cell ${finding.cell_index + 1}`;
  if (finding.field === 'source') {
    return capitalize(`${cell}, ${line}`);
  }
  const output = /^outputs\[(\d+)\]/.exec(finding.field);
  if (output !== null) {
    return capitalize(`output ${Number(output[1]) + 1} of ${cell}, ${line}`);
  }
  const attachment = /^attachments\[(.*)\]$/.exec(finding.field);
  if (attachment !== null) {
    return capitalize(`attachment ${attachment[1]} of ${cell}, ${line}`);
  }
  return capitalize(`${finding.field} of ${cell}, ${line}`);
}

/** Where the server finds a credential in a path rather than in the content. */
const PATH_FIELDS = [
  'the file name',
  'the folder name',
  'a folder name in its path'
];

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The rows of the blocked-save dialog, in notebook order. */
export function findingRows(findings: IFinding[]): IFindingRow[] {
  const sorted = [...findings].sort(
    (a, b) =>
      (a.cell_index ?? -1) - (b.cell_index ?? -1) ||
      a.field.localeCompare(b.field) ||
      a.line - b.line
  );
  return sorted.map(finding => ({
    key: `${finding.fingerprint}:${finding.cell_index ?? ''}:${finding.field}:${finding.line}`,
    where: describeLocation(finding),
    kind: finding.kind,
    preview: shown(finding.preview),
    inCell: finding.cell_index !== null,
    movable: finding.cell_index !== null && finding.field === 'source',
    inOutput:
      finding.cell_index !== null && finding.field.startsWith('outputs['),
    finding
  }));
}

/** A secret name to suggest for a finding: its kind as an environment variable name. */
export function suggestSecretName(
  finding: IFinding,
  taken: string[] = []
): string {
  let base = finding.kind
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (base === '' || /^[0-9]/.test(base)) {
    base = `SECRET_${base}`.replace(/_+$/, '');
  }
  let name = base;
  for (let n = 2; taken.includes(name); n++) {
    name = `${base}_${n}`;
  }
  return name;
}

/** Whether a name can be a secret's (and an environment variable's) name. */
export function isSecretName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}

/** The one-line summary above the findings. */
export function blockedSummary(path: string, count: number): string {
  const file = path.split('/').pop() ?? path;
  const what = count === 1 ? 'a credential' : `${count} credentials`;
  return `${file} was not saved: it holds ${what}. The file on disk is unchanged and your work is still in the editor.`;
}

/** The findings of one cell (or of the file outside cells), as the dialog groups them. */
export interface IFindingGroup {
  /** 0-based cell index, or null for findings outside cells. */
  cellIndex: number | null;
  /** "Cell 3: token = …" (the cell's number among all cells, and its first line). */
  label: string;
  rows: IFindingRow[];
}

/**
 * ``text`` with every run that could be a credential (20 or more letters, digits and
 * `_-+/=`, with both a letter and a digit) cut to its first four characters and `…`:
 * a cell's first line names the cell in headings and panels, and may hold the very
 * token the guard found.
 */
export function maskTokens(text: string): string {
  return text.replace(/[A-Za-z0-9_\-+/=]{20,}/g, run =>
    /[A-Za-z]/.test(run) && /[0-9]/.test(run) ? `${run.slice(0, 4)}…` : run
  );
}

/** A cell's first non-empty line, credentials masked, shortened for a heading. */
export function firstLine(source: string, max = 48): string {
  const line = source.split('\n').find(l => l.trim() !== '') ?? '';
  const trimmed = maskTokens(line.trim());
  return trimmed.length > max ? `${trimmed.slice(0, max - 1)}…` : trimmed;
}

/**
 * How every part of jupyter-qsecure names a cell: its number among all the notebook's
 * cells (1-based, the number the guard's messages and the command line use) and its
 * first line, e.g. `Cell 3: import os`.
 */
export function cellLabel(index: number, source: string | null): string {
  const first = source === null ? '' : firstLine(source);
  return first === '' ? `Cell ${index + 1}` : `Cell ${index + 1}: ${first}`;
}

/**
 * The dialog's rows grouped per cell, in notebook order. ``sourceOf`` gives a cell's
 * source by index (null when unknown) for its heading.
 */
export function groupFindings(
  findings: IFinding[],
  sourceOf: (index: number) => string | null = () => null
): IFindingGroup[] {
  const groups: IFindingGroup[] = [];
  for (const row of findingRows(findings)) {
    const index = row.finding.cell_index;
    let group = groups.find(g => g.cellIndex === index);
    if (group === undefined) {
      group = {
        cellIndex: index,
        label:
          index === null ? 'Outside cells' : cellLabel(index, sourceOf(index)),
        rows: []
      };
      groups.push(group);
    }
    group.rows.push(row);
  }
  return groups;
}

/** The inline allowlist marker the guard and the pre-commit hook both honour. */
export const PRAGMA = 'pragma: allowlist secret';

/** Why a pragma cannot be added to a line. */
export class PragmaError extends Error {}

/**
 * ``source`` with the allowlist pragma at the end of line ``line`` (1-based): a `#`
 * comment in code, an HTML comment in Markdown, plain text in a raw cell. A code line
 * ending in a backslash gets `# pragma: allowlist nextline secret` above it instead. A
 * line that already holds the pragma is left as it is.
 */
export function addPragma(
  source: string,
  line: number,
  cellType: 'code' | 'markdown' | 'raw'
): string {
  const lines = source.split('\n');
  if (line < 1 || line > lines.length) {
    throw new PragmaError(
      `line ${line} is not in the cell any more (it has ${lines.length}); save again to see the current findings.`
    );
  }
  const text = lines[line - 1];
  if (text.includes(PRAGMA)) {
    return source;
  }
  if (cellType === 'code' && /\\\s*$/.test(text)) {
    const previous = line > 1 ? lines[line - 2] : '';
    if (/\\\s*$/.test(previous)) {
      throw new PragmaError(
        `line ${line} continues a line with a backslash: put the value on a line of its own, or add "# ${PRAGMA}" by hand.`
      );
    }
    const indent = /^\s*/.exec(text)?.[0] ?? '';
    lines.splice(line - 1, 0, `${indent}# pragma: allowlist nextline secret`);
    return lines.join('\n');
  }
  const marker =
    cellType === 'code'
      ? `  # ${PRAGMA}`
      : cellType === 'markdown'
        ? ` <!-- ${PRAGMA} -->`
        : ` ${PRAGMA}`;
  lines[line - 1] = text.replace(/\s*$/, '') + marker;
  return lines.join('\n');
}
