/** A dialog whose React body can close it (for actions inside the body). */
import { Dialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import React from 'react';

/** Closes the dialog that rendered the body. */
export type CloseDialog = () => void;

/**
 * Show a dialog with a React body built by ``body``, which receives a function closing
 * the dialog. Resolves when the dialog closes, with the button the user pressed (if any).
 */
export async function showBodyDialog(
  title: string,
  body: (close: CloseDialog) => React.ReactElement,
  buttons: ReadonlyArray<Dialog.IButton> = [
    Dialog.cancelButton({ label: 'Close' })
  ],
  className = ''
): Promise<Dialog.IResult<unknown>> {
  let dialog: Dialog<unknown> | null = null;
  const close = (): void => dialog?.reject();
  dialog = new Dialog({
    title,
    body: ReactWidget.create(body(close)),
    buttons,
    hasClose: true
  });
  for (const name of className.split(/\s+/).filter(Boolean)) {
    dialog.addClass(name);
  }
  return dialog.launch();
}
