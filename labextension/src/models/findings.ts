import { BypassReason, IFinding } from '../tokens';

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

/** Where a finding sits, in the words the server's messages use. */
export function describeLocation(finding: IFinding): string {
  const line = `line ${finding.line}`;
  if (finding.cell_index === null) {
    return finding.field === 'text'
      ? capitalize(line)
      : `${finding.field}, ${line}`;
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
    preview: finding.preview,
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
