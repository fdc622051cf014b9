import {
  changedCells,
  formatTime,
  signatureRows,
  summarizeSigning
} from '../models/signing';
import { ISignatureResult, ISigningVerdict } from '../tokens';

function signature(
  overrides: Partial<ISignatureResult> = {}
): ISignatureResult {
  return {
    index: 0,
    principal: 'alice@lab.example',
    role: 'author',
    signed_at: '2026-11-24T10:15:00+00:00',
    fingerprint: 'SHA256:abc',
    valid: true,
    trusted: true,
    reason: '',
    changed_cells: [],
    ...overrides
  };
}

function verdict(overrides: Partial<ISigningVerdict> = {}): ISigningVerdict {
  return {
    path: 'analysis.ipynb',
    status: 'signed and valid',
    meets_policy: true,
    policy: 'needs 1 valid trusted signature, has 1',
    required: 1,
    require_roles: [],
    signatures: [signature()],
    ...overrides
  };
}

describe('summarizeSigning', () => {
  it('says Unsigned for a notebook without signatures', () => {
    const summary = summarizeSigning(
      verdict({ status: 'unsigned', signatures: [] })
    );
    expect(summary.state).toBe('unsigned');
    expect(summary.label).toBe('Unsigned');
  });

  it('names the signers and counts against the requirement', () => {
    const summary = summarizeSigning(
      verdict({
        required: 2,
        signatures: [
          signature(),
          signature({
            index: 1,
            principal: 'bob@lab.example',
            role: 'reviewer'
          })
        ]
      })
    );
    expect(summary.state).toBe('signed');
    expect(summary.label).toBe(
      'Signed by alice@lab.example, bob@lab.example (2 of 2 required)'
    );
  });

  it('counts only valid trusted signatures and says when the policy is not met', () => {
    const summary = summarizeSigning(
      verdict({
        required: 2,
        meets_policy: false,
        policy: 'needs 2 valid trusted signatures, has 1',
        signatures: [
          signature(),
          signature({ index: 1, principal: 'eve', trusted: false })
        ]
      })
    );
    expect(summary.label).toBe('Signed by alice@lab.example (1 of 2 required)');
    expect(summary.description).toContain('not met');
    expect(summary.accepted.map(s => s.principal)).toEqual([
      'alice@lab.example'
    ]);
  });

  it('reports the changed cells of a modified notebook once each', () => {
    const summary = summarizeSigning(
      verdict({
        status: 'modified since signing',
        signatures: [
          signature({ valid: false, changed_cells: ['c2', 'c5'] }),
          signature({ index: 1, valid: false, changed_cells: ['c5'] })
        ]
      })
    );
    expect(summary.state).toBe('modified');
    expect(summary.label).toBe('Modified since signing');
    expect(summary.changedCells).toEqual(['c2', 'c5']);
    expect(summary.description).toMatch(/^2 cells changed/);
  });

  it.each([
    ['invalid signature', 'invalid', 'Invalid signature'],
    ['untrusted signer', 'untrusted', 'Untrusted signer']
  ])('maps %s', (status, state, label) => {
    const summary = summarizeSigning(verdict({ status }));
    expect(summary.state).toBe(state);
    expect(summary.label).toBe(label);
  });

  it('is unknown without a verdict or with a status it does not know', () => {
    expect(summarizeSigning(null).state).toBe('unknown');
    expect(summarizeSigning(verdict({ status: 'something new' })).state).toBe(
      'unknown'
    );
  });
});

describe('signature details', () => {
  it('lists each signature in words', () => {
    const rows = signatureRows(
      verdict({
        signatures: [signature({ valid: false, reason: 'cells changed' })]
      })
    );
    expect(rows).toEqual([
      {
        principal: 'alice@lab.example',
        role: 'author',
        when: '2026-11-24 10:15 UTC',
        valid: 'invalid',
        trusted: '—',
        reason: 'cells changed'
      }
    ]);
  });

  it('judges trust only for valid signatures', () => {
    const rows = signatureRows(
      verdict({
        signatures: [signature({ trusted: false }), signature({ valid: false })]
      })
    );
    expect(rows.map(r => r.trusted)).toEqual(['not trusted', '—']);
  });

  it('collects changed cells across signatures', () => {
    expect(
      changedCells(
        verdict({
          signatures: [
            signature({ changed_cells: ['a'] }),
            signature({ changed_cells: ['b', 'a'] })
          ]
        })
      )
    ).toEqual(['a', 'b']);
  });

  it('leaves a time it cannot read unchanged', () => {
    expect(formatTime('yesterday')).toBe('yesterday');
  });
});
