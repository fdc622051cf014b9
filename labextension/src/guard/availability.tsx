/**
 * The leak guard's availability in the status bar (from `GET /qsecure/status`), and the
 * dialog for saves refused because jupyter-qsecure is not running.
 */
import { Dialog, Notification } from '@jupyterlab/apputils';
import { VDomModel, VDomRenderer } from '@jupyterlab/ui-components';
import { Poll } from '@lumino/polling';
import React from 'react';

import { showBodyDialog } from '../dialogs';
import {
  IAvailabilitySummary,
  statusFromError,
  summarizeAvailability
} from '../models/availability';
import { QSecureError, Translate } from '../models/errors';
import { requestAPI } from '../request';
import { IGuardStatus } from '../tokens';
import {
  GuardDetails,
  GuardStatusButton,
  UnavailableSave
} from './unavailable';

/** How often the status is asked again (a restart may fix or break the server). */
const STATUS_POLL_MS = 60 * 1000;

/** Whether jupyter-qsecure runs on the server, asked now and then and after a 503 save. */
export class GuardStatusModel extends VDomModel {
  private _status: IGuardStatus | null = null;
  private readonly _poll: Poll;

  constructor(private readonly _trans: Translate) {
    super();
    this._poll = new Poll({
      factory: () => this.refresh(),
      frequency: { interval: STATUS_POLL_MS, backoff: false },
      standby: 'when-hidden',
      name: 'jupyter-qsecure:guard-status'
    });
  }

  /** Ask the server every ``seconds`` (the settings' interval). */
  setInterval(seconds: number): void {
    this._poll.frequency = {
      ...this._poll.frequency,
      interval: Math.max(10, seconds) * 1000
    };
  }

  /** The server's last answer, or null before it answered. */
  get status(): IGuardStatus | null {
    return this._status;
  }

  /** What the status bar shows. */
  get summary(): IAvailabilitySummary {
    return summarizeAvailability(this._status, this._trans);
  }

  /**
   * Ask the server again. An answer that says nothing of the guard (the server is
   * unreachable, the user's role may not read it) keeps what was known.
   */
  async refresh(): Promise<IAvailabilitySummary> {
    let status: IGuardStatus | null;
    try {
      status = await requestAPI<IGuardStatus>('status');
    } catch (error) {
      status =
        error instanceof QSecureError
          ? statusFromError(error, this._trans)
          : null;
      status = status ?? this._status;
    }
    if (JSON.stringify(status) !== JSON.stringify(this._status)) {
      this._status = status;
      this.stateChanged.emit();
    }
    return this.summary;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    super.dispose();
  }
}

/** The status bar item, shown only while the guard is unavailable or off. */
export class GuardStatusItem extends VDomRenderer<GuardStatusModel> {
  constructor(
    model: GuardStatusModel,
    private readonly _trans: Translate
  ) {
    super(model);
    this.addClass('jp-qsecure-GuardStatus');
  }

  protected render(): JSX.Element | null {
    const summary = this.model.summary;
    this.node.dataset.state = summary.state;
    if (!summary.shown) {
      return null;
    }
    return (
      <GuardStatusButton
        summary={summary}
        trans={this._trans}
        onClick={() => void showGuardDetails(this.model, this._trans)}
      />
    );
  }
}

/** The details of the guard's availability (asked again first). */
export async function showGuardDetails(
  model: GuardStatusModel,
  trans: Translate
): Promise<void> {
  const summary = await model.refresh();
  await showBodyDialog(
    summary.label || trans.__('Leak guard'),
    () => (
      <GuardDetails
        summary={summary}
        version={model.status?.version ?? null}
        trans={trans}
      />
    ),
    [Dialog.cancelButton({ label: trans.__('Close') })],
    'jp-qsecure-Dialog'
  );
}

/**
 * Explains saves refused because jupyter-qsecure is not running: a dialog the first time
 * for each file, a short notice for the next ones (autosaves) until the guard is back.
 */
export class UnavailableSaveFlow {
  private readonly _told = new Set<string>();

  constructor(
    private readonly _model: GuardStatusModel,
    private readonly _trans: Translate
  ) {
    _model.stateChanged.connect(() => {
      if (_model.summary.state !== 'unavailable') {
        this._told.clear();
      }
    });
  }

  /** Tell the user a save of ``path`` was refused; ``message`` is the server's. */
  async show(path: string, message: string): Promise<void> {
    const trans = this._trans;
    void this._model.refresh();
    if (this._told.has(path)) {
      Notification.warning(
        trans.__(
          '%1 was not saved: jupyter-qsecure is not running on the server. Your work is still in the editor.',
          path
        ),
        { autoClose: 8000 }
      );
      return;
    }
    this._told.add(path);
    await showBodyDialog(
      trans.__('Save refused: jupyter-qsecure is not running'),
      () => <UnavailableSave path={path} message={message} trans={trans} />,
      [Dialog.okButton({ label: trans.__('OK') })],
      'jp-qsecure-Dialog jp-qsecure-UnavailableSaveDialog'
    );
  }
}
