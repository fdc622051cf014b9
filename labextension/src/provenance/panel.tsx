import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Debouncer } from '@lumino/polling';
import React from 'react';

import {
  BADGES,
  datasetLabel,
  environmentSummary,
  provenanceHeadline
} from '../models/provenance';
import { cellLabel, firstLine } from '../models/findings';
import { formatTime } from '../models/signing';
import { cellIndexById, goToCell, notebookContent } from '../notebook';
import { translationBundle } from '../notices';
import { errorMessage, jsonBody, requestAPI } from '../request';
import {
  IProvenanceCell,
  IProvenanceReport,
  ISeedRecord,
  ProvenanceBadge
} from '../tokens';
import { applyBadges, clearBadges } from './badges';
import { provenanceIcon } from '../icons';
import { PROVENANCE_GUIDE } from '../guides';

/** Quiet time after an execution or an edit before the report is fetched again. */
const UPDATE_DEBOUNCE_MS = 400;

/** What the settings change in the panel. */
export interface IProvenanceSettings {
  /** Whether the cells carry badges. */
  badges: boolean;
  /** Quiet time after an execution or an edit before the report is fetched again. */
  debounceMs: number;
}

/**
 * The provenance panel (right sidebar): per code cell a badge, the execution timeline,
 * files read and written, and the environment. Badges also go into the cells' prompts.
 */
export class ProvenancePanel extends ReactWidget {
  private _panel: NotebookPanel | null = null;
  private _report: IProvenanceReport | null = null;
  private _error: string | null = null;
  private _generation = 0;
  private _debouncer = new Debouncer(() => this.refresh(), UPDATE_DEBOUNCE_MS);
  private _debounceMs = UPDATE_DEBOUNCE_MS;
  private _badges = true;

  constructor(
    private readonly _tracker: INotebookTracker,
    private readonly _trans: TranslationBundle = translationBundle()
  ) {
    super();
    this.id = 'jp-qsecure-provenance';
    this.addClass('jp-qsecure-Panel');
    this.title.icon = provenanceIcon;
    this.title.caption = 'Provenance';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Provenance of the active notebook');
    _tracker.currentChanged.connect(this._onCurrentChanged, this);
    NotebookActions.executed.connect(this._onExecuted, this);
    this._onCurrentChanged();
  }

  /** Apply the user's settings. */
  configure(settings: IProvenanceSettings): void {
    this._badges = settings.badges;
    if (this._debounceMs !== settings.debounceMs) {
      this._debounceMs = settings.debounceMs;
      this._debouncer.dispose();
      this._debouncer = new Debouncer(
        () => this.refresh(),
        Math.max(0, settings.debounceMs)
      );
    }
    if (this._panel !== null && this._report !== null) {
      if (this._badges) {
        applyBadges(this._panel, this._report);
      } else {
        clearBadges(this._panel);
      }
    }
  }

  /** The report currently shown. */
  get report(): IProvenanceReport | null {
    return this._report;
  }

  /** Fetch the report for the active notebook's current content. */
  async refresh(): Promise<void> {
    const panel = this._panel;
    const content = panel === null ? null : notebookContent(panel);
    if (panel === null || content === null) {
      this._report = null;
      this.update();
      return;
    }
    const generation = ++this._generation;
    try {
      const report = await requestAPI<IProvenanceReport>(
        'provenance',
        jsonBody('POST', { path: panel.context.path, notebook: content })
      );
      if (generation !== this._generation) {
        return;
      }
      this._report = report;
      this._error = null;
      if (this._badges) {
        applyBadges(panel, report);
      }
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      this._report = null;
      this._error = errorMessage(error);
    }
    this.update();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._debouncer.dispose();
    this._watch(null);
    super.dispose();
  }

  protected render(): JSX.Element {
    const panel = this._panel;
    if (panel === null) {
      return <Empty text="Open a notebook to see its provenance." />;
    }
    if (this._error !== null) {
      return <Empty text={`No provenance: ${this._error}`} />;
    }
    const report = this._report;
    if (report === null) {
      return <Empty text="Loading provenance…" />;
    }
    return (
      <ProvenanceView
        report={report}
        name={panel.title.label}
        trans={this._trans}
        labelOf={id => {
          const index = cellIndexById(panel, id);
          return index < 0
            ? null
            : cellLabel(
                index,
                panel.content.widgets[index].model.sharedModel.getSource()
              );
        }}
        goToCell={id => void goToCell(panel, cellIndexById(panel, id))}
      />
    );
  }

