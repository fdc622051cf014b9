import { IDatasetLink, IProvenanceReport, ProvenanceBadge } from '../tokens';

/**
 * A dataset name shown as it is: one plain word. Any other is quoted, as the command line
 * quotes it, so a name such as `x (signed by alice@lab)` never reads as a signer.
 */
const PLAIN_NAME = /^[\p{L}\p{M}\p{N}_.:/@+-]+$/u;

/**
 * A file's dataset in words, as the command line says it:
 * "calibration-2026-11 (signed by alice@lab) file 12 of 4,096".
 */
export function datasetLabel(link: IDatasetLink): string {
  const signers = (link.signed_by ?? []).filter(s => typeof s === 'string');
  const signed =
    signers.length > 0
      ? `signed by ${signers.join(', ')}`
      : (link.signature ?? 'unsigned');
  const name = link.name === undefined ? '?' : String(link.name);
  const shown =
    name === '?' || PLAIN_NAME.test(name) ? name : JSON.stringify(name);
  let text = `${shown} (${signed})`;
  if (typeof link.file === 'number') {
    const total = typeof link.files === 'number' ? link.files : 0;
    text += ` file ${link.file.toLocaleString('en-US')} of ${total.toLocaleString('en-US')}`;
  }
  if (link.matches === false) {
    text += ': the file differs from the manifest';
  }
  return text;
}

/** Label, symbol and explanation of each provenance badge. */
export const BADGES: Record<
  ProvenanceBadge,
  { label: string; symbol: string; explanation: string }
> = {
  executed: {
    label: 'Executed as shown',
    symbol: '✓',
    explanation:
      'The outputs shown are the ones this code produced in a recorded run.'
  },
  edited: {
    label: 'Edited after execution',
    symbol: '✎',
    explanation:
      'The code changed after it ran: the outputs may not be what it produces now.'
  },
  'outputs-changed': {
    label: 'Outputs changed',
    symbol: '≠',
    explanation: 'The outputs differ from the ones recorded when the cell ran.'
  },
  'never-executed': {
    label: 'Never executed',
    symbol: '∅',
    explanation: 'No recorded run of this cell.'
  }
};

/** How many code cells carry each badge. */
export function badgeCounts(
  report: IProvenanceReport
): Record<ProvenanceBadge, number> {
  const counts: Record<ProvenanceBadge, number> = {
    executed: 0,
    edited: 0,
    'outputs-changed': 0,
    'never-executed': 0
  };
  for (const cell of report.cells) {
    counts[cell.badge] += 1;
  }
  return counts;
}

/** One line of the summary at the top of the provenance panel. */
export function provenanceHeadline(report: IProvenanceReport): string {
  const total = report.cells.length;
  if (total === 0) {
    return 'No code cells.';
  }
  const counts = badgeCounts(report);
  if (report.ok) {
    return `All ${total} code cell${total === 1 ? '' : 's'} executed as shown.`;
  }
  const parts = (Object.keys(counts) as ProvenanceBadge[])
    .filter(badge => counts[badge] > 0)
    .map(badge => `${counts[badge]} ${BADGES[badge].label.toLowerCase()}`);
  return `${parts.join(', ')} (of ${total} code cells).`;
}

/** A distribution's name as the environment collector writes it (normalised). */
const DISTRIBUTION_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** Key facts of the environment fingerprint, as label/value pairs (no secrets in it). */
export function environmentSummary(
  environment: Record<string, unknown> | null
): Array<[string, string]> {
  if (environment === null) {
    return [];
  }
  const section = (name: string): Record<string, unknown> => {
    const value = environment[name];
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  };
  const rows: Array<[string, string]> = [];
  const show = (label: string, value: unknown): void => {
    if (typeof value === 'string' || typeof value === 'number') {
      rows.push([label, String(value)]);
    }
  };
  const python = section('python');
  show(
    'Python',
    [python['implementation'], python['version']].filter(Boolean).join(' ')
  );
  show('Platform', python['platform']);
  const host = section('host');
  show('Host', host['hostname']);
  show('CPUs', host['cpu_usable'] ?? host['cpu_count']);
  const distributions = section('distributions');
  show('Packages', distributions['count']);
  show('Packages digest', distributions['digest']);
  // What the notebook imports (the compact fingerprint; the store keeps the full list).
  const imported = distributions['imported'];
  if (Array.isArray(imported) && imported.length > 0) {
    show(
      'Imported',
      imported
        .filter((entry): entry is string => typeof entry === 'string')
        .map(entry => entry.replace('==', ' '))
        .join(', ')
    );
  }
  // Keyed by distribution name (normalised: `qiskit-ibm-runtime`). Any other key is the
  // notebook's own, and would read as one of this panel's labels ("Git tree": "clean").
  for (const [name, version] of Object.entries(section('quantum'))) {
    if (DISTRIBUTION_NAME.test(name)) {
      show(name, version);
    }
  }
  const git = section('git');
  show('Git commit', git['commit']);
  if (git['dirty'] === true) {
    rows.push(['Git tree', 'uncommitted changes']);
  }
  const container = section('container');
  show('Container image', container['image']);
  return rows.filter(([, value]) => value !== '');
}
