/** Translation and failure notices shared by the extension's parts. */
import { Notification } from '@jupyterlab/apputils';
import {
  ITranslator,
  TranslationBundle,
  nullTranslator
} from '@jupyterlab/translation';

import { errorMessage, forbiddenText } from './models/errors';

/** The translation domain of jupyter-qsecure's strings. */
export const TRANSLATION_DOMAIN = 'jupyter_qsecure';

/** jupyter-qsecure's strings in the user's language (English without a translator). */
export function translationBundle(
  translator: ITranslator | null = null
): TranslationBundle {
  return (translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
}

/**
 * Tell the user an action failed. A refusal by the user's role on the server (403) is
 * said plainly, with the server's message naming the missing permission; anything else is
 * an error notice: ``failed`` (e.g. "Not signed") and the server's message.
 */
export function notifyFailure(
  action: string,
  failed: string,
  error: unknown,
  trans: TranslationBundle = translationBundle()
): void {
  const forbidden = forbiddenText(action, error, trans);
  if (forbidden !== null) {
    Notification.warning(forbidden, { autoClose: false });
  } else {
    Notification.error(`${failed}: ${errorMessage(error)}`, {
      autoClose: false
    });
  }
}
