/**
 * "Findings accepted here": the findings the user accepted on this server (in the
 * blocked-save dialog), to review and undo one by one. It says where an acceptance
 * applies (this server only) and how to make one that travels with the notebook.
 */
import { Dialog, Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { showBodyDialog } from '../dialogs';
import {
  AcceptedFindingsModel,
  IAcceptedAPI,
  IAcceptedListing,
  IAcceptedRow,
  IUndoneFinding
} from '../models/accepted';
import { AcceptedFindings } from './acceptedView';
import { notifyFailure } from '../notices';
import { requestAPI } from '../request';

/** The REST API of the bypass store: `GET` and `DELETE /qsecure/bypass`. */
export const ACCEPTED_API: IAcceptedAPI = {
  list: () => requestAPI<IAcceptedListing>('bypass'),
  undo: (id: string) =>
    requestAPI<IUndoneFinding>(`bypass?id=${encodeURIComponent(id)}`, {
      method: 'DELETE'
    })
};

/** Undo one acceptance, and say what follows for the next save. */
async function undoRow(
  model: AcceptedFindingsModel,
  row: IAcceptedRow,
  trans: TranslationBundle
): Promise<void> {
  let undone: IUndoneFinding;
  try {
    undone = await model.undo(row.id);
  } catch (error) {
    notifyFailure(
      trans.__('undo accepted findings'),
      trans.__('Not undone'),
      error,
      trans
    );
    return;
  }
  Notification.info(
    undone.still_accepted
      ? trans.__(
          'Undone, but another acceptance on this server still lets %1 through.',
          row.what
        )
      : trans.__('Undone: saves holding %1 are blocked again.', row.what),
    { autoClose: 6000 }
  );
}

/** Open "Findings accepted here" (Secure menu). */
export async function showAcceptedFindings(
  trans: TranslationBundle,
  api: IAcceptedAPI = ACCEPTED_API
): Promise<void> {
  const model = new AcceptedFindingsModel(api, trans);
  void model.refresh();
  await showBodyDialog(
    trans.__('Findings accepted here'),
    () => (
      <AcceptedFindings
        model={model}
        undo={row => void undoRow(model, row, trans)}
        trans={trans}
      />
    ),
    [Dialog.cancelButton({ label: trans.__('Close') })],
    'jp-qsecure-AcceptedDialog'
  );
}
