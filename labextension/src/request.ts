import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IApiError } from './tokens';

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
 * Call the jupyter-qsecure REST API under `/qsecure/` and return its JSON answer.
 *
 * Errors come back as a {@link QSecureError} carrying the server's reason and message,
 * which name what to fix.
 */
export async function requestAPI<T>(
  endpoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'qsecure', endpoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new QSecureError(
      0,
      'qsecure-network',
      `The Jupyter server did not answer (${String(error)}).`
    );
  }
  const text = await response.text();
  let data: unknown = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const body = (data ?? {}) as Partial<IApiError>;
    throw new QSecureError(
      response.status,
      body.reason ?? `http-${response.status}`,
      body.message ??
        `The server answered ${response.status} ${response.statusText}.`
    );
  }
  return data as T;
}

/** A JSON request body for {@link requestAPI}. */
export function jsonBody(method: string, body: unknown): RequestInit {
  return { method, body: JSON.stringify(body) };
}

/** The message of an error, for a notification (API errors name what to fix). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
