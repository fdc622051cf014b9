/** Small helpers over a notebook panel that several parts of the extension share. */
import * as nbformat from '@jupyterlab/nbformat';
import { NotebookPanel } from '@jupyterlab/notebook';

/** The notebook as the editor holds it now (unsaved edits included), as nbformat JSON. */
export function notebookContent(
  panel: NotebookPanel
): nbformat.INotebookContent | null {
  const model = panel.context.model;
  return model === null ? null : (model.toJSON() as nbformat.INotebookContent);
}

/** The index of the cell with this id, or -1. */
export function cellIndexById(panel: NotebookPanel, cellId: string): number {
  return panel.content.widgets.findIndex(cell => cell.model.id === cellId);
}

/** Select a cell, scroll it into view and focus the notebook on it. */
export async function goToCell(
  panel: NotebookPanel,
  index: number
): Promise<void> {
  const notebook = panel.content;
  if (index < 0 || index >= notebook.widgets.length) {
    return;
  }
  notebook.activeCellIndex = index;
  notebook.deselectAll();
  notebook.mode = 'command';
  await notebook.scrollToItem(index, 'center');
  notebook.activeCell?.node.focus();
}
