/**
 * The signing setup and the Sign dialog's preview: which key, principal and role signing
 * will use, what to send to `POST /qsecure/signing/setup`, and the warnings (cells named)
 * a signer should read first. Pure functions over the server's answers, so Jest tests
 * them without a browser.
 */
import { Translate } from './errors';

import { IFinding, IProvenanceReport } from '../tokens';

/** A key the server could sign with (public fingerprint only, never key material). */
export interface IKeyCandidate {
  /** `~/.ssh/NAME.pub`, or `agent:SHA256:...` for a key only the ssh-agent holds. */
  id: string;
  source: 'agent' | 'file';
  key_type: string;
  fingerprint: string;
  comment: string;
}

/** The user's own setup, as stored on the server. */
export interface IPersonalSetup {
  key: string;
  principal: string;
  fingerprint: string;
  key_type: string;
  updated: string;
}

/** The answer of `GET|POST /qsecure/signing/setup`. */
export interface ISigningSetupAnswer {
  setup: IPersonalSetup | null;
  /** The key signing will use: the admin's (`policy`) or the user's own (`personal`). */
  key: {
    source: 'policy' | 'personal';
    id: string;
    fingerprint: string | null;
  } | null;
  principal: string;
  /** Where verification takes its trust from. */
  trust: 'policy' | 'personal' | null;
  /** The roles the verifier's policy grants the principal. */
  granted_roles: string[];
  default_principal: string;
  candidates: IKeyCandidate[];
  /** Why no agent key is listed (empty when the agent answered). */
  agent: string;
  ssh_dir: string;
  path?: string;
  /** With `?path=`: findings the saved notebook holds only because they were accepted. */
  accepted_findings?: IFinding[];
}

/** What the setup dialog chose: an existing key, or a new one to generate. */
export type SetupChoice =
  { kind: 'key'; key: string } | { kind: 'generate'; noPassphrase: boolean };

