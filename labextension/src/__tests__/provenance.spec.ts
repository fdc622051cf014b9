import {
  BADGES,
  badgeCounts,
  datasetLabel,
  environmentSummary,
  provenanceHeadline
} from '../models/provenance';
import { IProvenanceCell, IProvenanceReport, ProvenanceBadge } from '../tokens';

function cell(number: number, badge: ProvenanceBadge): IProvenanceCell {
  return {
    number,
    cell_id: `c${number}`,
    verdict: badge,
    badge,
    detail: '',
    execution: null
  };
}

function report(cells: IProvenanceCell[], ok = false): IProvenanceReport {
  return {
    path: 'a.ipynb',
    ok,
    user: 'alice',
    kernel_session: 's',
    environment: null,
    timeline: [],
    out_of_order: [],
    hidden_state: [],
    files_changed: [],
    cannot_judge: [],
    deleted_cells: [],
    cells
  };
}

describe('provenance model', () => {
  it('has a label, symbol and explanation for every badge', () => {
    for (const badge of Object.values(BADGES)) {
      expect(badge.label).not.toBe('');
      expect(badge.symbol).not.toBe('');
      expect(badge.explanation).not.toBe('');
    }
  });

  it('counts badges and sums them up in a headline', () => {
    const r = report([
      cell(1, 'executed'),
      cell(2, 'edited'),
      cell(3, 'never-executed'),
      cell(4, 'edited')
    ]);
    expect(badgeCounts(r)).toEqual({
      executed: 1,
      edited: 2,
      'outputs-changed': 0,
      'never-executed': 1
    });
    expect(provenanceHeadline(r)).toBe(
      '1 executed as shown, 2 edited after execution, 1 never executed (of 4 code cells).'
    );
    expect(provenanceHeadline(report([cell(1, 'executed')], true))).toBe(
      'All 1 code cell executed as shown.'
    );
    expect(provenanceHeadline(report([], true))).toBe('No code cells.');
  });

  it('summarises the environment fingerprint sections the collectors write', () => {
    const rows = environmentSummary({
      python: {
        implementation: 'CPython',
        version: '3.11.2',
        platform: 'Linux-6.1-x86_64'
      },
      host: { hostname: 'lab-node-3', cpu_count: 8, cpu_usable: 4 },
      distributions: {
        count: 212,
        digest: 'sha256:ab',
        packages: ['qiskit==1.2.0']
      },
      quantum: { qiskit: '1.2.0', 'qiskit-aer': '0.15.1' },
      git: { repository: true, commit: 'deadbeef', dirty: true },
      container: { image: null }
    });
    expect(rows).toEqual([
      ['Python', 'CPython 3.11.2'],
      ['Platform', 'Linux-6.1-x86_64'],
      ['Host', 'lab-node-3'],
      ['CPUs', '4'],
      ['Packages', '212'],
      ['Packages digest', 'sha256:ab'],
      ['qiskit', '1.2.0'],
      ['qiskit-aer', '0.15.1'],
      ['Git commit', 'deadbeef'],
      ['Git tree', 'uncommitted changes']
    ]);
    expect(environmentSummary(null)).toEqual([]);
  });

  it('labels a quantum SDK row only with a distribution name', () => {
    // The notebook writes its environment: a key of its own choosing must not read as
    // one of the panel's labels (a signature, a git state) beside the real ones.
    const rows = environmentSummary({
      quantum: {
        qiskit: '1.2.0',
        'Git tree': 'clean',
        'Signed by': 'alice@lab (verified)',
        'qiskit-ibm-runtime': '0.30.0'
      },
      git: { commit: 'deadbeef', dirty: true }
    });
    expect(rows).toEqual([
      ['qiskit', '1.2.0'],
      ['qiskit-ibm-runtime', '0.30.0'],
      ['Git commit', 'deadbeef'],
      ['Git tree', 'uncommitted changes']
    ]);
  });

  it('lists the packages the notebook imports (the compact fingerprint)', () => {
    const rows = environmentSummary({
      distributions: {
        count: 209,
        digest: 'sha256:cd',
        imported: ['numpy==2.4.6', 'qiskit==2.6.2']
      }
    });
    expect(rows).toEqual([
      ['Packages', '209'],
      ['Packages digest', 'sha256:cd'],
      ['Imported', 'numpy 2.4.6, qiskit 2.6.2']
    ]);
  });
});

describe('dataset links', () => {
  it('names the dataset, its signer and the file among the manifest', () => {
    expect(
      datasetLabel({
        name: 'calibration-2026-11',
        signed_by: ['alice@lab'],
        signature: 'signed',
        file: 12,
        files: 4096
      })
    ).toBe('calibration-2026-11 (signed by alice@lab) file 12 of 4,096');
  });

  it('quotes a name that is not one plain word, as the command line does', () => {
    // A notebook chooses the name its record shows: it never reads as a signer.
    expect(
      datasetLabel({
        name: 'calibration (signed by alice@lab)',
        signed_by: [],
        signature: 'unsigned'
      })
    ).toBe('"calibration (signed by alice@lab)" (unsigned)');
    expect(datasetLabel({ name: 'données-2026/v1', signed_by: [] })).toBe(
      'données-2026/v1 (unsigned)'
    );
  });

  it('says when nobody trusted signed it, or the file differs', () => {
    expect(
      datasetLabel({
        name: 'beside',
        signed_by: [],
        signature: 'unsigned',
        file: 1,
        files: 2,
        matches: false
      })
    ).toBe('beside (unsigned) file 1 of 2: the file differs from the manifest');
  });
});
