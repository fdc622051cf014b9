import { Dialog, InputDialog, Notification } from '@jupyterlab/apputils';
import { ICodeCellModel } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { showBodyDialog } from '../dialogs';
import {
  BYPASS_LABELS,
  isSecretName,
  suggestSecretName
} from '../models/findings';
import {
  ReplaceError,
  locateCredential,
  replaceCredential
} from '../models/literal';
import { cellIndexById, goToCell } from '../notebook';
import { notifyFailure, translationBundle } from '../notices';
import { jsonBody, requestAPI } from '../request';
import { BypassReason, IFinding, ISecretsListing } from '../tokens';
import { BlockedSave } from './blocked';

/** Hooks the blocked-save flow calls when secrets change (to refresh the panels). */
export interface IBlockedSaveOptions {
  tracker: INotebookTracker;
  onSecretsChanged?: () => void;
  /** jupyter-qsecure's strings in the user's language. */
  trans?: TranslationBundle;
}

/**
 * Shows the blocked-save dialog and carries out what the user picks. Every action ends
 * by saving again (which shows the dialog again if findings remain); Cancel leaves the
 * unsaved work in the editor.
 */
export class BlockedSaveFlow {
  private readonly _open = new Set<string>();
  private readonly _trans: TranslationBundle;

  constructor(private readonly _options: IBlockedSaveOptions) {
    this._trans = _options.trans ?? translationBundle();
  }

  /** Show the findings of a refused save of ``path`` (one dialog per file at a time). */
  async show(
    path: string,
    findings: IFinding[],
    message: string
  ): Promise<void> {
    if (this._open.has(path)) {
      return;
    }
    this._open.add(path);
    try {
      const panel = this._panelFor(path);
      // An action closes the dialog first; it runs once the dialog is gone.
      const choice: { action?: () => Promise<void> } = {};
      await showBodyDialog(
        'Save blocked: credentials found',
        close => {
          const choose = (action: () => Promise<void>): void => {
            choice.action = action;
            close();
          };
          return (
            <BlockedSave
              path={path}
              findings={findings}
              message={message}
              notebookOpen={panel !== null}
              actions={{
                goToCell: f => choose(() => this._goToCell(panel, f)),
                moveToSecret: f =>
                  choose(() => this._moveToSecret(panel, path, f)),
                clearOutput: f => choose(() => this._clearOutput(panel, f)),
                accept: (f, reason) =>
                  choose(() => this._accept(panel, path, f, reason))
              }}
            />
          );
        },
        [Dialog.cancelButton({ label: 'Cancel' })],
        'jp-qsecure-Dialog jp-qsecure-BlockedSaveDialog'
      );
      this._open.delete(path);
      await choice.action?.();
    } finally {
      this._open.delete(path);
    }
  }

  private _panelFor(path: string): NotebookPanel | null {
    return (
      this._options.tracker.find(panel => panel.context.path === path) ?? null
    );
  }

  private _cellIndex(panel: NotebookPanel, finding: IFinding): number {
    if (finding.cell_id !== null) {
      const index = cellIndexById(panel, finding.cell_id);
      if (index >= 0) {
        return index;
      }
    }
    return finding.cell_index ?? -1;
  }

  private async _goToCell(
    panel: NotebookPanel | null,
    finding: IFinding
  ): Promise<void> {
    if (panel !== null) {
      await goToCell(panel, this._cellIndex(panel, finding));
    }
  }

