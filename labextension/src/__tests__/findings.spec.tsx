import React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { BlockedSave } from '../guard/blocked';
import {
  PRAGMA,
  PragmaError,
  addPragma,
  blockedSummary,
  cellLabel,
  describeLocation,
  findingRows,
  firstLine,
  groupFindings,
  maskTokens,
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

  it('names the file inside an archive, and binary content, as the server does', () => {
    expect(
      describeLocation(
        finding({
          field: 'archive member project/.env',
          cell_index: null,
          line: 3
        })
      )
    ).toBe('Archive member project/.env, line 3');
    expect(
      describeLocation(finding({ field: 'binary', cell_index: null, line: 1 }))
    ).toBe('Its binary content');
  });

  it('names the part of a path that holds a credential, without a line', () => {
    for (const field of [
      'the file name',
      'the folder name',
      'a folder name in its path'
    ]) {
      expect(
        describeLocation(finding({ field, cell_index: null, line: 1 }))
      ).toBe(field.charAt(0).toUpperCase() + field.slice(1));
    }
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
    addPragma: noop,
    clearOutput: noop,
    accept: noop
  };
  const sources = ['# Notes', 'import requests', 'x = 1\ntoken = "..."'];

  it('lists each finding grouped per cell, with its place, kind and masked preview, never a value', () => {
    const html = renderToStaticMarkup(
      <BlockedSave
        path="work/analysis.ipynb"
        findings={[
          finding({ field: 'outputs[0].text', line: 1 }),
          finding(),
          finding({ cell_index: 1, cell_id: 'c2', line: 1 })
        ]}
        message="Save blocked: ..."
        notebookOpen={true}
        sourceOf={i => sources[i]}
        actions={actions}
      />
    );
    expect(html).toContain(
      'analysis.ipynb was not saved: it holds 3 credentials.'
    );
    // One heading per cell: its number among all cells and its first line.
    const headings = [...html.matchAll(/<h3[^>]*>([^<]*)<\/h3>/g)].map(
      m => m[1]
    );
    expect(headings).toEqual(['Cell 2: import requests', 'Cell 3: x = 1']);
    expect(html).toContain('Cell 3, line 2');
    expect(html).toContain('Output 1 of cell 3, line 1');
    expect(html).toContain('ghp_…7r8');
    expect(html).not.toContain(TOKEN);
    expect(html).not.toContain(TOKEN.slice(4, 20));
    expect(html).toContain('guard.md');
  });

  it('offers the safe fixes first; accepting is folded away, needs a chosen reason and is never prominent', () => {
    const html = renderToStaticMarkup(
      <BlockedSave
        path="a.ipynb"
        findings={[finding(), finding({ field: 'outputs[0].text', line: 1 })]}
        message=""
        notebookOpen={true}
        actions={actions}
      />
    );
    // Within the source finding's row (the output's row comes first, in field order).
    const row = html.slice(
      html.indexOf('aria-label="GitHub token at Cell 3, line 2"')
    );
    const order = [
      '>Move to secret store…</button>',
      '>Add pragma to the line</button>',
      '>Go to cell</button>',
      '<summary>Accept it on this server instead…</summary>'
    ].map(text => row.indexOf(text));
    expect(order.every(i => i >= 0)).toBe(true);
    expect([...order].sort((x, y) => x - y)).toEqual(order);
    const output = html.slice(
      0,
      html.indexOf('aria-label="GitHub token at Cell 3, line 2"')
    );
    expect(output.indexOf('>Clear output</button>')).toBeGreaterThan(0);
    expect(output.indexOf('>Clear output</button>')).toBeLessThan(
      output.indexOf('<summary>Accept it on this server instead…</summary>')
    );
    expect(output).not.toContain('>Add pragma to the line</button>');
    // The accept section is closed, its reason unchosen, its button disabled and quiet.
    expect(html).not.toMatch(/<details[^>]*open/);
    expect(html).toContain(
      '<option value="" selected="">Choose a reason…</option>'
    );
    const accept = /<button[^>]*>Accept on this server…<\/button>/.exec(html);
    expect(accept).not.toBeNull();
    expect(accept![0]).toContain('disabled');
    expect(accept![0]).not.toMatch(/jp-mod-(warn|accept)/);
    // It says where an acceptance applies, and what travels with the notebook.
    expect(html).toContain('Only this Jupyter server will save it');
    expect(html).toContain('.secrets.baseline');
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
    expect(html).not.toContain('>Go to cell</button>');
    expect(html).not.toContain('>Move to secret store…</button>');
    expect(html).not.toContain('>Add pragma to the line</button>');
    expect(html).toContain('Outside cells');
    expect(html).toContain('Accept it on this server instead…');
  });

  it('moves only code to the secret store; a Markdown line still gets the pragma', () => {
    const html = renderToStaticMarkup(
      <BlockedSave
        path="a.ipynb"
        findings={[finding({ cell_index: 0, cell_id: 'c1', line: 1 })]}
        message=""
        notebookOpen={true}
        typeOf={() => 'markdown'}
        actions={actions}
      />
    );
    expect(html).not.toContain('>Move to secret store…</button>');
    expect(html).toContain('>Add pragma to the line</button>');
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

describe('cell labels', () => {
  it('name a cell by its number among all cells and its first non-empty line', () => {
    expect(cellLabel(0, '\n\n  import os  \nx = 1')).toBe('Cell 1: import os');
    expect(cellLabel(4, '')).toBe('Cell 5');
    expect(cellLabel(4, null)).toBe('Cell 5');
    expect(firstLine('x'.repeat(100)).length).toBe(48);
    expect(firstLine('x'.repeat(100)).endsWith('…')).toBe(true);
  });

  it('mask what could be a credential in a first line', () => {
    const label = cellLabel(1, `token = "${TOKEN}"\nprint(token)`);
    expect(label).toBe('Cell 2: token = "ghp_…"');
    expect(label).not.toContain(TOKEN.slice(4, 12));
    expect(maskTokens('x = base64.urlsafe_b64encode(data)')).toBe(
      'x = base64.urlsafe_b64encode(data)'
    );
    expect(maskTokens('ABCDEFGHIJKLMNOPQRSTUVWXYZ')).toBe(
      'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
    );
    expect(maskTokens('k=0123456789abcdef0123456789')).toBe('k=01…');
  });

  it('group findings in notebook order, outside cells first', () => {
    const groups = groupFindings(
      [
        finding({ cell_index: 4 }),
        finding({ field: 'text', cell_index: null, cell_id: null }),
        finding({ cell_index: 1 }),
        finding({ cell_index: 4, line: 7 })
      ],
      i => `cell ${i} source`
    );
    expect(groups.map(g => [g.label, g.rows.length])).toEqual([
      ['Outside cells', 1],
      ['Cell 2: cell 1 source', 1],
      ['Cell 5: cell 4 source', 2]
    ]);
  });
});

describe('addPragma', () => {
  const source = 'import os\ntoken = "abc"\nprint(token)';

  it('ends the line with the pragma, as a comment the cell type allows', () => {
    expect(addPragma(source, 2, 'code')).toBe(
      `import os\ntoken = "abc"  # ${PRAGMA}\nprint(token)`
    );
    expect(addPragma('Key: abc   ', 1, 'markdown')).toBe(
      `Key: abc <!-- ${PRAGMA} -->`
    );
    expect(addPragma('abc', 1, 'raw')).toBe(`abc ${PRAGMA}`);
  });

  it('leaves a line that has it alone, and is idempotent', () => {
    const once = addPragma(source, 2, 'code');
    expect(addPragma(once, 2, 'code')).toBe(once);
  });

  it('puts a nextline pragma above a backslash-continued line', () => {
    expect(addPragma('x = 1\n    t = "abc" \\\n    + "d"', 2, 'code')).toBe(
      'x = 1\n    # pragma: allowlist nextline secret\n    t = "abc" \\\n    + "d"'
    );
  });

  it('refuses what it cannot do safely, saying what to do', () => {
    expect(() => addPragma('a = \\\n "abc" \\\n + "d"', 2, 'code')).toThrow(
      PragmaError
    );
    expect(() => addPragma(source, 9, 'code')).toThrow(/save again/);
    expect(() => addPragma(source, 0, 'code')).toThrow(PragmaError);
  });
});
