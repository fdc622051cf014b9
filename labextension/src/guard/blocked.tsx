import React from 'react';

import {
  BYPASS_LABELS,
  IFindingRow,
  blockedSummary,
  findingRows
} from '../models/findings';
import { BYPASS_REASONS, BypassReason, IFinding } from '../tokens';

/** What the user can do about one finding. */
export interface IFindingActions {
  goToCell: (finding: IFinding) => void;
  moveToSecret: (finding: IFinding) => void;
  clearOutput: (finding: IFinding) => void;
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
  actions: IFindingActions;
}

/** The blocked-save dialog's body: each finding, where it is, and what to do. */
export function BlockedSave(props: IBlockedSaveProps): JSX.Element {
  const rows = findingRows(props.findings);
  return (
    <div className="jp-qsecure-BlockedSave">
      <p className="jp-qsecure-BlockedSave-summary" role="alert">
        {blockedSummary(props.path, Math.max(rows.length, 1))}
      </p>
      {rows.length === 0 ? (
        <p>{props.message}</p>
      ) : (
        <ul className="jp-qsecure-Findings" aria-label="Credentials found">
          {rows.map(row => (
            <FindingItem
              key={row.key}
              row={row}
              notebookOpen={props.notebookOpen}
              actions={props.actions}
            />
          ))}
        </ul>
      )}
      <p className="jp-qsecure-Hint">
        A secret moved to the store reaches this notebook&apos;s kernel as an
        environment variable, granted to this notebook only. Accepting a finding
        is recorded in the audit trail with its reason.
      </p>
    </div>
  );
}

function FindingItem(props: {
  row: IFindingRow;
  notebookOpen: boolean;
  actions: IFindingActions;
}): JSX.Element {
  const { row, actions } = props;
  const [reason, setReason] = React.useState<BypassReason>('false_positive');
  const label = `${row.kind} at ${row.where}`;
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
        {props.notebookOpen && row.inCell && (
          <button
            type="button"
            className="jp-mod-styled jp-qsecure-Button"
            onClick={() => actions.goToCell(row.finding)}
          >
            Go to cell
          </button>
        )}
        {props.notebookOpen && row.movable && (
          <button
            type="button"
            className="jp-mod-styled jp-mod-accept jp-qsecure-Button"
            onClick={() => actions.moveToSecret(row.finding)}
          >
            Move to secret store…
          </button>
        )}
        {props.notebookOpen && row.inOutput && (
          <button
            type="button"
            className="jp-mod-styled jp-qsecure-Button"
            onClick={() => actions.clearOutput(row.finding)}
          >
            Clear cell output
          </button>
        )}
        <span className="jp-qsecure-Finding-accept">
          <select
            className="jp-mod-styled"
            aria-label={`Reason to accept the ${row.kind}`}
            value={reason}
            onChange={event => setReason(event.target.value as BypassReason)}
          >
            {BYPASS_REASONS.map(r => (
              <option key={r} value={r}>
                {BYPASS_LABELS[r]}
              </option>
            ))}
          </select>
          <button
            type="button"
            className="jp-mod-styled jp-mod-warn jp-qsecure-Button"
            onClick={() => actions.accept(row.finding, reason)}
          >
            Mark as {BYPASS_LABELS[reason].toLowerCase()}
          </button>
        </span>
      </div>
    </li>
  );
}
