import { NotebookPanel } from '@jupyterlab/notebook';

import { BADGES } from '../models/provenance';
import { IProvenanceReport } from '../tokens';

const ATTRIBUTE = 'qsecureProvenance';

/**
 * Mark each code cell with its provenance badge: a `data-qsecure-provenance` attribute
 * the stylesheet draws in the prompt area, and a tooltip and description on the prompt
 * for mouse and screen-reader users.
 */
export function applyBadges(
  panel: NotebookPanel,
  report: IProvenanceReport
): void {
  const byId = new Map(
    report.cells
      .filter(c => c.cell_id !== null)
      .map(c => [c.cell_id as string, c])
  );
  for (const cell of panel.content.widgets) {
    const verdict = byId.get(cell.model.id);
    const prompt = cell.node.querySelector<HTMLElement>('.jp-InputArea-prompt');
    if (verdict === undefined) {
      delete cell.node.dataset[ATTRIBUTE];
      prompt?.removeAttribute('title');
      prompt?.removeAttribute('aria-description');
      continue;
    }
    const badge = BADGES[verdict.badge];
    cell.node.dataset[ATTRIBUTE] = verdict.badge;
    const text = `Provenance: ${badge.label}. ${badge.explanation}`;
    prompt?.setAttribute('title', text);
    prompt?.setAttribute('aria-description', text);
  }
}

/** Remove every badge (the panel closed, or the notebook has no report). */
export function clearBadges(panel: NotebookPanel): void {
  for (const cell of panel.content.widgets) {
    delete cell.node.dataset[ATTRIBUTE];
  }
}
