/**
 * Which refused saves are jupyter-qsecure's, told from the error JupyterLab's contents
 * service raises (its body is already read: the status, the reason phrase and the JSON
 * body's `message` are what is left).
 */
import type { ServerConnection } from '@jupyterlab/services';

import { UNAVAILABLE_REASON, UNAVAILABLE_STATUS } from '../models/availability';

/** The status and reason phrase the guard answers a save holding a credential with. */
export const BLOCKED_STATUS = 422;
export const LEAK_REASON = 'qsecure-leak';

/** The status and reason phrase of an error from the contents service, if it has them. */
function responseOf(
  error: unknown
): { status: number; statusText: string } | null {
  // Duck-typed: the error class may come from another copy of @jupyterlab/services.
  const response = (error as { response?: unknown } | null)?.response;
  if (
    typeof response !== 'object' ||
    response === null ||
    !('status' in response)
  ) {
    return null;
  }
  const { status, statusText } = response as {
    status: number;
    statusText?: string;
  };
  return { status, statusText: statusText ?? '' };
}

/** Whether an error from the contents service is the guard refusing a save. */
export function isBlockedSave(
  error: unknown
): error is ServerConnection.ResponseError {
  const response = responseOf(error);
  const message = error instanceof Error ? error.message : '';
  return (
    response !== null &&
    response.status === BLOCKED_STATUS &&
    (response.statusText === LEAK_REASON || message.startsWith('Save blocked:'))
  );
}

/** Whether an error from the contents service is a 503 (the server cannot save now). */
export function isServiceUnavailable(
  error: unknown
): error is ServerConnection.ResponseError {
  return responseOf(error)?.status === UNAVAILABLE_STATUS;
}

/**
 * Whether a save was refused because jupyter-qsecure is not running, as far as the error
 * itself tells (the reason phrase; a proxy may drop it, so a 503 without it is worth
 * checking against `GET /qsecure/status`).
 */
export function isUnavailableSave(
  error: unknown
): error is ServerConnection.ResponseError {
  return (
    isServiceUnavailable(error) &&
    responseOf(error)?.statusText === UNAVAILABLE_REASON
  );
}

/** An error JupyterLab reads as "the user cancelled the save". */
export function cancelledSave(message: string): Error {
  const error = new Error(message);
  error.name = 'ModalCancelError';
  return error;
}