  private _watch(panel: NotebookPanel | null): void {
    const old = this._panel;
    if (old !== null && !old.isDisposed) {
      old.context.saveState.disconnect(this._onSaved, this);
      old.context.model?.contentChanged.disconnect(this._onChange, this);
    }
    this._panel = panel;
    if (panel !== null) {
      panel.context.saveState.connect(this._onSaved, this);
      panel.context.ready
        .then(() => {
          if (this._panel === panel) {
            panel.context.model.contentChanged.connect(this._onChange, this);
            void this.refresh();
          }
        })
        .catch(() => undefined); // a notebook that fails to load says so itself
    }
  }

  private _onCurrentChanged(): void {
    // A report still on its way is the previous notebook's: never shown for this one.
    this._generation++;
    this._report = null;
    this._error = null;
    this._watch(this._tracker.currentWidget);
    this.update();
  }

  private _onExecuted(_: unknown, args: { notebook: unknown }): void {
    if (this._panel !== null && args.notebook === this._panel.content) {
      void this._debouncer.invoke();
    }
  }

  private _onSaved(_: unknown, state: string): void {
    if (state === 'completed') {
      void this._debouncer.invoke();
    }
  }

  private _onChange(): void {
    void this._debouncer.invoke();
  }
}

function Empty(props: { text: string }): JSX.Element {
  return (
    <div className="jp-qsecure-Panel-body">
      <h2 className="jp-qsecure-Panel-title">Provenance</h2>
      <p className="jp-qsecure-Empty">{props.text}</p>
    </div>
  );
}

/** Props of {@link ProvenanceView}. */
export interface IProvenanceViewProps {
  report: IProvenanceReport;
  name: string;
  goToCell: (cellId: string) => void;
  /** How the notebook names a cell now ("Cell 3: import os"), or null if it is gone. */
  labelOf?: (cellId: string) => string | null;
  trans?: TranslationBundle;
}

/** The badges in the order the legend lists them. */
const LEGEND: ProvenanceBadge[] = [
  'executed',
  'edited',
  'outputs-changed',
  'never-executed'
];

/** What each badge means, always visible (not only in a tooltip). */
export function BadgeLegend(props: { trans: TranslationBundle }): JSX.Element {
  return (
    <dl className="jp-qsecure-Legend" aria-label={props.trans.__('Badges')}>
      {LEGEND.map(badge => (
        <div key={badge} className="jp-qsecure-Legend-item">
          <dt>
            <span className="jp-qsecure-Badge" data-badge={badge}>
              {BADGES[badge].symbol}
            </span>{' '}
            {BADGES[badge].label}
          </dt>
          <dd>{BADGES[badge].explanation}</dd>
        </div>
      ))}
    </dl>
  );
}

