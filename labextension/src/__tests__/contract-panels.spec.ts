/**
 * The signing status, the provenance summaries and the secrets listing fed with the
 * server's real answers (pinned by tests/test_frontend_contract.py).
 */
import {
  BADGES,
  badgeCounts,
  environmentSummary,
  provenanceHeadline
} from '../models/provenance';
import {
  SigningState,
  signatureRows,
  summarizeSigning
} from '../models/signing';
import {
  IExecutionRecord,
  IProvenanceCell,
  IProvenanceReport,
  ISecretRow,
  ISecretsListing,
  ISignResponse,
  ISignatureResult,
  ISigningVerdict,
  ITimelineEntry
} from '../tokens';
import { contract, fields } from './contract';

const VERDICT_FIELDS = fields<ISigningVerdict>({
  path: true,
  status: true,
  meets_policy: true,
  policy: true,
  required: true,
  require_roles: true,
  signatures: true
});

const SIGNATURE_FIELDS = fields<ISignatureResult>({
  index: true,
  principal: true,
  role: true,
  signed_at: true,
  fingerprint: true,
  valid: true,
  trusted: true,
  reason: true,
  changed_cells: true
});

describe('signing status from the server', () => {
  const cases: Array<[string, SigningState, string]> = [
    ['signature-unsigned.json', 'unsigned', 'Unsigned'],
    [
      'signature-signed.json',
      'signed',
      'Signed by lab-server@lab.example (1 of 1 required)'
    ],
    ['signature-modified.json', 'modified', 'Modified since signing'],
    ['signature-invalid.json', 'invalid', 'Invalid signature'],
    ['signature-untrusted.json', 'untrusted', 'Untrusted signer']
  ];

  it.each(cases)('%s is shown as %s', (name, state, label) => {
    const answer = contract<ISigningVerdict>(name);
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.body).sort()).toEqual(VERDICT_FIELDS);
    for (const signature of answer.body.signatures) {
      expect(Object.keys(signature).sort()).toEqual(SIGNATURE_FIELDS);
    }
    const summary = summarizeSigning(answer.body);
    expect([summary.state, summary.label]).toEqual([state, label]);
  });

  it('names the cells changed since signing', () => {
    const modified = contract<ISigningVerdict>('signature-modified.json').body;
    expect(summarizeSigning(modified).changedCells).toEqual(['load']);
    expect(summarizeSigning(modified).description).toMatch(/^1 cell changed/);
  });

  it('says which signer is not trusted and why', () => {
    const untrusted = contract<ISigningVerdict>(
      'signature-untrusted.json'
    ).body;
    const [row] = signatureRows(untrusted);
    expect([row.valid, row.trusted, row.when]).toEqual([
      'valid',
      'not trusted',
      '2026-01-01 00:00 UTC'
    ]);
    expect(row.reason).not.toBe('');
  });

  it('reads the signature a sign request made', () => {
    const signed = contract<ISignResponse>('sign.json').body;
    expect(Object.keys(signed.signature).sort()).toEqual([
      'key_fingerprint',
      'principal',
      'role',
      'signed_at'
    ]);
    expect(signed.signature.role).toBe('author');
    expect(summarizeSigning(signed).state).toBe('signed');
  });
});

describe('provenance report from the server', () => {
  const report = contract<IProvenanceReport>('provenance.json').body;

  it('has every field the panel reads', () => {
    expect(Object.keys(report).sort()).toEqual(
      fields<IProvenanceReport>({
        path: true,
        ok: true,
        user: true,
        kernel_session: true,
        environment: true,
        timeline: true,
        out_of_order: true,
        hidden_state: true,
        files_changed: true,
        cannot_judge: true,
        deleted_cells: true,
        cells: true
      })
    );
    const cellFields = fields<IProvenanceCell>({
      number: true,
      cell_id: true,
      verdict: true,
      badge: true,
      detail: true,
      execution: true,
      evidence: true
    });
    for (const cell of report.cells) {
      expect(Object.keys(cell).sort()).toEqual(cellFields);
      expect(Object.keys(BADGES)).toContain(cell.badge);
    }
    const timelineFields = fields<ITimelineEntry>({
      record_id: true,
      cell_id: true,
      first_line: true,
      execution_count: true,
      kernel_session: true,
      started: true,
      status: true
    });
    for (const entry of report.timeline) {
      expect(Object.keys(entry).sort()).toEqual(timelineFields);
    }
  });

  it('carries the executions the cells list', () => {
    const executed = report.cells[0].execution as IExecutionRecord;
    const used: Array<keyof IExecutionRecord> = [
      'record_id',
      'duration_ms',
      'files'
    ];
    for (const key of used) {
      expect(executed).toHaveProperty(key);
    }
    expect(executed.files?.read?.map(f => f.path)).toEqual(['input.csv']);
    const written = report.cells[1].execution as IExecutionRecord;
    expect(written.files?.written?.map(f => f.path)).toEqual(['summary.txt']);
    expect(report.timeline.map(e => e.cell_id)).toEqual(['read', 'write']);
  });

  it('is summed up in the panel headline', () => {
    expect(badgeCounts(report)).toEqual({
      executed: 1,
      edited: 1,
      'outputs-changed': 0,
      'never-executed': 1
    });
    expect(provenanceHeadline(report)).toBe(
      '1 executed as shown, 1 edited after execution, 1 never executed (of 3 code cells).'
    );
  });

  it('shows the environment facts the server sends', () => {
    expect(environmentSummary(report.environment).map(([l]) => l)).toEqual([
      'Python',
      'Platform',
      'Host',
      'CPUs',
      'Packages',
      'Packages digest'
    ]);
  });
});

describe('secrets listing from the server', () => {
  const listing = contract<ISecretsListing>('secrets.json').body;

  it('has every field the panel reads', () => {
    expect(Object.keys(listing).sort()).toEqual(
      fields<ISecretsListing>({
        path: true,
        policy: true,
        policy_error: true,
        personal_grants: true,
        secrets: true
      })
    );
    const rowFields = fields<ISecretRow>({
      name: true,
      source: true,
      provider: true,
      writable: true,
      notebooks: true,
      kernels: true,
      users: true,
      granted: true,
      in_kernel: true,
      problem: true,
      personal: true
    });
    for (const row of listing.secrets) {
      expect(Object.keys(row).sort()).toEqual(rowFields);
    }
  });

  it('tells the admin secrets from personal ones', () => {
    const rows = Object.fromEntries(listing.secrets.map(r => [r.name, r]));
    expect([rows.MY_TOKEN.personal, rows.MY_TOKEN.granted]).toEqual([
      true,
      true
    ]);
    expect([rows.LAB_TOKEN.personal, rows.LAB_TOKEN.writable]).toEqual([
      false,
      true
    ]);
    expect([rows.DB_PASSWORD.provider, rows.DB_PASSWORD.writable]).toEqual([
      'env',
      false
    ]);
  });
});
