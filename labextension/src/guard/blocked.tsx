import React from 'react';

import {
  BYPASS_LABELS,
  IFindingGroup,
  IFindingRow,
  blockedSummary,
  groupFindings
} from '../models/findings';
import { BYPASS_REASONS, BypassReason, IFinding } from '../tokens';
import { GUARD_GUIDE } from '../guides';
import { Translate, english } from '../models/errors';

/** What the user can do about one finding. */
export interface IFindingActions {
  goToCell: (finding: IFinding) => void;
  moveToSecret: (finding: IFinding) => void;
  addPragma: (finding: IFinding) => void;
  clearOutput: (finding: IFinding) => void;
  /** Asks for a confirmation first; only then is anything recorded. */
  accept: (finding: IFinding, reason: BypassReason) => void;
}

/** Props of {@link BlockedSave}. */
export interface IBlockedSaveProps {
  path: string;
  findings: IFinding[];
  /** The server's message, shown when the findings could not be listed. */
  message: string;
  /** Whether the file is a notebook open in the editor (cell actions possible). */
  notebookOpen: boolean;
  /** A cell's source by index, for the group headings (null when unknown). */
  sourceOf?: (index: number) => string | null;
  /** A cell's type by index (the pragma is only offered where a comment fits). */
  typeOf?: (index: number) => string | null;
  actions: IFindingActions;
  /** jupyter-qsecure's strings in the user's language (English by default). */
  trans?: Translate;
}

/**
 * The blocked-save dialog's body: the findings grouped per cell, each with the fixes that
 * remove or allowlist it in the notebook first, and accepting it on this server last,
 * folded away, with a reason to choose.
 */
export function BlockedSave(props: IBlockedSaveProps): JSX.Element {
  const trans = props.trans ?? english;
  const groups = groupFindings(props.findings, props.sourceOf);
  const count = props.findings.length;
  return (
    <div className="jp-qsecure-BlockedSave">
      <p className="jp-qsecure-BlockedSave-summary" role="alert">
        {blockedSummary(props.path, Math.max(count, 1))}
      </p>
      {groups.length === 0 ? (
        <p>{props.message}</p>
      ) : (
        groups.map(group => (
          <FindingGroup
            key={String(group.cellIndex)}
            group={group}
            {...props}
          />
        ))
      )}
      <p className="jp-qsecure-Hint">
        {trans.__(
          'Move to secret store: the value leaves the notebook and reaches this notebook\u2019s kernel as an environment variable. Add pragma: the line is accepted everywhere the notebook goes (this server, jupyter qsecure scan, the pre-commit hook). Accepting on this server only lets this server save it.'
        )}{' '}
        <a
          href={GUARD_GUIDE}
          target="_blank"
          rel="noopener noreferrer"
          className="jp-qsecure-Link"
        >
          {trans.__('Guide to the leak guard')}
        </a>
      </p>
    </div>
  );
}

function FindingGroup(
  props: IBlockedSaveProps & { group: IFindingGroup }
): JSX.Element {
  const { group } = props;
  return (
    <section className="jp-qsecure-FindingGroup" aria-label={group.label}>
      <h3 className="jp-qsecure-FindingGroup-title">{group.label}</h3>
      <ul className="jp-qsecure-Findings">
        {group.rows.map(row => (
          <FindingItem
            key={row.key}
            row={row}
            cellType={
              row.finding.cell_index === null
                ? null
                : (props.typeOf?.(row.finding.cell_index) ?? 'code')
            }
            notebookOpen={props.notebookOpen}
            actions={props.actions}
            trans={props.trans ?? english}
          />
        ))}
      </ul>
    </section>
  );
}

function FindingItem(props: {
  row: IFindingRow;
  cellType: string | null;
  notebookOpen: boolean;
  actions: IFindingActions;
  trans: Translate;
}): JSX.Element {
  const { row, actions, trans } = props;
  const [reason, setReason] = React.useState<BypassReason | ''>('');
  const label = `${row.kind} at ${row.where}`;
  const editable = props.notebookOpen && row.inCell;
  return (
    <li className="jp-qsecure-Finding" aria-label={label}>
      <div className="jp-qsecure-Finding-what">
        <span className="jp-qsecure-Finding-where">{row.where}</span>
        <span className="jp-qsecure-Finding-kind">{row.kind}</span>
        <code
          className="jp-qsecure-Finding-preview"
          aria-label="masked preview"
        >
          {row.preview}
        </code>
      </div>
      <div className="jp-qsecure-Finding-actions">
        {editable && row.movable && props.cellType === 'code' && (
          <button
            type="button"
            className="jp-mod-styled jp-mod-accept jp-qsecure-Button"
            onClick={() => actions.moveToSecret(row.finding)}
          >
            {trans.__('Move to secret store…')}
          </button>
        )}
        {editable && row.movable && (
          <button
            type="button"
            className="jp-mod-styled jp-qsecure-Button"
            title={trans.__(
              'Adds "pragma: allowlist secret" to this line: the guard, jupyter qsecure scan and the pre-commit hook accept it wherever the notebook goes.'
            )}
            onClick={() => actions.addPragma(row.finding)}
          >
            {trans.__('Add pragma to the line')}
          </button>
        )}
        {editable && row.inOutput && (
          <button
            type="button"
            className="jp-mod-styled jp-mod-accept jp-qsecure-Button"
            onClick={() => actions.clearOutput(row.finding)}
          >
            {trans.__('Clear output')}
          </button>
        )}
        {editable && (
          <button
            type="button"
            className="jp-mod-styled jp-qsecure-Button"
            onClick={() => actions.goToCell(row.finding)}
          >
            {trans.__('Go to cell')}
          </button>
        )}
      </div>
      <details className="jp-qsecure-Finding-accept">
        <summary>{trans.__('Accept it on this server instead…')}</summary>
        <p className="jp-qsecure-Muted">
          {trans.__(
            'Only this Jupyter server will save it: jupyter qsecure scan and the pre-commit hook still report it. To accept it everywhere, add the pragma or record it in the repository\u2019s .secrets.baseline.'
          )}
        </p>
        <select
          className="jp-mod-styled"
          aria-label={`Reason to accept the ${row.kind}`}
          value={reason}
          onChange={event => setReason(event.target.value as BypassReason | '')}
        >
          <option value="">{trans.__('Choose a reason…')}</option>
          {BYPASS_REASONS.map(r => (
            <option key={r} value={r}>
              {BYPASS_LABELS[r]}
            </option>
          ))}
        </select>
        <button
          type="button"
          className="jp-mod-styled jp-qsecure-Button jp-qsecure-Button-quiet"
          disabled={reason === ''}
          onClick={() => reason !== '' && actions.accept(row.finding, reason)}
        >
          {trans.__('Accept on this server…')}
        </button>
      </details>
    </li>
  );
}
