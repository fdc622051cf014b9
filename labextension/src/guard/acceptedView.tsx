/**
 * The body of "Findings accepted here" (see ./accepted): the user's acceptances on this
 * server, each with its Undo, and where acceptances apply. Plain React, rendered by the
 * dialog and by the tests.
 */
import React from 'react';

import { GUARD_GUIDE } from '../guides';
import { AcceptedFindingsModel, IAcceptedRow } from '../models/accepted';
import { Translate, english } from '../models/errors';

/** The list, with an Undo per entry; re-rendered when the model changes. */
export function AcceptedFindings(props: {
  model: AcceptedFindingsModel;
  undo: (row: IAcceptedRow) => void;
  trans?: Translate;
}): JSX.Element {
  const { model } = props;
  const trans = props.trans ?? english;
  const [, rerender] = React.useReducer((n: number) => n + 1, 0);
  React.useEffect(() => {
    const changed = (): void => rerender();
    model.changed.connect(changed);
    return () => {
      model.changed.disconnect(changed);
    };
  }, [model]);
  const state = model.state;
  return (
    <section className="jp-qsecure-Accepted">
      <p>
        {trans.__(
          'Each acceptance applies on this Jupyter server only, to that value in any notebook: jupyter qsecure scan and the pre-commit hook still report it. To accept a value wherever the notebook goes, add “# pragma: allowlist secret” to its line, or record it in the repository’s .secrets.baseline (detect-secrets scan --baseline .secrets.baseline), then undo it here.'
        )}
      </p>
      {state.kind === 'loading' && (
        <p className="jp-qsecure-Muted">{trans.__('Loading…')}</p>
      )}
      {state.kind === 'failed' && (
        <p className="jp-qsecure-Error" role="alert">
          {trans.__('The accepted findings cannot be read: %1', state.message)}
        </p>
      )}
      {state.kind === 'ready' && state.rows.length === 0 && (
        <p className="jp-qsecure-Accepted-empty">
          {trans.__('You have accepted no finding on this server.')}
        </p>
      )}
      {state.kind === 'ready' && state.rows.length > 0 && (
        <ul className="jp-qsecure-Accepted-list">
          {state.rows.map(row => (
            <li
              key={row.id}
              className="jp-qsecure-Accepted-item"
              aria-label={trans.__('%1 in %2', row.what, row.path)}
            >
              <div className="jp-qsecure-Accepted-what">
                <code>{row.what}</code>
                <span className="jp-qsecure-Accepted-path">{row.path}</span>
              </div>
              <div className="jp-qsecure-Muted">
                {trans.__('%1, accepted by %2', row.reason, row.byWhen)}
              </div>
              <button
                type="button"
                className="jp-mod-styled jp-qsecure-Button"
                aria-label={trans.__('Undo: %1 in %2', row.what, row.path)}
                onClick={() => props.undo(row)}
              >
                {trans.__('Undo')}
              </button>
            </li>
          ))}
        </ul>
      )}
      <a
        href={GUARD_GUIDE}
        target="_blank"
        rel="noopener noreferrer"
        className="jp-qsecure-Link"
      >
        {trans.__('Allowlisting, in the guide to the leak guard')}
      </a>
    </section>
  );
}
