/**
 * The findings accepted on this server (bypasses), as "Findings accepted here" lists them
 * to review and undo. No value is ever part of them: a fingerprint, the rule's kind and a
 * masked preview.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { BYPASS_REASONS, BypassReason } from '../tokens';
import { BYPASS_LABELS } from './findings';
import { Translate, english, errorMessage } from './errors';
import { shown as escapeUnseen } from './shown';

/** One acceptance as `GET /qsecure/bypass` lists it. */
export interface IAcceptedFinding {
  /** Names it to `DELETE /qsecure/bypass?id=`. */
  id: string;
  fingerprint: string;
  reason: string;
  /** Who accepted it (the user's name on this server). */
  user: string;
  /** The notebook or file it was accepted in, relative to the server's root. */
  path: string;
  /** When, as an ISO 8601 time. */
  created: string;
  /** The rule's kind (`GitHub token`), empty when the client did not send it. */
  kind: string;
  /** The masked preview (`ghp_…7r8`), empty when none was kept. */
  preview: string;
}

/** The answer of `GET /qsecure/bypass`. */
export interface IAcceptedListing {
  accepted: IAcceptedFinding[];
}

/** The answer of `DELETE /qsecure/bypass`: the acceptance undone. */
export interface IUndoneFinding extends IAcceptedFinding {
  /** Another acceptance (another user's, or in another file) still covers the value. */
  still_accepted: boolean;
}

/** How the model reaches the server (the REST API, or a test's answers). */
export interface IAcceptedAPI {
  list(): Promise<IAcceptedListing>;
  undo(id: string): Promise<IUndoneFinding>;
}

/** One row of the view, in the user's words. */
export interface IAcceptedRow {
  id: string;
  /** What was accepted: `GitHub token ghp_…7r8`, or the fingerprint's start. */
  what: string;
  /** Where: the notebook's path. */
  path: string;
  /** Why: the reason's label (`Test credential`). */
  reason: string;
  /** Who and when: `alice, 2026-03-01 14:02`. */
  byWhen: string;
}

/** The reason's label, or the reason itself when this frontend does not know it. */
export function reasonLabel(
  reason: string,
  trans: Translate = english
): string {
  return (BYPASS_REASONS as readonly string[]).includes(reason)
    ? trans.__(BYPASS_LABELS[reason as BypassReason])
    : reason;
}

/** `2026-03-01 14:02` (UTC) from an ISO time; the text itself when it is not one. */
export function shortTime(iso: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return match === null ? iso : `${match[1]} ${match[2]} UTC`;
}

/** The rows of the view, in the server's order (newest first). */
export function acceptedRows(
  entries: IAcceptedFinding[],
  trans: Translate = english
): IAcceptedRow[] {
  return entries.map(entry => {
    const kind = entry.kind || trans.__('Finding');
    const shown =
      entry.preview ||
      trans.__('fingerprint %1', entry.fingerprint.slice(0, 8));
    // What a file or a request named (a path, a kind, a preview) is shown escaped.
    return {
      id: entry.id,
      what: escapeUnseen(`${kind} ${shown}`),
      path: escapeUnseen(entry.path),
      reason: escapeUnseen(reasonLabel(entry.reason, trans)),
      byWhen: escapeUnseen(`${entry.user}, ${shortTime(entry.created)}`)
    };
  });
}

/** The view's state: loading, the rows, or why they could not be read. */
export type AcceptedState =
  | { kind: 'loading' }
  | { kind: 'ready'; rows: IAcceptedRow[] }
  | { kind: 'failed'; message: string };

/**
 * The findings the user accepted here: loaded from the server, undone one by one. A row
 * leaves the list only once the server confirms the undo.
 */
export class AcceptedFindingsModel {
  private _state: AcceptedState = { kind: 'loading' };
  private _entries: IAcceptedFinding[] = [];
  private readonly _changed = new Signal<this, void>(this);

  constructor(
    private readonly _api: IAcceptedAPI,
    private readonly _trans: Translate = english
  ) {}

  /** Emitted when the state changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get state(): AcceptedState {
    return this._state;
  }

  /** The acceptances as the server last listed them. */
  get entries(): readonly IAcceptedFinding[] {
    return this._entries;
  }

  /** Ask the server for the list again. */
  async refresh(): Promise<void> {
    this._set({ kind: 'loading' });
    try {
      const listing = await this._api.list();
      this._entries = listing.accepted;
      this._set({
        kind: 'ready',
        rows: acceptedRows(this._entries, this._trans)
      });
    } catch (error) {
      this._entries = [];
      this._set({ kind: 'failed', message: errorMessage(error) });
    }
  }

  /**
   * Undo the acceptance ``id``; the answer says whether another acceptance still covers
   * the value. Errors (the server's message) are thrown and the list stays as it was.
   */
  async undo(id: string): Promise<IUndoneFinding> {
    const undone = await this._api.undo(id);
    this._entries = this._entries.filter(entry => entry.id !== id);
    this._set({
      kind: 'ready',
      rows: acceptedRows(this._entries, this._trans)
    });
    return undone;
  }

  private _set(state: AcceptedState): void {
    this._state = state;
    this._changed.emit();
  }
}
