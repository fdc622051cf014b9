/** Writing a secret and granting it, all or nothing (the panel and the guard's dialog). */
import { jsonBody, requestAPI } from '../request';

/**
 * Store a secret's value, then grant it to ``notebook`` (when given). If the grant fails,
 * the value just stored is deleted again, so a failed operation leaves nothing behind;
 * the grant's error is the one raised.
 */
export async function storeAndGrant(
  name: string,
  value: string,
  notebook: string | null,
  request: typeof requestAPI = requestAPI
): Promise<void> {
  const secret = `secrets/${encodeURIComponent(name)}`;
  await request(secret, jsonBody('PUT', { value }));
  if (notebook === null) {
    return;
  }
  try {
    await request(
      `grants/${encodeURIComponent(name)}`,
      jsonBody('PUT', { notebook })
    );
  } catch (error) {
    try {
      await request(secret, { method: 'DELETE' });
    } catch {
      // The grant's error is the one to report; the value stays stored and listed.
    }
    throw error;
  }
}