/** The characters a principal may not hold (as the server checks them). */
const PRINCIPAL_FORBIDDEN = /[\s,*?!"'\\#]/;

/** Why a principal cannot be used, or null when it can. */
export function principalProblem(
  value: string,
  trans: Translate
): string | null {
  if (value.trim() === '') {
    return trans.__(
      'Give who signs, one word such as alice@lab.example (your e-mail address).'
    );
  }
  if (value.length > 200 || PRINCIPAL_FORBIDDEN.test(value)) {
    return trans.__(
      'Use one word without spaces, commas, quotes, # or the wildcards * ? ! (e.g. alice@lab.example).'
    );
  }
  return null;
}

/** Why the choice cannot be saved yet, or null. */
export function choiceProblem(
  choice: SetupChoice | null,
  trans: Translate
): string | null {
  if (choice === null) {
    return trans.__('Pick a key, or generate one.');
  }
  if (choice.kind === 'generate' && !choice.noPassphrase) {
    return trans.__(
      'A key generated here has no passphrase: tick the box to confirm, or pick a key held by your ssh-agent.'
    );
  }
  return null;
}

/** The body of `POST /qsecure/signing/setup` for a choice and a principal. */
export function setupBody(
  choice: SetupChoice,
  principal: string
): Record<string, unknown> {
  if (choice.kind === 'generate') {
    return {
      generate: true,
      no_passphrase: choice.noPassphrase,
      principal
    };
  }
  return { key: choice.key, principal };
}

/** The principal the setup dialog starts with: the user's own, else what the server
 * would use (the policy's, git's user.email, the user name). */
export function initialPrincipal(answer: ISigningSetupAnswer): string {
  return (
    answer.setup?.principal ?? (answer.principal || answer.default_principal)
  );
}

/** The choice the setup dialog starts with: the current key, else the first listed,
 * else generating one. */
export function initialChoice(answer: ISigningSetupAnswer): SetupChoice {
  const current = answer.setup?.key;
  if (current && answer.candidates.some(c => c.id === current)) {
    return { kind: 'key', key: current };
  }
  if (answer.candidates.length > 0) {
    return { kind: 'key', key: answer.candidates[0].id };
  }
  return { kind: 'generate', noPassphrase: false };
}

/** One line naming a key for a list: type, fingerprint, where it is. */
export function candidateLabel(
  candidate: IKeyCandidate,
  trans: Translate
): string {
  const where =
    candidate.source === 'agent'
      ? trans.__('in ssh-agent')
      : candidate.id.replace(/\.pub$/, '');
  const comment = candidate.comment ? ` “${candidate.comment}”` : '';
  return `${candidate.key_type} ${candidate.fingerprint} (${where})${comment}`;
}

/** What the Sign dialog shows: the key, principal and role signing will use. */
export interface ISigningPlan {
  /** Whether a key is set up (else the dialog offers the setup). */
  ready: boolean;
  key: string;
  principal: string;
  role: string;
  /** A warning when the verifier's policy does not grant the role to the principal. */
  roleWarning: string | null;
  /** Where trust comes from, said for the signer. */
  trust: string;
}

/** The plan of signing as `role` with the server's setup answer. */
export function signingPlan(
  answer: ISigningSetupAnswer,
  role: string,
  trans: Translate
): ISigningPlan {
  const key = answer.key;
  const keyText =
    key === null
      ? trans.__('no key set up')
      : key.source === 'policy'
        ? trans.__(
            '%1 (the server key set by the administrator)',
            key.fingerprint ?? key.id
          )
        : trans.__(
            '%1 (your key %2)',
            key.fingerprint ?? key.id,
            key.id.replace(/\.pub$/, '')
          );
  const granted = answer.granted_roles.includes(role);
  const trust =
    answer.trust === 'policy'
      ? trans.__("Verified against the administrator's allowed signers.")
      : answer.trust === 'personal'
        ? trans.__(
            'Verified against your personal allowed signers on this server (it grants the author role only).'
          )
        : trans.__(
            'No allowed signers file: nobody will trust this signature until a reviewer adds your key.'
          );
  return {
    ready: key !== null,
    key: keyText,
    principal: answer.principal,
    role,
    roleWarning: granted
      ? null
      : trans.__(
          'The policy does not grant the role %1 to %2: this signature will not count as %1.',
          role,
          answer.principal
        ),
    trust
  };
}

/** A notebook cell as the Sign dialog names it: its id and its first line. */
export interface ICellName {
  id: string;
  firstLine: string;
}

/** "Cell 3 (“x = 1”)": the position JupyterLab shows (1-based) and the first line. */
export function cellName(
  cells: ICellName[],
  index: number,
  trans: Translate
): string {
  const line = cells[index]?.firstLine.trim() ?? '';
  const shown = line.length > 60 ? `${line.slice(0, 59)}…` : line;
  return shown
    ? trans.__('Cell %1 (“%2”)', index + 1, shown)
    : trans.__('Cell %1', index + 1);
}

/**
 * What a signer should know before signing: each code cell whose provenance is not clean
 * (edited after it ran, outputs changed, never executed), what the provenance cannot
 * judge, and each accepted finding, the cells named.
 */
export function signingWarnings(
  provenance: IProvenanceReport | null,
  accepted: IFinding[],
  cells: ICellName[],
  trans: Translate
): string[] {
  const warnings: string[] = [];
  const indexOf = (id: string | null, fallback: number | null): number => {
    const found = id === null ? -1 : cells.findIndex(cell => cell.id === id);
    return found >= 0 ? found : (fallback ?? -1);
  };
  if (provenance === null) {
    warnings.push(
      trans.__('The provenance of this notebook could not be checked.')
    );
  } else {
    for (const cell of provenance.cells) {
      const index = indexOf(cell.cell_id, null);
      const name =
        index >= 0
          ? cellName(cells, index, trans)
          : trans.__('Code cell %1', cell.number);
      switch (cell.badge) {
        case 'edited':
          warnings.push(trans.__('%1 was edited after it ran.', name));
          break;
        case 'outputs-changed':
          warnings.push(
            trans.__(
              '%1 shows outputs that differ from what it produced.',
              name
            )
          );
          break;
        case 'never-executed':
          warnings.push(trans.__('%1 was never executed.', name));
          break;
        default:
          break;
      }
    }
    for (const problem of [
      ...(provenance.cannot_judge ?? []),
      ...provenance.out_of_order,
      ...provenance.hidden_state,
      ...provenance.files_changed
    ]) {
      warnings.push(trans.__('Provenance: %1', problem));
    }
  }
  for (const finding of accepted) {
    const index = indexOf(finding.cell_id, finding.cell_index);
    const where =
      index >= 0 ? cellName(cells, index, trans) : trans.__('The notebook');
    warnings.push(
      trans.__(
        '%1 holds an accepted finding: %2 %3 (line %4).',
        where,
        finding.kind,
        finding.preview,
        finding.line
      )
    );
  }
  return warnings;
}
