import { Dialog, Notification } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { showBodyDialog } from '../dialogs';
import { summarizeSigning } from '../models/signing';
import {
  ICellName,
  ISigningSetupAnswer,
  signingWarnings
} from '../models/signingSetup';
import { cellIndexById, goToCell, notebookContent } from '../notebook';
import { notifyFailure, translationBundle } from '../notices';
import { QSecureError, jsonBody, requestAPI } from '../request';
import {
  IProvenanceReport,
  ISignResponse,
  ISigningVerdict,
  SIGNING_ROLES
} from '../tokens';
import { RoleChoice, SignatureDetails } from './details';
import { SignPreview, fetchSetup, showSigningSetup } from './setup';

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

/** Whether an error is the server's "no signing key is set up". */
function noKey(error: unknown): boolean {
  return (
    error instanceof QSecureError && error.reason === 'qsecure-no-signing-key'
  );
}

/** Offer the signing setup when no key is set up; resolves with the answer to use, or
 * null when the user does not set one up. */
async function offerSetup(
  trans: TranslationBundle
): Promise<ISigningSetupAnswer | null> {
  const choice = await showBodyDialog(
    trans.__('No signing key set up'),
    () => (
      <p>
        {trans.__(
          'No SSH key is set up for you to sign with on this server. Pick a key from your ssh-agent or ~/.ssh, or generate one.'
        )}
      </p>
    ),
    [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Set up Signing…') })
    ],
    'jp-qsecure-Dialog'
  );
  return choice.button.accept ? showSigningSetup(trans) : null;
}

/** The cells of the notebook as the Sign dialog names them (id and first line). */
function cellNames(panel: NotebookPanel): ICellName[] {
  return panel.content.widgets.map(cell => ({
    id: cell.model.id,
    firstLine: cell.model.sharedModel.getSource().split('\n', 1)[0] ?? ''
  }));
}

/** What the signer should read before signing: provenance and accepted findings. */
async function warningsFor(
  panel: NotebookPanel,
  answer: ISigningSetupAnswer,
  trans: TranslationBundle
): Promise<string[]> {
  let provenance: IProvenanceReport | null = null;
  try {
    provenance = await requestAPI<IProvenanceReport>(
      'provenance',
      jsonBody('POST', {
        path: panel.context.path,
        notebook: notebookContent(panel)
      })
    );
  } catch {
    provenance = null; // said in the warnings: it could not be checked
  }
  return signingWarnings(
    provenance,
    answer.accepted_findings ?? [],
    cellNames(panel),
    trans
  );
}

/** The setup answer with the saved notebook's accepted findings (without them when the
 * notebook is not saved yet); null when the server cannot say. */
async function setupFor(path: string): Promise<ISigningSetupAnswer | null> {
  try {
    return await fetchSetup(path);
  } catch {
    return fetchSetup().catch(() => null);
  }
}

/**
 * Show the key, principal and role signing will use and the warnings (cells named), ask
 * for a role, offer the setup when no key is set up, save the notebook if it has unsaved
 * work, sign it on the server and load the signed file. Returns the server's answer, or
 * null if nothing was signed.
 */
export async function signNotebook(
  panel: NotebookPanel,
  trans: TranslationBundle = translationBundle()
): Promise<ISignResponse | null> {
  const context = panel.context;
  let answer = await setupFor(context.path);
  if (answer !== null && answer.key === null) {
    if ((await offerSetup(trans)) === null) {
      return null;
    }
    answer = await setupFor(context.path);
  }
  const warnings =
    answer === null ? [] : await warningsFor(panel, answer, trans);
  let role: string = SIGNING_ROLES[0];
  const choice = await showBodyDialog(
    trans.__('Sign %1', panel.title.label),
    () =>
      answer === null ? (
        <RoleChoice
          roles={SIGNING_ROLES}
          initial={role}
          onChange={r => (role = r)}
        />
      ) : (
        <SignPreview
          answer={answer}
          roles={SIGNING_ROLES}
          initial={role}
          warnings={warnings}
          trans={trans}
          onChange={r => (role = r)}
        />
      ),
    [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Sign') })
    ],
    'jp-qsecure-Dialog'
  );
  if (!choice.button.accept) {
    return null;
  }
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
      trans.__(
        'Signed as %1. %2',
        answer.signature.role,
        summarizeSigning(answer).description
      ),
      { autoClose: 5000 }
    );
    return answer;
  } catch (error) {
    if (noKey(error)) {
      if ((await offerSetup(trans)) !== null) {
        return signNotebook(panel, trans);
      }
      return null;
    }
    notifyFailure(
      trans.__('sign notebooks'),
      trans.__('Not signed'),
      error,
      trans
    );
    return null;
  }
}
