import { NotebookPanel } from '@jupyterlab/notebook';
import { VDomModel, VDomRenderer } from '@jupyterlab/ui-components';
import { Debouncer } from '@lumino/polling';
import { Widget } from '@lumino/widgets';
import React from 'react';

import { ISigningSummary, summarizeSigning } from '../models/signing';
import { notebookContent } from '../notebook';
import { errorMessage, jsonBody, requestAPI } from '../request';
import { ISigningVerdict } from '../tokens';

/** How long the editor must be quiet before the status is recomputed after an edit. */
const EDIT_DEBOUNCE_MS = 600;

/**
 * The signing state of the active notebook, recomputed on open, on each edit (debounced)
 * and after each save, from the editor's content as it is now.
 */
export class SigningStatusModel extends VDomModel {
  private _panel: NotebookPanel | null = null;
  private _verdict: ISigningVerdict | null = null;
  private _error: string | null = null;
  private _checking = false;
  private _generation = 0;
  private readonly _debouncer = new Debouncer(
    () => this.refresh(),
    EDIT_DEBOUNCE_MS
  );

  get panel(): NotebookPanel | null {
    return this._panel;
  }

  set panel(panel: NotebookPanel | null) {
    if (panel === this._panel) {
      return;
    }
    this._disconnect();
    this._panel = panel;
    // An answer still on its way is the previous notebook's: never shown for this one.
    this._generation++;
    this._verdict = null;
    this._error = null;
    this._checking = false;
    if (panel !== null) {
      panel.context.saveState.connect(this._onSaveState, this);
      panel.context.fileChanged.connect(this._onFileChanged, this);
      panel.context.model.contentChanged.connect(this._onEdit, this);
      panel.disposed.connect(this._onDisposed, this);
      panel.context.ready.then(() => this.refresh()).catch(() => undefined); // a notebook that fails to load says so itself
    }
    this.stateChanged.emit();
  }

  get verdict(): ISigningVerdict | null {
    return this._verdict;
  }

  get error(): string | null {
    return this._error;
  }

  get checking(): boolean {
    return this._checking;
  }

  get summary(): ISigningSummary {
    return summarizeSigning(this._verdict);
  }

  /** Verify the editor's current content now. */
  async refresh(): Promise<void> {
    const panel = this._panel;
    const content = panel === null ? null : notebookContent(panel);
    if (panel === null || content === null) {
      return;
    }
    const generation = ++this._generation;
    this._checking = true;
    this.stateChanged.emit();
    try {
      const verdict = await requestAPI<ISigningVerdict>(
        'signature',
        jsonBody('POST', { path: panel.context.path, notebook: content })
      );
      if (generation === this._generation) {
        this._verdict = verdict;
        this._error = null;
      }
    } catch (error) {
      if (generation === this._generation) {
        this._verdict = null;
        this._error = errorMessage(error);
      }
    } finally {
      if (generation === this._generation) {
        this._checking = false;
        this.stateChanged.emit();
      }
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._disconnect();
    this._debouncer.dispose();
    super.dispose();
  }

  private _disconnect(): void {
    const panel = this._panel;
    if (panel === null) {
      return;
    }
    panel.context.saveState.disconnect(this._onSaveState, this);
    panel.context.fileChanged.disconnect(this._onFileChanged, this);
    panel.context.model?.contentChanged.disconnect(this._onEdit, this);
    panel.disposed.disconnect(this._onDisposed, this);
  }

  private _onSaveState(_: unknown, state: string): void {
    if (state === 'completed') {
      void this.refresh();
    }
  }

  private _onFileChanged(): void {
    void this.refresh();
  }

  private _onEdit(): void {
    void this._debouncer.invoke();
  }

  private _onDisposed(): void {
    this.panel = null;
  }
}

/** What the status shows: its state (a colour), its label and its longer description. */
export function statusView(model: SigningStatusModel): {
  state: string;
  label: string;
  description: string;
} {
  const summary = model.summary;
  return {
    state: model.error !== null ? 'unknown' : summary.state,
    label:
      model.error !== null
        ? 'Signing: unavailable'
        : model.verdict === null
          ? 'Signing: checking…'
          : summary.label,
    description: model.error ?? summary.description
  };
}

/** The status bar item: the signing state, a button that opens the details. */
export class SigningStatusItem extends VDomRenderer<SigningStatusModel> {
  constructor(
    model: SigningStatusModel,
    private readonly _open: () => void
  ) {
    super(model);
    this.addClass('jp-qsecure-SigningStatus');
  }

  protected render(): JSX.Element | null {
    const model = this.model;
    if (model.panel === null) {
      return null;
    }
    const { state, label, description } = statusView(model);
    this.node.dataset.state = state;
    return (
      <button
        type="button"
        className="jp-qsecure-SigningStatus-button"
        data-state={state}
        title={`${description} Click for the signature details.`}
        aria-label={`Notebook signing: ${label}. Show signature details.`}
        onClick={this._open}
      >
        <span className="jp-qsecure-SigningStatus-dot" aria-hidden="true" />
        <span className="jp-qsecure-SigningStatus-label">{label}</span>
      </button>
    );
  }
}

/**
 * The same status as a widget whose node is the button itself, for a frontend without a
 * status bar (Notebook 7 shows it beside its menu bar, where its own statuses are).
 */
export class SigningStatusButton extends Widget {
  private readonly _label = document.createElement('span');

  constructor(
    private readonly _model: SigningStatusModel,
    open: () => void
  ) {
    super({ node: document.createElement('button') });
    const button = this.node as HTMLButtonElement;
    button.type = 'button';
    this.addClass('jp-qsecure-SigningStatus');
    this.addClass('jp-qsecure-SigningStatus-button');
    const dot = document.createElement('span');
    dot.className = 'jp-qsecure-SigningStatus-dot';
    dot.setAttribute('aria-hidden', 'true');
    this._label.className = 'jp-qsecure-SigningStatus-label';
    button.append(dot, this._label);
    button.addEventListener('click', () => open());
    _model.stateChanged.connect(this._show, this);
    this._show();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.stateChanged.disconnect(this._show, this);
    super.dispose();
  }

  private _show(): void {
    const { state, label, description } = statusView(this._model);
    this.node.dataset.state = state;
    this.node.title = `${description} Click for the signature details.`;
    this.node.setAttribute(
      'aria-label',
      `Notebook signing: ${label}. Show signature details.`
    );
    this._label.textContent = label;
  }
}
