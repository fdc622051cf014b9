/**
 * Blocked saves get our dialog instead of the stock "File Save Error".
 *
 * The server refuses a save holding a credential with HTTP 422 and the reason phrase
 * `qsecure-leak`. JupyterLab's contents service turns that into an error whose body is
 * already read, so the findings are fetched again from `POST /qsecure/scan` (same
 * scanner, nothing written). The save then fails with a "cancelled" error, which the
 * document context and autosave treat as a user's choice: no stock dialog, no console
 * error, and the unsaved work stays in the editor.
 */
import { Contents, ServerConnection } from '@jupyterlab/services';

import { jsonBody, requestAPI } from '../request';
import { IFinding, IScanResult } from '../tokens';

/** The status and reason phrase the guard answers a refused save with. */
export const BLOCKED_STATUS = 422;
export const LEAK_REASON = 'qsecure-leak';

/** Called with the findings of a refused save (not awaited by the save). */
export type BlockedSaveHandler = (
  path: string,
  findings: IFinding[],
  message: string
) => void;

/** Whether an error from the contents service is the guard refusing a save. */
export function isBlockedSave(
  error: unknown
): error is ServerConnection.ResponseError {
  // Duck-typed: the error class may come from another copy of @jupyterlab/services.
  const response = (error as { response?: unknown } | null)?.response;
  if (!(response instanceof Object) || !('status' in response)) {
    return false;
  }
  const { status, statusText } = response as {
    status: number;
    statusText: string;
  };
  const message = error instanceof Error ? error.message : '';
  return (
    status === BLOCKED_STATUS &&
    (statusText === LEAK_REASON || message.startsWith('Save blocked:'))
  );
}

/** An error JupyterLab reads as "the user cancelled the save". */
export function cancelledSave(message: string): Error {
  const error = new Error(message);
  error.name = 'ModalCancelError';
  return error;
}

/**
 * Wrap ``contents.save`` so a refused save calls ``onBlocked`` with its findings. Returns
 * a function that restores the original method.
 */
export function interceptBlockedSaves(
  contents: Contents.IManager,
  onBlocked: BlockedSaveHandler
): () => void {
  const original = contents.save;
  const save = original.bind(contents);
  contents.save = async (
    path: string,
    options?: Partial<Contents.IModel>
  ): Promise<Contents.IModel> => {
    try {
      return await save(path, options);
    } catch (error) {
      if (!isBlockedSave(error) || options === undefined) {
        throw error;
      }
      let findings: IFinding[] = [];
      try {
        const scan = await requestAPI<IScanResult>(
          'scan',
          jsonBody('POST', { path, model: options })
        );
        findings = scan.findings;
      } catch {
        findings = [];
      }
      onBlocked(path, findings, error.message);
      throw cancelledSave(error.message);
    }
  };
  return () => {
    contents.save = original;
  };
}
