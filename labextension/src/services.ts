/**
 * The services jupyter-qsecure's plugins provide to other extensions, as Lumino tokens:
 * the leak guard's findings for refused saves, and the signing status of the active
 * notebook. Neither ever carries a secret's value (only masked previews and fingerprints).
 */
import { ISignal } from '@lumino/signaling';
import { Token } from '@lumino/coreutils';

import { IFinding, ISigningVerdict } from './tokens';

/** The leak guard as the frontend sees it. */
export interface IQSecureGuard {
  /** The findings of the last refused save of ``path`` (empty once a save went through). */
  findings(path: string): IFinding[];
  /** Emitted with the path whenever its findings change. */
  readonly findingsChanged: ISignal<IQSecureGuard, string>;
  /** Emitted when a secret was stored or granted from a guard's dialog. */
  readonly secretsChanged: ISignal<IQSecureGuard, void>;
}

/** The guard service token. */
export const IQSecureGuard = new Token<IQSecureGuard>(
  'jupyter-qsecure:IQSecureGuard',
  "The leak guard's findings for saves it refused."
);

/** The signing status of the active notebook. */
export interface IQSecureSigning {
  /** The active notebook's verdict, or null while unknown. */
  readonly verdict: ISigningVerdict | null;
  /** Emitted when the verdict changes. */
  readonly changed: ISignal<IQSecureSigning, void>;
  /** Ask the server again. */
  refresh(): Promise<void>;
}

/** The signing status token. */
export const IQSecureSigning = new Token<IQSecureSigning>(
  'jupyter-qsecure:IQSecureSigning',
  'The signing status of the active notebook.'
);
