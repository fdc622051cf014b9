import React from 'react';

import { ISigningSummary, signatureRows } from '../models/signing';
import { ISigningVerdict } from '../tokens';

/** Props of {@link SignatureDetails}. */
export interface ISignatureDetailsProps {
  verdict: ISigningVerdict;
  summary: ISigningSummary;
  /** Human label of a changed cell (e.g. "Cell 3"), or null when it is gone. */
  cellLabel: (cellId: string) => string | null;
  goToCell: (cellId: string) => void;
}

/** Each signature (principal, role, when, valid, trusted) and the cells that changed. */
export function SignatureDetails(props: ISignatureDetailsProps): JSX.Element {
  const { verdict, summary } = props;
  const rows = signatureRows(verdict);
  return (
    <div className="jp-qsecure-SignatureDetails" data-state={summary.state}>
      <p className="jp-qsecure-SignatureDetails-summary">
        {summary.description}
      </p>
      <p className="jp-qsecure-SignatureDetails-policy">
        Policy: {verdict.policy}
      </p>
      {rows.length === 0 ? (
        <p>No signatures yet.</p>
      ) : (
        <table className="jp-qsecure-Table" aria-label="Signatures">
          <thead>
            <tr>
              <th scope="col">Signer</th>
              <th scope="col">Role</th>
              <th scope="col">Signed</th>
              <th scope="col">Valid</th>
              <th scope="col">Trusted</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row, i) => (
              <tr key={i} title={row.reason}>
                <td>{row.principal}</td>
                <td>{row.role}</td>
                <td>{row.when}</td>
                <td data-ok={row.valid === 'valid'}>{row.valid}</td>
                <td
                  data-ok={
                    row.trusted === '—' ? undefined : row.trusted === 'trusted'
                  }
                >
                  {row.trusted}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {rows.some(row => row.reason !== '') && (
        <ul className="jp-qsecure-SignatureDetails-reasons">
          {rows
            .filter(row => row.reason !== '')
            .map((row, i) => (
              <li key={i}>
                {row.principal}: {row.reason}
              </li>
            ))}
        </ul>
      )}
      {summary.changedCells.length > 0 && (
        <div>
          <h3 className="jp-qsecure-Heading">Changed since signing</h3>
          <ul className="jp-qsecure-ChangedCells">
            {summary.changedCells.map(id => {
              const label = props.cellLabel(id);
              return (
                <li key={id}>
                  {label === null ? (
                    <span>A deleted cell ({id})</span>
                  ) : (
                    <button
                      type="button"
                      className="jp-qsecure-LinkButton"
                      onClick={() => props.goToCell(id)}
                    >
                      {label}
                    </button>
                  )}
                </li>
              );
            })}
          </ul>
        </div>
      )}
    </div>
  );
}

/** Props of {@link RoleChoice}. */
export interface IRoleChoiceProps {
  roles: readonly string[];
  initial: string;
  onChange: (role: string) => void;
}

/** The role a signature is made in. */
export function RoleChoice(props: IRoleChoiceProps): JSX.Element {
  const [role, setRole] = React.useState(props.initial);
  return (
    <div className="jp-qsecure-RoleChoice">
      <p>
        The server signs the saved notebook with its configured SSH key or
        agent, then saves the signature into the notebook.
      </p>
      <label>
        Sign as{' '}
        <select
          className="jp-mod-styled"
          aria-label="Signing role"
          value={role}
          onChange={event => {
            setRole(event.target.value);
            props.onChange(event.target.value);
          }}
        >
          {props.roles.map(r => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}
