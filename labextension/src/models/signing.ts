import { ISignatureResult, ISigningVerdict } from '../tokens';

/** The states the status bar can show. */
export type SigningState =
  'unsigned' | 'signed' | 'modified' | 'invalid' | 'untrusted' | 'unknown';

/** What the status bar shows for a notebook, computed from the server's verdict. */
export interface ISigningSummary {
  state: SigningState;
  /** Short text for the status bar, e.g. "Signed by alice (2 of 2 required)". */
  label: string;
  /** A longer sentence for the tooltip and screen readers. */
  description: string;
  /** Signatures that are valid and whose signer is trusted. */
  accepted: ISignatureResult[];
  /** Ids of the cells changed since any signature, in first-seen order. */
  changedCells: string[];
}

const STATES: Record<string, SigningState> = {
  unsigned: 'unsigned',
  'signed and valid': 'signed',
  'modified since signing': 'modified',
  'invalid signature': 'invalid',
  'untrusted signer': 'untrusted'
};

/** Distinct principals of the accepted signatures, in signing order. */
function signers(accepted: ISignatureResult[]): string[] {
  return [...new Set(accepted.map(result => result.principal))];
}

/** The ids of cells any signature reports as changed, without repeats. */
export function changedCells(verdict: ISigningVerdict): string[] {
  const seen = new Set<string>();
  for (const result of verdict.signatures) {
    for (const id of result.changed_cells) {
      seen.add(id);
    }
  }
  return [...seen];
}

/** Summarise a signing verdict for the status bar and the details dialog. */
export function summarizeSigning(
  verdict: ISigningVerdict | null
): ISigningSummary {
  if (verdict === null) {
    return {
      state: 'unknown',
      label: 'Signing: unknown',
      description: 'The signing status could not be computed.',
      accepted: [],
      changedCells: []
    };
  }
  const state = STATES[verdict.status] ?? 'unknown';
  const accepted = verdict.signatures.filter(s => s.valid && s.trusted);
  const required = Math.max(verdict.required, 1);
  const count = `${accepted.length} of ${required} required`;
  const changed = changedCells(verdict);
  switch (state) {
    case 'unsigned':
      return {
        state,
        label: 'Unsigned',
        description: `This notebook has no signature (${required} required).`,
        accepted,
        changedCells: changed
      };
    case 'signed': {
      const names = signers(accepted).join(', ');
      return {
        state,
        label: `Signed by ${names} (${count})`,
        description: verdict.meets_policy
          ? `Signed by ${names}; the signing policy is met (${count}).`
          : `Signed by ${names}, but the signing policy is not met yet: ${verdict.policy}`,
        accepted,
        changedCells: changed
      };
    }
    case 'modified':
      return {
        state,
        label: 'Modified since signing',
        description: `${changed.length || 'Some'} cell${changed.length === 1 ? '' : 's'} changed since the notebook was signed; sign again after review.`,
        accepted,
        changedCells: changed
      };
    case 'invalid':
      return {
        state,
        label: 'Invalid signature',
        description:
          'A signature does not match this notebook or is malformed: do not trust its content.',
        accepted,
        changedCells: changed
      };
    case 'untrusted':
      return {
        state,
        label: 'Untrusted signer',
        description:
          'The signatures are valid, but no signer is in the allowed signers file.',
        accepted,
        changedCells: changed
      };
    default:
      return {
        state: 'unknown',
        label: `Signing: ${verdict.status}`,
        description: verdict.policy,
        accepted,
        changedCells: changed
      };
  }
}

/** One row of the details dialog for a signature. */
export interface ISignatureRow {
  principal: string;
  role: string;
  when: string;
  valid: string;
  trusted: string;
  reason: string;
}

/** Human words for each signature, for the details dialog. */
export function signatureRows(verdict: ISigningVerdict): ISignatureRow[] {
  return verdict.signatures.map(result => ({
    principal: result.principal,
    role: result.role,
    when: formatTime(result.signed_at),
    valid: result.valid ? 'valid' : 'invalid',
    // Trust is only judged for a signature that is valid.
    trusted: !result.valid ? '—' : result.trusted ? 'trusted' : 'not trusted',
    reason: result.reason
  }));
}

/** An ISO time as `2026-11-24 23:08 UTC`; anything else unchanged. */
export function formatTime(iso: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  if (match === null) {
    return iso;
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  const text = date.toISOString();
  return `${text.slice(0, 10)} ${text.slice(11, 16)} UTC`;
}
