/**
 * Saves jupyter-qsecure refuses get our dialogs instead of the stock "File Save Error".
 *
 * The server refuses a save holding a credential with HTTP 422 and the reason phrase
 * `qsecure-leak`. JupyterLab's contents service turns that into an error whose body is
 * already read, so the findings are fetched again from `POST /qsecure/scan` (same
 * scanner, nothing written). While jupyter-qsecure is not running the server refuses
 * every save with 503 `qsecure-unavailable`. Either way the save then fails with a
 * "cancelled" error, which the document context and autosave treat as a user's choice:
 * no stock dialog, no console error, and the unsaved work stays in the editor.
 */
import { Contents } from '@jupyterlab/services';

import { jsonBody, requestAPI } from '../request';
import { IFinding, IScanResult } from '../tokens';
import {
  cancelledSave,
  isBlockedSave,
  isServiceUnavailable,
  isUnavailableSave
} from './refusals';

/** Called with the findings of a refused save (not awaited by the save). */
export type BlockedSaveHandler = (
  path: string,
  findings: IFinding[],
  message: string
) => void;

/** What to do with the saves jupyter-qsecure refuses. */
export interface ISaveRefusalHandlers {
  /** A save holding a credential (422 `qsecure-leak`), with its findings. */
  blocked: BlockedSaveHandler;
  /** A save refused because jupyter-qsecure is not running (not awaited by the save). */
  unavailable: (path: string, message: string) => void;
  /**
   * Whether jupyter-qsecure is unavailable now, asked of `GET /qsecure/status` when a
   * save got a 503 whose reason phrase was lost on the way (a proxy may drop it).
   */
  confirmUnavailable: () => Promise<boolean>;
}

/**
 * Wrap ``contents.save`` so the saves jupyter-qsecure refuses reach ``handlers``. Returns a
 * function that restores the original method.
 */
export function interceptRefusedSaves(
  contents: Contents.IManager,
  handlers: ISaveRefusalHandlers
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
      if (isServiceUnavailable(error)) {
        if (isUnavailableSave(error) || (await handlers.confirmUnavailable())) {
          handlers.unavailable(path, error.message);
          throw cancelledSave(error.message);
        }
        throw error;
      }
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
      handlers.blocked(path, findings, error.message);
      throw cancelledSave(error.message);
    }
  };
  return () => {
    contents.save = original;
  };
}
