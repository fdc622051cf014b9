/**
 * What the user sees when the leak guard is not on: the status bar button, its details,
 * and the explanation of a save refused because jupyter-qsecure is not running.
 */
import React from 'react';

import {
  IAvailabilitySummary,
  unavailableSaveText
} from '../models/availability';
import { Translate } from '../models/errors';

/** Props of {@link GuardStatusButton}. */
export interface IGuardStatusButtonProps {
  summary: IAvailabilitySummary;
  trans: Translate;
  onClick: () => void;
}

/** The status bar's button: "Leak guard unavailable" or "Leak guard off". */
export function GuardStatusButton(props: IGuardStatusButtonProps): JSX.Element {
  const { summary, trans } = props;
  const details = [summary.description, summary.message]
    .filter(Boolean)
    .join(' ');
  return (
    <button
      type="button"
      className="jp-qsecure-GuardStatus-button"
      data-state={summary.state}
      title={details}
      aria-label={trans.__('%1. Show details.', summary.label)}
      onClick={props.onClick}
    >
      <span className="jp-qsecure-GuardStatus-mark" aria-hidden="true">
        !
      </span>
      <span className="jp-qsecure-GuardStatus-label">{summary.label}</span>
    </button>
  );
}

/** Props of {@link GuardDetails}. */
export interface IGuardDetailsProps {
  summary: IAvailabilitySummary;
  version: string | null;
  trans: Translate;
}

/** The details dialog of the status bar's button. */
export function GuardDetails(props: IGuardDetailsProps): JSX.Element {
  const { summary, trans } = props;
  return (
    <div className="jp-qsecure-GuardDetails" data-state={summary.state}>
      <p>{summary.description}</p>
      {summary.message !== '' && (
        <p>
          {trans.__('The server says:')}{' '}
          <span className="jp-qsecure-GuardDetails-message">
            {summary.message}
          </span>
        </p>
      )}
      {props.version !== null && (
        <p className="jp-qsecure-Muted">
          {trans.__('jupyter-qsecure %1', props.version)}
        </p>
      )}
    </div>
  );
}

/** Props of {@link UnavailableSave}. */
export interface IUnavailableSaveProps {
  path: string;
  /** The server's message: the load error and the log to read. */
  message: string;
  trans: Translate;
}

/** The body of the dialog for a save refused because jupyter-qsecure is not running. */
export function UnavailableSave(props: IUnavailableSaveProps): JSX.Element {
  const { trans } = props;
  return (
    <div className="jp-qsecure-UnavailableSave">
      <p className="jp-qsecure-UnavailableSave-summary" role="alert">
        {unavailableSaveText(props.path, trans)}
      </p>
      {props.message !== '' && (
        <p>
          {trans.__('The server says:')}{' '}
          <span className="jp-qsecure-UnavailableSave-message">
            {props.message}
          </span>
        </p>
      )}
    </div>
  );
}
