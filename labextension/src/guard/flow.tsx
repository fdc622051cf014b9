import {
  Dialog,
  InputDialog,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { ICodeCellModel } from '@jupyterlab/cells';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import type { Message } from '@lumino/messaging';
import React from 'react';

import { showBodyDialog } from '../dialogs';
import { GUARD_GUIDE } from '../guides';
import {
  BYPASS_LABELS,
  PragmaError,
  addPragma,
  cellLabel,
  describeLocation,
  isSecretName,
  suggestSecretName
} from '../models/findings';
import {
  ReplaceError,
  locateCredential,
  replaceCredential
} from '../models/literal';
import { withAllOccurrences } from '../models/occurrences';
import { cellIndexById, goToCell, notebookContent } from '../notebook';
import { notifyFailure, translationBundle } from '../notices';
import { jsonBody, requestAPI } from '../request';
import { BypassReason, IFinding, ISecretsListing } from '../tokens';
import { storeAndGrant } from '../secrets/store';
import { BlockedSave } from './blocked';

/** Hooks the blocked-save flow calls when secrets change (to refresh the panels). */
export interface IBlockedSaveOptions {
  tracker: INotebookTracker;
  onSecretsChanged?: () => void;
  /** jupyter-qsecure's strings in the user's language. */
  trans?: TranslationBundle;
}

/** How long after the user asked for a save its refusal opens the dialog. */
const EXPLICIT_SAVE_MS = 15000;

/**
 * Carries out what the user picks for a refused save. A save the user asked for (the
 * Save command, or a fix from the dialog) opens the blocked-save dialog; every refusal,
 * autosaves included, keeps a notice on the document until a save goes through, so an
 * autosave never pops a dialog up. Every fix ends by saving again (which reopens the
 * dialog if findings remain); Cancel leaves the unsaved work in the editor.
 */
export class BlockedSaveFlow {
  private readonly _open = new Set<string>();
  private readonly _explicit = new Map<string, number>();
  private readonly _notices = new Map<string, BlockedNotice>();
  private readonly _trans: TranslationBundle;
  /** Whether a refused autosave opens the dialog too (a setting; off by default). */
  dialogOnAutosave = false;

  constructor(private readonly _options: IBlockedSaveOptions) {
    this._trans = _options.trans ?? translationBundle();
  }

  /** The user asked to save ``path`` (its refusal, if any, opens the dialog). */
  saveRequested(path: string, now = Date.now()): void {
    this._explicit.set(path, now);
  }

  /**
   * A save of ``path`` went through: the save the user asked for is over, so a later
   * refusal (an autosave's) leaves only the notice.
   */
  saveCompleted(path: string): void {
    this._explicit.delete(path);
  }

  /** Whether a refusal of ``path`` now follows a save the user asked for. */
  private _takeExplicit(path: string, now = Date.now()): boolean {
    const asked = this._explicit.get(path);
    this._explicit.delete(path);
    return asked !== undefined && now - asked <= EXPLICIT_SAVE_MS;
  }

  /**
   * A save of ``path`` was refused for ``findings``: the status bar says the save
   * failed, the document shows a notice, and a save the user asked for opens the dialog.
   */
  async refused(
    path: string,
    findings: IFinding[],
    message: string
  ): Promise<void> {
    const panel = this._panelFor(path);
    const explicit = this._takeExplicit(path);
    let all = findings;
    if (panel !== null) {
      markSaveFailed(panel);
      all = await withAllOccurrences(findings, notebookContent(panel));
      this._showNotice(panel, path, all, message);
    }
    if (explicit || panel === null || this.dialogOnAutosave) {
      await this.show(path, all, message);
    }
  }

  /** The notice on the document of ``path``, if a refusal put one there. */
  notice(path: string): BlockedNotice | null {
    return this._notices.get(path) ?? null;
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
    const trans = this._trans;
    try {
      const panel = this._panelFor(path);
      const cells = panel?.content.widgets ?? [];
      // An action closes the dialog first; it runs once the dialog is gone.
      const choice: { action?: () => Promise<void> } = {};
      await showBodyDialog(
        trans.__('Save blocked: credentials found'),
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
              sourceOf={i => cells[i]?.model.sharedModel.getSource() ?? null}
              typeOf={i => cells[i]?.model.type ?? null}
              trans={trans}
              actions={{
                goToCell: f => choose(() => this._goToCell(panel, f)),
                moveToSecret: f =>
                  choose(() => this._moveToSecret(panel, path, f)),
                addPragma: f => choose(() => this._addPragma(panel, f)),
                clearOutput: f => choose(() => this._clearOutput(panel, f)),
                accept: (f, reason) =>
                  choose(() => this._accept(panel, path, f, reason))
              }}
            />
          );
        },
        [Dialog.cancelButton({ label: trans.__('Cancel') })],
        'jp-qsecure-Dialog jp-qsecure-BlockedSaveDialog'
      );
      this._open.delete(path);
      await choice.action?.();
    } finally {
      this._open.delete(path);
    }
  }

  private _showNotice(
    panel: NotebookPanel,
    path: string,
    findings: IFinding[],
    message: string
  ): void {
    let notice = this._notices.get(path);
    if (notice === undefined || notice.isDisposed) {
      const created = new BlockedNotice(this._trans, () => {
        const current = this._notices.get(path);
        if (current !== undefined) {
          void this.show(path, current.findings, current.message);
        }
      });
      notice = created;
      this._notices.set(path, created);
      panel.contentHeader.addWidget(created);
      const cleared = (_: unknown, state: DocumentRegistry.SaveState): void => {
        if (state === 'completed') {
          panel.context.saveState.disconnect(cleared);
          this._notices.delete(path);
          created.dispose();
        }
      };
      panel.context.saveState.connect(cleared);
      created.disposed.connect(() =>
        panel.context.saveState.disconnect(cleared)
      );
    }
    notice.setFindings(findings, message);
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
    try {
      await storeAndGrant(name, located.value, path);
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
    await saveAgain(panel, this);
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
      await saveAgain(panel, this);
    }
  }

  private async _addPragma(
    panel: NotebookPanel | null,
    finding: IFinding
  ): Promise<void> {
    if (panel === null) {
      return;
    }
    const cell = panel.content.widgets[this._cellIndex(panel, finding)];
    if (cell === undefined) {
      return;
    }
    const type = cell.model.type;
    try {
      cell.model.sharedModel.setSource(
        addPragma(
          cell.model.sharedModel.getSource(),
          finding.line,
          type as 'code' | 'markdown' | 'raw'
        )
      );
    } catch (error) {
      const text = error instanceof PragmaError ? error.message : String(error);
      Notification.error(text, { autoClose: false });
      return;
    }
    await saveAgain(panel, this);
  }

  private async _accept(
    panel: NotebookPanel | null,
    path: string,
    finding: IFinding,
    reason: BypassReason
  ): Promise<void> {
    const trans = this._trans;
    const confirmed = await showDialog({
      title: trans.__('Accept this %1 on this server?', finding.kind),
      body: (
        <AcceptConfirmation
          finding={finding}
          reason={reason}
          path={path}
          trans={trans}
        />
      ),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Keep it blocked') }),
        Dialog.createButton({
          label: trans.__('Accept on this server'),
          accept: true,
          className: 'jp-qsecure-Button-quiet'
        })
      ],
      defaultButton: 0
    });
    if (!confirmed.button.accept) {
      return;
    }
    try {
      await requestAPI(
        'bypass',
        jsonBody('POST', {
          fingerprint: finding.fingerprint,
          reason,
          path,
          kind: finding.kind,
          preview: finding.preview
        })
      );
    } catch (error) {
      notifyFailure(
        trans.__('accept findings'),
        trans.__('Not accepted'),
        error,
        trans
      );
      return;
    }
    Notification.info(
      trans.__(
        '%1 accepted on this server as %2; Secure › Findings Accepted Here undoes it.',
        finding.kind,
        BYPASS_LABELS[reason].toLowerCase()
      ),
      { autoClose: 5000 }
    );
    if (panel !== null) {
      await saveAgain(panel, this);
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

/** The status bar's saving item says "Saving failed" (a cancelled save says nothing). */
function markSaveFailed(panel: NotebookPanel): void {
  const signal = panel.context.saveState as unknown as {
    emit?: (state: DocumentRegistry.SaveState) => void;
  };
  // The refusal cancels the save, which JupyterLab treats as silent: left alone, the
  // status bar would stay on "Saving started".
  setTimeout(() => signal.emit?.('failed'), 0);
}

/** Save a notebook; a refused save has already explained itself. */
async function saveAgain(
  panel: NotebookPanel,
  flow: BlockedSaveFlow
): Promise<void> {
  flow.saveRequested(panel.context.path);
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

/** What accepting a finding stores, and where it applies; shown before anything is. */
function AcceptConfirmation(props: {
  finding: IFinding;
  reason: BypassReason;
  path: string;
  trans: TranslationBundle;
}): JSX.Element {
  const { finding, reason, trans } = props;
  return (
    <div className="jp-qsecure-AcceptConfirmation">
      <p>
        {trans.__(
          'This Jupyter server will store, in the bypass file of its data directory (bypasses.json): the fingerprint of the %1 %2 (a one-way digest, not the value), its kind and masked preview, the reason “%3”, your user name, %4 and the time. The audit trail records it too. Secure › Findings accepted here lists it, to review or undo.',
          finding.kind,
          finding.preview,
          BYPASS_LABELS[reason],
          props.path
        )}
      </p>
      <p>
        {trans.__(
          'From then on this server saves that value in any notebook. It applies on this server only: jupyter qsecure scan and the pre-commit hook still report it. For an acceptance that travels with the notebook, add the pragma to the line or record it in the repository’s .secrets.baseline instead.'
        )}
      </p>
      <a
        href={GUARD_GUIDE}
        target="_blank"
        rel="noopener noreferrer"
        className="jp-qsecure-Link"
      >
        {trans.__('Allowlisting, in the guide to the leak guard')}
      </a>
    </div>
  );
}

/**
 * The notice a refused save leaves on the document, until a save goes through: what
 * was found and where, and a button to the dialog with the fixes. Autosaves update it
 * rather than opening a dialog each time.
 */
export class BlockedNotice extends ReactWidget {
  private _findings: IFinding[] = [];
  private _message = '';

  constructor(
    private readonly _trans: TranslationBundle,
    private readonly _review: () => void
  ) {
    super();
    this.addClass('jp-qsecure-BlockedNotice');
    this.node.setAttribute('role', 'status');
    // The document's header panel sizes its children by their minimum height: follow
    // the rendered notice's height (it wraps in a narrow window).
    this._resize = new ResizeObserver(() => this._fit());
  }

  private readonly _resize: ResizeObserver;

  private _fit(): void {
    const body = this.node.firstElementChild as HTMLElement | null;
    const height = body?.offsetHeight ?? 0;
    if (height > 0 && this.node.style.minHeight !== `${height}px`) {
      this.node.style.minHeight = `${height}px`;
      this.parent?.fit();
    }
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._resize.observe(this.node);
  }

  protected onUpdateRequest(msg: Message): void {
    super.onUpdateRequest(msg);
    requestAnimationFrame(() => {
      const body = this.node.firstElementChild;
      if (body !== null) {
        this._resize.observe(body);
      }
      this._fit();
    });
  }

  dispose(): void {
    this._resize.disconnect();
    super.dispose();
  }

  /** The findings of the last refused save. */
  get findings(): IFinding[] {
    return this._findings;
  }

  /** The server's message of the last refused save. */
  get message(): string {
    return this._message;
  }

  /** Show the findings of the latest refused save. */
  setFindings(findings: IFinding[], message: string): void {
    this._findings = findings;
    this._message = message;
    this.update();
  }

  protected render(): JSX.Element {
    const trans = this._trans;
    const where = [
      ...new Set(
        this._findings.map(f =>
          f.cell_index === null
            ? describeLocation(f)
            : cellLabel(f.cell_index, null)
        )
      )
    ].join(', ');
    const count = this._findings.length;
    return (
      <div className="jp-qsecure-BlockedNotice-body">
        <span className="jp-qsecure-BlockedNotice-text">
          {count === 0
            ? trans.__('Not saved: %1', this._message)
            : trans._n(
                'Not saved: a credential is in %2. Saves and autosaves are refused until it is fixed; your work is still in the editor.',
                'Not saved: %1 credentials are in %2. Saves and autosaves are refused until they are fixed; your work is still in the editor.',
                count,
                where
              )}
        </span>
        <button
          type="button"
          className="jp-mod-styled jp-mod-accept jp-qsecure-Button"
          onClick={() => this._review()}
        >
          {trans.__('Review and fix…')}
        </button>
      </div>
    );
  }
}