  private async _moveToSecret(
    panel: NotebookPanel | null,
    path: string,
    finding: IFinding
  ): Promise<void> {
    if (panel === null) {
      return;
    }
    const index = this._cellIndex(panel, finding);
    const cell = panel.content.widgets[index];
    if (cell === undefined) {
      Notification.error(
        'That cell is gone; save again to see the current findings.'
      );
      return;
    }
    const source = cell.model.sharedModel.getSource();
    const located = await locateCredential(source, finding);
    if (located === null) {
      Notification.error(
        `The ${finding.kind} is no longer where it was found (cell ${index + 1}, line ${finding.line}): save again to see the current findings.`,
        { autoClose: false }
      );
      return;
    }
    const taken = await this._secretNames(path);
    const answer = await InputDialog.getText({
      title: 'Move to secret store',
      label: `Name of the secret for the ${finding.kind} (the notebook reads it as os.environ["NAME"])`,
      text: suggestSecretName(finding, taken),
      okLabel: 'Move'
    });
    const name = (answer.value ?? '').trim();
    if (!answer.button.accept || name === '') {
      return;
    }
    if (!isSecretName(name)) {
      Notification.error(
        `"${name}" cannot be an environment variable name: use letters, digits and _, not starting with a digit.`,
        { autoClose: false }
      );
      return;
    }
    let replaced: string;
    try {
      replaced = replaceCredential(source, located, name);
    } catch (error) {
      const text =
        error instanceof ReplaceError ? error.message : String(error);
      Notification.error(text, { autoClose: false });
      return;
    }
    const grant = `grants/${encodeURIComponent(name)}`;
    try {
      await requestAPI(grant, jsonBody('PUT', { notebook: path }));
      await requestAPI(
        `secrets/${encodeURIComponent(name)}`,
        jsonBody('PUT', { value: located.value })
      );
    } catch (error) {
      notifyFailure(
        this._trans.__('manage secrets'),
        this._trans.__('Not moved'),
        error,
        this._trans
      );
      return;
    }
    cell.model.sharedModel.setSource(replaced);
    this._options.onSecretsChanged?.();
    const refreshed = await refreshKernelSecret(panel, name);
    Notification.success(
      refreshed
        ? `${name} is in the secret store and granted to this notebook; the kernel has it.`
        : `${name} is in the secret store and granted to this notebook; restart the kernel to receive it.`,
      { autoClose: 6000 }
    );
    await saveAgain(panel);
  }

  private async _clearOutput(
    panel: NotebookPanel | null,
    finding: IFinding
  ): Promise<void> {
    if (panel === null) {
      return;
    }
    const cell = panel.content.widgets[this._cellIndex(panel, finding)];
    if (cell !== undefined && cell.model.type === 'code') {
      (cell.model as ICodeCellModel).outputs.clear();
      await saveAgain(panel);
    }
  }

  private async _accept(
    panel: NotebookPanel | null,
    path: string,
    finding: IFinding,
    reason: BypassReason
  ): Promise<void> {
    try {
      await requestAPI(
        'bypass',
        jsonBody('POST', { fingerprint: finding.fingerprint, reason, path })
      );
    } catch (error) {
      notifyFailure(
        this._trans.__('accept findings'),
        this._trans.__('Not accepted'),
        error,
        this._trans
      );
      return;
    }
    Notification.info(
      `The ${finding.kind} is accepted as ${BYPASS_LABELS[reason].toLowerCase()} for ${path} (recorded in the audit trail).`,
      { autoClose: 5000 }
    );
    if (panel !== null) {
      await saveAgain(panel);
    }
  }

  private async _secretNames(path: string): Promise<string[]> {
    try {
      const listing = await requestAPI<ISecretsListing>(
        `secrets?path=${encodeURIComponent(path)}`
      );
      return listing.secrets.map(s => s.name);
    } catch {
      return [];
    }
  }
}

/** Save a notebook; a refused save has already explained itself. */
async function saveAgain(panel: NotebookPanel): Promise<void> {
  try {
    await panel.context.save();
  } catch {
    // Blocked again (the dialog shows the remaining findings) or cancelled.
  }
}

/**
 * Ask the notebook's running kernel to re-read ``name`` from the store, silently (not
 * recorded as a cell execution). Returns whether the kernel has it now.
 */
export async function refreshKernelSecret(
  panel: NotebookPanel,
  name: string
): Promise<boolean> {
  const kernel = panel.sessionContext.session?.kernel;
  if (!kernel) {
    return false;
  }
  const code = `import jupyter_qsecure as _qsecure\n_qsecure.refresh(${JSON.stringify(name)})\ndel _qsecure`;
  try {
    const future = kernel.requestExecute({
      code,
      silent: true,
      store_history: false
    });
    const reply = await future.done;
    return reply.content.status === 'ok';
  } catch {
    return false;
  }
}
