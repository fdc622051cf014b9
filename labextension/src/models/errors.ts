/**
 * Errors of the jupyter-qsecure API as the extension reads them: `{reason, message}`
 * bodies, and the refusals a user's role on the server causes (403).
 */
import type { TranslationBundle } from '@jupyterlab/translation';

import { IApiError } from '../tokens';

/** The part of a translation bundle the models use (`%1`-style arguments). */
export type Translate = Pick<TranslationBundle, '__'>;

/** English strings with `%1`-style arguments, as JupyterLab's null translator gives
 * (for the views rendered without a translator, in tests for instance). */
export const english: Translate = {
  __: (message: string, ...args: unknown[]): string =>
    message.replace(/%(\d+)/g, (placeholder, index: string) =>
      index !== '0' && Number(index) <= args.length
        ? String(args[Number(index) - 1])
        : placeholder
    )
};

/** The status the server answers when the user's role does not allow an action. */
export const FORBIDDEN_STATUS = 403;

/** An error answer of the jupyter-qsecure API, with its `reason` and `message`. */
export class QSecureError extends Error implements IApiError {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string
  ) {
    super(message);
    this.name = 'QSecureError';
  }
}

/**
 * The {@link QSecureError} of an answer that is not OK, from its status, reason phrase
 * and body text. A JSON body's `reason` and `message` win; otherwise the HTTP status
 * says what happened.
 */
export function apiError(
  status: number,
  statusText: string,
  text: string
): QSecureError {
  let body: Partial<IApiError> = {};
  try {
    const data: unknown = text.length > 0 ? JSON.parse(text) : null;
    if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
      body = data as Partial<IApiError>;
    }
  } catch {
    body = {};
  }
  const reason =
    typeof body.reason === 'string' && body.reason !== ''
      ? body.reason
      : `http-${status}`;
  const message =
    typeof body.message === 'string' && body.message !== ''
      ? body.message
      : `The server answered ${status} ${statusText}.`.replace(' .', '.');
  return new QSecureError(status, reason, message);
}

/** Whether an error is the server refusing an action the user's role does not allow. */
export function isForbidden(error: unknown): error is QSecureError {
  return error instanceof QSecureError && error.status === FORBIDDEN_STATUS;
}

/** The message of an error, for a notification (API errors name what to fix). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * What to tell the user when ``action`` (e.g. "sign notebooks") was refused because their
 * role on this server does not allow it, or null when the error is something else. The
 * server's message says which permission is missing.
 */
export function forbiddenText(
  action: string,
  error: unknown,
  trans: Translate
): string | null {
  if (!isForbidden(error)) {
    return null;
  }
  return trans.__(
    'You cannot %1 on this server: %2',
    action,
    error.message.trim()
  );
}
