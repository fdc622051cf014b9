import React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { BlockedSave } from '../guard/blocked';
import {
  blockedSummary,
  describeLocation,
  findingRows,
  isSecretName,
  suggestSecretName
} from '../models/findings';
import { IFinding } from '../tokens';

const TOKEN = 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';

function finding(overrides: Partial<IFinding> = {}): IFinding {
  return {
    rule: 'github-token',
    kind: 'GitHub token',
    preview: 'ghp_…7r8',
    fingerprint: '53e3464c903c4eec4c7a6a67f61f71ef',
    field: 'source',
    line: 2,
    cell_index: 2,
    cell_id: 'c3',
    ...overrides
  };
}

describe('describeLocation', () => {
  it('speaks of cells and lines 1-based, as the server does', () => {
    expect(describeLocation(finding())).toBe('Cell 3, line 2');
    expect(
      describeLocation(finding({ field: 'outputs[0].text', line: 4 }))
    ).toBe('Output 1 of cell 3, line 4');
    expect(
      describeLocation(finding({ field: 'attachments[a.txt]', line: 1 }))
    ).toBe('Attachment a.txt of cell 3, line 1');
    expect(describeLocation(finding({ field: 'metadata', line: 1 }))).toBe(
      'Metadata of cell 3, line 1'
    );
    expect(
      describeLocation(finding({ field: 'text', cell_index: null, line: 7 }))
    ).toBe('Line 7');
  });
});

describe('findingRows', () => {
  it('orders by cell and says which actions apply', () => {
    const rows = findingRows([
      finding({ field: 'outputs[1].text', cell_index: 4 }),
      finding({ cell_index: 0, line: 3 }),
      finding({ field: 'text', cell_index: null, cell_id: null })
    ]);
    expect(rows.map(r => r.where)).toEqual([
      'Line 2',
      'Cell 1, line 3',
      'Output 2 of cell 5, line 2'
    ]);
    expect(rows.map(r => [r.inCell, r.movable, r.inOutput])).toEqual([
      [false, false, false],
      [true, true, false],
      [true, false, true]
    ]);
    expect(new Set(rows.map(r => r.key)).size).toBe(3);
  });
});

describe('secret names', () => {
  it('suggests the kind as an environment variable name, avoiding taken names', () => {
    expect(suggestSecretName(finding())).toBe('GITHUB_TOKEN');
    expect(
      suggestSecretName(finding(), ['GITHUB_TOKEN', 'GITHUB_TOKEN_2'])
    ).toBe('GITHUB_TOKEN_3');
    expect(suggestSecretName(finding({ kind: '1Password token' }))).toBe(
      'SECRET_1PASSWORD_TOKEN'
    );
  });

  it('accepts only environment variable names', () => {
    expect(isSecretName('IBM_QUANTUM_TOKEN')).toBe(true);
    expect(isSecretName('_x1')).toBe(true);
    expect(isSecretName('1X')).toBe(false);
    expect(isSecretName('A-B')).toBe(false);
    expect(isSecretName('')).toBe(false);
  });
});

describe('the blocked-save dialog body', () => {
  const noop = (): void => undefined;
  const actions = {
    goToCell: noop,
    moveToSecret: noop,
    clearOutput: noop,
    accept: noop
  };

  it('lists each finding with its place, kind and masked preview, never a value', () => {
    const html = renderToStaticMarkup(
      <BlockedSave
        path="work/analysis.ipynb"
        findings={[finding(), finding({ field: 'outputs[0].text', line: 1 })]}
        message="Save blocked: ..."
        notebookOpen={true}
        actions={actions}
      />
    );
    expect(html).toContain(
      'analysis.ipynb was not saved: it holds 2 credentials.'
    );
    expect(html).toContain('Cell 3, line 2');
    expect(html).toContain('Output 1 of cell 3, line 1');
    expect(html).toContain('ghp_…7r8');
    expect(html).toContain('Move to secret store');
    expect(html).toContain('Clear cell output');
    expect(html).toContain('Mark as false positive');
    expect(html).not.toContain(TOKEN);
    expect(html).not.toContain(TOKEN.slice(4, 20));
  });

  it('offers no cell actions for a file that is not an open notebook', () => {
    const html = renderToStaticMarkup(
      <BlockedSave
        path="settings.env"
        findings={[finding({ field: 'text', cell_index: null, cell_id: null })]}
        message=""
        notebookOpen={false}
        actions={actions}
      />
    );
    expect(html).not.toContain('Go to cell');
    expect(html).not.toContain('Move to secret store');
    expect(html).toContain('Mark as false positive');
  });

  it('shows the server message when the findings could not be listed', () => {
    const html = renderToStaticMarkup(
      <BlockedSave
        path="a.ipynb"
        findings={[]}
        message="Save blocked: GitHub token in cell 1, line 1."
        notebookOpen={true}
        actions={actions}
      />
    );
    expect(html).toContain('Save blocked: GitHub token in cell 1, line 1.');
    expect(blockedSummary('a.ipynb', 1)).toContain('holds a credential.');
  });
});
