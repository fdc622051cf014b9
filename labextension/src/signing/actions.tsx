import { Dialog, Notification } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { showBodyDialog } from '../dialogs';
import { summarizeSigning } from '../models/signing';
import { cellIndexById, goToCell } from '../notebook';
import { notifyFailure, translationBundle } from '../notices';
import { jsonBody, requestAPI } from '../request';
import { ISignResponse, ISigningVerdict, SIGNING_ROLES } from '../tokens';
import { RoleChoice, SignatureDetails } from './details';

/** Show each signature and the changed cells (links to them) of a verdict. */
export async function showSignatureDetails(
  panel: NotebookPanel,
  verdict: ISigningVerdict,
  title = 'Notebook signatures'
): Promise<void> {
  const summary = summarizeSigning(verdict);
  const cellLabel = (id: string): string | null => {
    const index = cellIndexById(panel, id);
    return index < 0 ? null : `Cell ${index + 1}`;
  };
  await showBodyDialog(
    title,
    close => (
      <SignatureDetails
        verdict={verdict}
        summary={summary}
        cellLabel={cellLabel}
        goToCell={id => {
          close();
          void goToCell(panel, cellIndexById(panel, id));
        }}
      />
    ),
    [Dialog.cancelButton({ label: 'Close' })],
    'jp-qsecure-Dialog'
  );
}

/** Verify the saved notebook's signatures (recorded in the audit trail) and show them. */
export async function verifyNotebook(
  panel: NotebookPanel,
  trans: TranslationBundle = translationBundle()
): Promise<void> {
  const path = panel.context.path;
  try {
    const verdict = await requestAPI<ISigningVerdict>(
      `signature?path=${encodeURIComponent(path)}`
    );
    const unsaved = panel.context.model.dirty ? ' (saved version)' : '';
    await showSignatureDetails(
      panel,
      verdict,
      `Signatures of ${panel.title.label}${unsaved}`
    );
  } catch (error) {
    notifyFailure(
      trans.__('verify signatures'),
      trans.__('Cannot verify %1', path),
      error,
      trans
    );
  }
}

/**
 * Ask for a role, save the notebook if it has unsaved work, sign it on the server and
 * load the signed file. Returns the server's answer, or null if nothing was signed.
 */
export async function signNotebook(
  panel: NotebookPanel,
  trans: TranslationBundle = translationBundle()
): Promise<ISignResponse | null> {
  let role: string = SIGNING_ROLES[0];
  const choice = await showBodyDialog(
    `Sign ${panel.title.label}`,
    () => (
      <RoleChoice
        roles={SIGNING_ROLES}
        initial={role}
        onChange={r => (role = r)}
      />
    ),
    [Dialog.cancelButton(), Dialog.okButton({ label: 'Sign' })],
    'jp-qsecure-Dialog'
  );
  if (!choice.button.accept) {
    return null;
  }
  const context = panel.context;
  if (context.model.dirty) {
    try {
      await context.save();
    } catch {
      return null; // a blocked save explains itself; nothing to sign until it is saved
    }
    if (context.model.dirty) {
      return null;
    }
  }
  try {
    const answer = await requestAPI<ISignResponse>(
      'sign',
      jsonBody('POST', { path: context.path, role })
    );
    await context.revert();
    Notification.success(
      `Signed as ${answer.signature.role}. ${summarizeSigning(answer).description}`,
      { autoClose: 5000 }
    );
    return answer;
  } catch (error) {
    notifyFailure(
      trans.__('sign notebooks'),
      trans.__('Not signed'),
      error,
      trans
    );
    return null;
  }
}