/** The report: summary, cells with badges, notebook-wide findings, timeline, environment. */
export function ProvenanceView(props: IProvenanceViewProps): JSX.Element {
  const { report } = props;
  const trans = props.trans ?? translationBundle();
  const warnings = [
    ...(report.cannot_judge ?? []),
    ...(report.deleted_cells ?? []).map(deleted =>
      trans.__(
        'A deleted cell ran in this session: %1',
        deleted.first_line
          ? firstLine(deleted.first_line)
          : trans.__('(its first line is unknown)')
      )
    ),
    ...report.out_of_order,
    ...report.hidden_state,
    ...report.files_changed
  ];
  const environment = environmentSummary(report.environment);
  return (
    <div className="jp-qsecure-Panel-body">
      <h2 className="jp-qsecure-Panel-title">Provenance of {props.name}</h2>
      <p className="jp-qsecure-Provenance-headline" data-ok={report.ok}>
        {provenanceHeadline(report)}
      </p>
      {warnings.length > 0 && (
        <ul className="jp-qsecure-Warnings" aria-label="Provenance warnings">
          {warnings.map((w, i) => (
            <li key={i}>{w}</li>
          ))}
        </ul>
      )}
      <h3 className="jp-qsecure-Heading">Cells</h3>
      <ul className="jp-qsecure-ProvenanceCells">
        {report.cells.map(cell => (
          <CellRow
            key={cell.cell_id ?? cell.number}
            cell={cell}
            label={
              (cell.cell_id !== null ? props.labelOf?.(cell.cell_id) : null) ??
              trans.__('Code cell %1', cell.number)
            }
            goToCell={props.goToCell}
          />
        ))}
      </ul>
      <details className="jp-qsecure-LegendBox" open>
        <summary>{trans.__('What the badges mean')}</summary>
        <BadgeLegend trans={trans} />
      </details>
      <h3 className="jp-qsecure-Heading">Timeline</h3>
      {report.timeline.length === 0 ? (
        <p className="jp-qsecure-Empty">No recorded executions.</p>
      ) : (
        <ol className="jp-qsecure-Timeline" reversed>
          {[...report.timeline]
            .reverse()
            .slice(0, 50)
            .map(entry => (
              <li key={entry.record_id} data-status={entry.status}>
                <span>{formatTime(entry.started)}</span>{' '}
                <span>[{entry.execution_count ?? ' '}]</span>{' '}
                <span>{entry.status}</span>
                {entry.first_line ? (
                  <code> {firstLine(entry.first_line)}</code>
                ) : null}
              </li>
            ))}
        </ol>
      )}
      <h3 className="jp-qsecure-Heading">Environment</h3>
      {environment.length === 0 ? (
        <p className="jp-qsecure-Empty">No environment recorded yet.</p>
      ) : (
        <dl className="jp-qsecure-Environment">
          {environment.map(([label, value]) => (
            <React.Fragment key={label}>
              <dt>{label}</dt>
              <dd>{value}</dd>
            </React.Fragment>
          ))}
        </dl>
      )}
      <p>
        <a
          href={PROVENANCE_GUIDE}
          target="_blank"
          rel="noopener noreferrer"
          className="jp-qsecure-Link"
        >
          {trans.__('Guide to provenance')}
        </a>
      </p>
    </div>
  );
}

function CellRow(props: {
  cell: IProvenanceCell;
  label: string;
  goToCell: (id: string) => void;
}): JSX.Element {
  const { cell } = props;
  // The verdict's evidence when the server sends it, else the record's own list.
  const seeds = (
    cell.evidence?.seeds ??
    (cell.execution as { seeds?: ISeedRecord[] } | null)?.seeds ??
    []
  ).filter(seed => typeof seed === 'object' && seed !== null);
  const badge = BADGES[cell.badge];
  const files = cell.execution?.files ?? {};
  const read = files.read ?? [];
  const written = files.written ?? [];
  return (
    <li className="jp-qsecure-ProvenanceCell" data-badge={cell.badge}>
      <span
        className="jp-qsecure-Badge"
        data-badge={cell.badge}
        aria-hidden="true"
      >
        {badge.symbol}
      </span>
      {cell.cell_id !== null ? (
        <button
          type="button"
          className="jp-qsecure-LinkButton"
          title={badge.explanation}
          onClick={() => props.goToCell(cell.cell_id as string)}
        >
          {props.label} — {badge.label}
        </button>
      ) : (
        <span title={badge.explanation}>
          {props.label} — {badge.label}
        </span>
      )}
      {cell.execution?.duration_ms !== undefined && (
        <span className="jp-qsecure-Muted">
          {' '}
          · {Math.round(cell.execution.duration_ms)} ms
        </span>
      )}
      {(read.length > 0 || written.length > 0) && (
        <ul className="jp-qsecure-Files">
          {read.map(f => (
            <li key={`r:${f.path}`}>
              read {f.path}
              {f.dataset && typeof f.dataset === 'object' && (
                <span className="jp-qsecure-Dataset">
                  {' '}
                  · {datasetLabel(f.dataset)}
                </span>
              )}
            </li>
          ))}
          {written.map(f => (
            <li key={`w:${f.path}`}>wrote {f.path}</li>
          ))}
        </ul>
      )}
      {seeds.length > 0 && (
        <ul className="jp-qsecure-Files" aria-label="Random seeds">
          {seeds.map((seed, i) => (
            <li key={`s:${i}`}>
              seed {seed.source ?? '?'}({seed.value ?? ''})
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}
