/**
 * A notebook the user did not change stays unmodified. When a kernel connects, JupyterLab
 * and Notebook 7 copy the kernel's `language_info` and `kernelspec` into the notebook's
 * metadata, which marks a notebook saved with a shorter `language_info` as modified a few
 * seconds after it opens (and closing it asks "Save changes?"). Those two keys describe
 * the kernel, not the user's work: a change to them alone leaves the document clean. The
 * new values are still written with the next save of a real change.
 */
import type * as nbformat from '@jupyterlab/nbformat';
import type { INotebookModel, NotebookPanel } from '@jupyterlab/notebook';
import { JSONExt, PartialJSONObject } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';

/** The metadata keys the kernel sets on connection. */
export const KERNEL_METADATA = ['language_info', 'kernelspec'];

/** The notebook without the metadata the kernel sets, for comparison. */
export function userContent(
  content: nbformat.INotebookContent
): PartialJSONObject {
  const metadata = { ...content.metadata } as PartialJSONObject;
  for (const key of KERNEL_METADATA) {
    delete metadata[key];
  }
  return { ...content, metadata } as unknown as PartialJSONObject;
}

/**
 * Keep ``model`` clean while its only changes since it was last clean (opened, saved or
 * reverted) are the kernel's metadata. Returns a handle that stops watching.
 */
export function keepCleanOnKernelMetadata(model: INotebookModel): IDisposable {
  let clean: PartialJSONObject | null = model.dirty
    ? null
    : userContent(model.toJSON() as nbformat.INotebookContent);
  const onState = (_: unknown, change: { name: string; newValue: unknown }) => {
    if (change.name !== 'dirty') {
      return;
    }
    const now = userContent(model.toJSON() as nbformat.INotebookContent);
    if (change.newValue === false) {
      clean = now;
    } else if (clean !== null && JSONExt.deepEqual(clean, now)) {
      model.dirty = false;
    }
  };
  model.stateChanged.connect(onState);
  let disposed = false;
  return {
    get isDisposed() {
      return disposed;
    },
    dispose() {
      if (!disposed) {
        disposed = true;
        model.stateChanged.disconnect(onState);
      }
    }
  };
}

/** Watch a notebook panel's model from when it is loaded until the panel closes. */
export function watchPanel(panel: NotebookPanel): void {
  panel.context.ready
    .then(() => {
      if (panel.isDisposed) {
        return;
      }
      const watch = keepCleanOnKernelMetadata(panel.context.model);
      panel.disposed.connect(() => watch.dispose());
    })
    .catch(() => undefined); // a notebook that fails to load says so itself
}
