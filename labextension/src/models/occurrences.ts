/**
 * Every place a found credential sits in the notebook. The guard reports a value where a
 * rule recognised it (often the line that names it, `token="…"`); the same value printed
 * elsewhere, on a line no rule would flag alone, is still the same leak. The editor has
 * the notebook, so the value is located from the finding (its fingerprint picks it out
 * of the line) and looked for in every cell's source and outputs.
 */
import * as nbformat from '@jupyterlab/nbformat';

import { IFinding } from '../tokens';
import { FingerprintFn, fingerprint, locateCredential } from './literal';

/** Text as nbformat stores it: a string or a list of lines. */
function joined(text: unknown): string | null {
  if (typeof text === 'string') {
    return text;
  }
  if (Array.isArray(text) && text.every(t => typeof t === 'string')) {
    return text.join('');
  }
  return null;
}

/**
 * The fields of a cell the guard scans as text, as `[field, text]` in the guard's names:
 * `source`, `outputs[0].stdout`, `outputs[1].text/plain`, `outputs[2].error`,
 * `outputs[2].traceback`.
 */
export function cellFields(cell: nbformat.ICell): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  const source = joined(cell.source);
  if (source !== null) {
    fields.push(['source', source]);
  }
  const outputs = (cell as nbformat.ICodeCell).outputs;
  if (!Array.isArray(outputs)) {
    return fields;
  }
  outputs.forEach((output, i) => {
    const field = `outputs[${i}]`;
    if (output.output_type === 'stream') {
      const text = joined((output as nbformat.IStream).text);
      if (text !== null) {
        fields.push([`${field}.${(output as nbformat.IStream).name}`, text]);
      }
    } else if (output.output_type === 'error') {
      const error = output as nbformat.IError;
      fields.push([`${field}.error`, `${error.ename}: ${error.evalue}`]);
      fields.push([`${field}.traceback`, (error.traceback ?? []).join('\n')]);
    } else {
      const data = (output as nbformat.IExecuteResult).data ?? {};
      for (const [mime, value] of Object.entries(data)) {
        const text = joined(value);
        if (text !== null) {
          fields.push([`${field}.${mime}`, text]);
        }
      }
    }
  });
  return fields;
}

/** The text of one field of a cell (see {@link cellFields}), or null. */
export function fieldText(cell: nbformat.ICell, field: string): string | null {
  return cellFields(cell).find(([name]) => name === field)?.[1] ?? null;
}

/** The 1-based lines of ``text`` that contain ``value``. */
function linesWith(text: string, value: string): number[] {
  return text
    .split('\n')
    .map((line, i) => (line.includes(value) ? i + 1 : 0))
    .filter(n => n > 0);
}

/**
 * The findings plus every other place in ``notebook`` that holds one of their values
 * (same kind, preview and fingerprint; a new cell, field or line). Findings whose value
 * cannot be located are kept as they are.
 */
export async function withAllOccurrences(
  findings: IFinding[],
  notebook: nbformat.INotebookContent | null,
  hash: FingerprintFn = value => fingerprint(value)
): Promise<IFinding[]> {
  if (notebook === null) {
    return findings;
  }
  const key = (f: IFinding): string =>
    `${f.fingerprint}:${f.cell_index}:${f.field}:${f.line}`;
  const known = new Set(findings.map(key));
  const all = [...findings];
  const located = new Set<string>();
  for (const finding of findings) {
    if (finding.cell_index === null || located.has(finding.fingerprint)) {
      continue;
    }
    const cell = notebook.cells[finding.cell_index];
    const text = cell === undefined ? null : fieldText(cell, finding.field);
    if (text === null) {
      continue;
    }
    const found = await locateCredential(text, finding, hash);
    if (found === null) {
      continue;
    }
    located.add(finding.fingerprint);
    notebook.cells.forEach((other, index) => {
      for (const [field, otherText] of cellFields(other)) {
        for (const line of linesWith(otherText, found.value)) {
          const occurrence: IFinding = {
            ...finding,
            cell_index: index,
            cell_id: typeof other.id === 'string' ? other.id : null,
            field,
            line
          };
          if (!known.has(key(occurrence))) {
            known.add(key(occurrence));
            all.push(occurrence);
          }
        }
      }
    });
  }
  return all;
}
