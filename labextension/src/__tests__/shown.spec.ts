/**
 * Names a file chose (an attachment's, an archive member's), masked previews and paths are
 * shown with their control and invisible characters escaped, as the server's reports and
 * the command line show them: a bidirectional control (U+202E) must not reorder the line
 * it is in, nor a line break or an escape sequence write one of its own.
 */
import { acceptedRows } from '../models/accepted';
import { describeLocation, findingRows } from '../models/findings';
import { shown } from '../models/shown';
import { IFinding } from '../tokens';

const RLO = '\u202e';

function finding(fields: Partial<IFinding>): IFinding {
  return {
    rule: 'github-token',
    kind: 'GitHub token',
    preview: 'ghp_…oz3',
    fingerprint: '732de497537976b36d542e63b327f433',
    field: 'source',
    line: 1,
    cell_index: 0,
    ...fields
  } as IFinding;
}

describe('shown', () => {
  it('escapes what a reader cannot see, as Python writes it', () => {
    expect(shown(`a${RLO}b`)).toBe('a\\u202eb');
    expect(shown('x\x1b[2Ky\n\t\r')).toBe('x\\x1b[2Ky\\n\\t\\r');
    expect(shown('zero\u200bwidth\u00a0nbsp')).toBe(
      'zero\\u200bwidth\\xa0nbsp'
    );
    expect(shown('\u{e0041}tag')).toBe('\\U000e0041tag');
    expect(shown('\ud800')).toBe('\\ud800');
  });

  it('leaves ordinary text, accents and spaces as they are', () => {
    expect(shown('données 2026/é.ipynb')).toBe('données 2026/é.ipynb');
    expect(shown('already \\u202e escaped')).toBe('already \\u202e escaped');
  });
});

describe('a finding named by the notebook', () => {
  it('shows an attachment name escaped', () => {
    const where = describeLocation(
      finding({ field: `attachments[a${RLO}txt.exe]` })
    );
    expect(where).toBe('Attachment a\\u202etxt.exe of cell 1, line 1');
    expect(where).not.toContain(RLO);
  });

  it('shows an archive member and a preview escaped', () => {
    const [row] = findingRows([
      finding({
        cell_index: null,
        field: `inner/${RLO}vsc.exe\n`,
        preview: `pass${RLO}…\x1b]`
      })
    ]);
    expect(row.where).toBe('Inner/\\u202evsc.exe\\n, line 1');
    expect(row.preview).toBe('pass\\u202e…\\x1b]');
  });

  it('shows an accepted finding of a path escaped', () => {
    const [row] = acceptedRows([
      {
        id: '1',
        fingerprint: '732de497537976b36d542e63b327f433',
        kind: 'GitHub token',
        preview: 'ghp_…oz3',
        path: `n${RLO}bnypi.exe`,
        reason: 'test_credential',
        user: 'alice',
        created: '2026-03-01T14:02:00Z'
      } as never
    ]);
    expect(row.path).toBe('n\\u202ebnypi.exe');
  });
});
