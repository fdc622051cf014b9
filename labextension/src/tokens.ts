/**
 * The shapes the jupyter-qsecure REST API sends and receives. Values of secrets never
 * appear in any of them: only names, kinds, masked previews and fingerprints.
 */

/** One signature's verdict, as `GET /qsecure/signature` reports it. */
export interface ISignatureResult {
  index: number;
  principal: string;
  role: string;
  signed_at: string;
  fingerprint: string;
  valid: boolean;
  trusted: boolean;
  reason: string;
  /** Ids of the cells that differ from what this signature covered. */
  changed_cells: string[];
}

/** The signing verdict of a notebook (saved, or the editor's unsaved content). */
export interface ISigningVerdict {
  path: string;
  /** `unsigned`, `signed and valid`, `modified since signing`, `invalid signature`, `untrusted signer`. */
  status: string;
  meets_policy: boolean;
  /** The policy's explanation, e.g. "needs 2 valid trusted signatures, has 1". */
  policy: string;
  required: number;
  require_roles: string[];
  signatures: ISignatureResult[];
}

/** The answer of `POST /qsecure/sign`. */
export interface ISignResponse extends ISigningVerdict {
  signature: {
    principal: string;
    role: string;
    key_fingerprint: string;
    signed_at: string;
  };
}

/** Roles a signature can carry. */
export const SIGNING_ROLES = ['author', 'reviewer', 'approver'] as const;
export type SigningRole = (typeof SIGNING_ROLES)[number];

/** One credential the guard found: where, what kind, a masked preview. Never the value. */
export interface IFinding {
  rule: string;
  kind: string;
  preview: string;
  fingerprint: string;
  /** `source`, `outputs[2].text/plain`, `metadata`, `attachments[a.txt]`, or `text` for a file. */
  field: string;
  /** 1-based line within the field. */
  line: number;
  /** 0-based cell index, or null outside cells. */
  cell_index: number | null;
  cell_id: string | null;
}

/** The answer of `POST /qsecure/scan`. */
export interface IScanResult {
  path: string;
  findings: IFinding[];
}

/** Reasons a finding may be accepted for; each is recorded in the audit trail. */
export const BYPASS_REASONS = [
  'false_positive',
  'test_credential',
  'will_rotate'
] as const;
export type BypassReason = (typeof BYPASS_REASONS)[number];

/** One secret of the policy as `GET /qsecure/secrets` lists it. */
export interface ISecretRow {
  name: string;
  /** The reference, e.g. `keyring://qsecure/NAME` or `vault://secret/data/x#token`. */
  source: string;
  /** `keyring`, `vault`, `file`, `env`... */
  provider: string;
  writable: boolean;
  notebooks: string[];
  kernels: string[] | null;
  users: string[] | null;
  /** Whether the policy grants it to the notebook asked about. */
  granted: boolean;
  /** Whether a running kernel of that notebook received it. */
  in_kernel: boolean;
  problem: string | null;
  /** A grant the user made (stored by the server), not one of the admin's policy file. */
  personal: boolean;
}

/** The answer of `GET /qsecure/secrets?path=`. */
export interface ISecretsListing {
  path: string | null;
  policy: string | null;
  policy_error: string | null;
  personal_grants: boolean;
  secrets: ISecretRow[];
}

/** What a provenance badge says of a code cell. */
export type ProvenanceBadge =
  'executed' | 'edited' | 'outputs-changed' | 'never-executed';

/**
 * The dataset manifest that lists a file a cell read: the dataset's name, its tag
 * manifest's digest, the trusted signers, the file's place in the manifest.
 */
export interface IDatasetLink {
  name?: string;
  location?: string;
  algorithm?: string;
  manifest_sha256?: string;
  signed_by?: string[];
  signature?: string;
  files?: number;
  path?: string;
  file?: number;
  matches?: boolean;
}

/** A file a cell read or wrote, with its digest then. */
export interface IFileRecord {
  path: string;
  sha256?: string | null;
  dataset?: IDatasetLink;
}

/** The execution record a cell carries (`metadata.qsecure.execution`). */
export interface IExecutionRecord {
  record_id?: string;
  kernel_session?: string;
  execution_count?: number | null;
  started?: string;
  ended?: string;
  duration_ms?: number;
  status?: string;
  ename?: string;
  files?: { read?: IFileRecord[]; written?: IFileRecord[] };
  subprocesses?: unknown[];
  network?: unknown[];
}

/** A random seed a cell set (`random.seed`, NumPy, PyTorch), its value masked. */
export interface ISeedRecord {
  source?: string;
  value?: string;
}

/** What the server checked of a cell's record: files (changed since?), seeds... */
export interface ICellEvidence {
  files_read?: Array<IFileRecord & { changed?: boolean }>;
  files_written?: IFileRecord[];
  subprocesses?: unknown[];
  network?: unknown[];
  seeds?: ISeedRecord[];
}

/** One code cell's provenance verdict. */
export interface IProvenanceCell {
  number: number;
  cell_id: string | null;
  verdict: string;
  badge: ProvenanceBadge;
  detail: string;
  execution: IExecutionRecord | null;
  evidence?: ICellEvidence;
}

/** A cell that ran in this session and was deleted since, named by its first line. */
export interface IDeletedCell {
  cell_id: string | null;
  first_line: string | null;
}

/** One entry of the execution timeline. */
export interface ITimelineEntry {
  record_id: string;
  cell_id: string | null;
  /** The cell's first line when it ran (names a cell deleted since). */
  first_line?: string | null;
  execution_count: number | null;
  kernel_session: string;
  started: string;
  status: string;
}

/** The answer of `GET|POST /qsecure/provenance`. */
export interface IProvenanceReport {
  path: string;
  ok: boolean;
  user: string | null;
  kernel_session: string | null;
  environment: Record<string, unknown> | null;
  timeline: ITimelineEntry[];
  out_of_order: string[];
  hidden_state: string[];
  files_changed: string[];
  /** Why order and hidden state cannot be judged at all (empty when they can). */
  cannot_judge: string[];
  deleted_cells: IDeletedCell[];
  cells: IProvenanceCell[];
}

/** A JSON error from the API: `{reason, message}`. */
export interface IApiError {
  reason: string;
  message: string;
}

/** Whether the leak guard is running: `on`, `off` (turned off by the admin's policy), or
 * `unavailable` (jupyter-qsecure did not load completely: saves are refused). */
export type GuardMode = 'on' | 'off' | 'unavailable';

/** The answer of `GET /qsecure/status`. */
export interface IGuardStatus {
  /** Whether jupyter-qsecure loaded completely. */
  ready: boolean;
  /** The server extension's version, or null when it is not known. */
  version: string | null;
  guard: GuardMode;
  /** `qsecure-unavailable` when not ready. */
  reason?: string;
  /** What went wrong and where to read more, when not ready. */
  message?: string;
}
