/**
 * Whether the leak guard runs on this server, from `GET /qsecure/status`: what the status
 * bar shows, and how a save refused because jupyter-qsecure is not running is explained.
 */
import { IGuardStatus } from '../tokens';
import { QSecureError, Translate } from './errors';

/** The reason of every answer given while jupyter-qsecure is not running. */
export const UNAVAILABLE_REASON = 'qsecure-unavailable';
/** The status of a save refused while jupyter-qsecure is not running. */
export const UNAVAILABLE_STATUS = 503;

/** What the status bar knows of the guard; `unknown` until the server has answered. */
export type Availability = 'on' | 'off' | 'unavailable' | 'unknown';

/** What the status bar shows of the guard's availability. */
export interface IAvailabilitySummary {
  state: Availability;
  /** Whether the status bar shows an item (only when the guard is not on). */
  shown: boolean;
  /** Short text for the status bar, e.g. "Leak guard unavailable". */
  label: string;
  /** A longer explanation for the tooltip, screen readers and the details dialog. */
  description: string;
  /** The server's message (the load error and the log to read), if it sent one. */
  message: string;
}

/**
 * The status to assume when `GET /qsecure/status` failed, or null when the failure says
 * nothing about the guard (the server is unreachable, the user may not ask...). A 404
 * means jupyter-qsecure is not loaded at all: the server refuses every save.
 */
export function statusFromError(
  error: QSecureError,
  trans: Translate
): IGuardStatus | null {
  if (error.status === 404) {
    return {
      ready: false,
      version: null,
      guard: 'unavailable',
      reason: UNAVAILABLE_REASON,
      message: trans.__(
        'jupyter-qsecure is not loaded on this server (its status route is missing); saves are refused until it is; see the server log'
      )
    };
  }
  if (
    error.status === UNAVAILABLE_STATUS &&
    error.reason === UNAVAILABLE_REASON
  ) {
    return {
      ready: false,
      version: null,
      guard: 'unavailable',
      reason: error.reason,
      message: error.message
    };
  }
  return null;
}

/** Summarise the server's status (null: not known yet) for the status bar. */
export function summarizeAvailability(
  status: IGuardStatus | null,
  trans: Translate
): IAvailabilitySummary {
  if (status === null) {
    return {
      state: 'unknown',
      shown: false,
      label: '',
      description: trans.__('The leak guard status is not known yet.'),
      message: ''
    };
  }
  const message = status.message ?? '';
  if (!status.ready || status.guard === 'unavailable') {
    return {
      state: 'unavailable',
      shown: true,
      label: trans.__('Leak guard unavailable'),
      description: trans.__(
        'jupyter-qsecure is not running on this server, so every save is refused until it is: your work stays in the editor. Ask your admin, or read the server log.'
      ),
      message
    };
  }
  if (status.guard === 'off') {
    return {
      state: 'off',
      shown: true,
      label: trans.__('Leak guard off'),
      description: trans.__(
        'The admin turned the leak guard off in the policy ([guard] enabled = false): saves are not scanned for credentials.'
      ),
      message
    };
  }
  return {
    state: 'on',
    shown: false,
    label: trans.__('Leak guard on'),
    description: trans.__(
      'Every save is scanned for credentials before it is written.'
    ),
    message
  };
}

/** The explanation of a save refused because jupyter-qsecure is not running. */
export function unavailableSaveText(path: string, trans: Translate): string {
  const file = path.split('/').pop() || path;
  return trans.__(
    '%1 was not saved: the server refused the save because jupyter-qsecure, which checks every save for credentials, is not running. Nothing was written and your work is still in the editor. Ask your admin, or read the server log, then save again.',
    file
  );
}
