import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { QSecureError, apiError } from './models/errors';

export { QSecureError, errorMessage } from './models/errors';

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
  if (!response.ok) {
    throw apiError(response.status, response.statusText, text);
  }
  let data: unknown = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  return data as T;
}

/** A JSON request body for {@link requestAPI}. */
export function jsonBody(method: string, body: unknown): RequestInit {
  return { method, body: JSON.stringify(body) };
}
