/**
 * The blocked-save dialog and the literal locator fed with the guard's real answers
 * (pinned by tests/test_frontend_contract.py).
 */
import { webcrypto } from 'crypto';
import React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { BlockedSave } from '../guard/blocked';
import {
  BLOCKED_STATUS,
  LEAK_REASON,
  isBlockedSave,
  isServiceUnavailable
} from '../guard/refusals';
import { findingRows, suggestSecretName } from '../models/findings';
import {
  fingerprint,
  locateCredential,
  matchesPreview,
  replaceCredential
} from '../models/literal';
import { IFinding, IScanResult } from '../tokens';
import { contentsError, contract, fields } from './contract';

interface IBlockedBody {
  reason: string;
  message: string;
  path: string;
  findings: IFinding[];
}

interface ICell {
  id: string;
  cell_type: string;
  source: string;
}

const blocked = contract<IBlockedBody>('blocked-save.json');
const scan = contract<IScanResult>('scan.json');
const cells = (blocked.request?.model.content as { cells: ICell[] }).cells;

const subtle = webcrypto.subtle as unknown as SubtleCrypto;
const hash = (value: string): Promise<string> => fingerprint(value, subtle);

const FINDING_FIELDS = fields<IFinding>({
  rule: true,
  kind: true,
  preview: true,
  fingerprint: true,
  field: true,
  line: true,
  cell_index: true,
  cell_id: true
});

function sourceOf(finding: IFinding): string {
  const cell = cells.find(c => c.id === finding.cell_id);
  if (cell === undefined) {
    throw new Error(`no cell ${finding.cell_id} in the request`);
  }
  return cell.source;
}

describe('a save refused for a credential', () => {
  it('is told apart by its status and reason phrase', () => {
    expect([blocked.status, blocked.reason_phrase]).toEqual([
      BLOCKED_STATUS,
      LEAK_REASON
    ]);
    expect(blocked.body.reason).toBe(LEAK_REASON);
    const error = contentsError(blocked);
    expect(isBlockedSave(error)).toBe(true);
    expect(isServiceUnavailable(error)).toBe(false);
  });

  it('lists findings with every field the dialog reads', () => {
    expect(blocked.body.findings.length).toBe(3);
    for (const finding of blocked.body.findings) {
      expect(Object.keys(finding).sort()).toEqual(FINDING_FIELDS);
    }
  });

  it('gets the same findings from the scan route the dialog asks', () => {
    expect(scan.status).toBe(200);
    expect(scan.body.path).toBe(blocked.body.path);
    expect(scan.body.findings).toEqual(blocked.body.findings);
  });

  it('becomes rows in notebook order, with the actions that apply', () => {
    const rows = findingRows(blocked.body.findings);
    expect(rows.map(r => [r.where, r.movable, r.inOutput])).toEqual([
      ['Output 1 of cell 2, line 1', false, true],
      ['Cell 2, line 2', true, false],
      ['Cell 3, line 1', true, false]
    ]);
  });

  it('renders masked previews only', () => {
    const html = renderToStaticMarkup(
      <BlockedSave
        path={blocked.body.path}
        findings={blocked.body.findings}
        message={blocked.body.message}
        notebookOpen={true}
        actions={{
          goToCell: () => undefined,
          moveToSecret: () => undefined,
          addPragma: () => undefined,
          clearOutput: () => undefined,
          accept: () => undefined
        }}
      />
    );
    expect(html).toContain('leak.ipynb was not saved: it holds 3 credentials');
    expect(html).toContain(blocked.body.findings[0].preview);
    for (const cell of cells) {
      const token = /ghp_\w+/.exec(cell.source)?.[0];
      if (token !== undefined) {
        expect(html).not.toContain(token);
      }
    }
  });
});

describe('the literal behind a finding', () => {
  const inSources = blocked.body.findings.filter(f => f.field === 'source');

  it('is found by the fingerprint the server computed', async () => {
    expect(inSources.length).toBe(2);
    for (const finding of inSources) {
      const located = await locateCredential(sourceOf(finding), finding, hash);
      expect(located).not.toBeNull();
      expect(matchesPreview(located!.value, finding.preview)).toBe(true);
      expect(await hash(located!.value)).toBe(finding.fingerprint);
    }
  });

  it('is replaced by a read of the secret', async () => {
    const [whole, part] = inSources;
    const name = suggestSecretName(whole);
    expect(name).toBe('GITHUB_TOKEN');
    const first = await locateCredential(sourceOf(whole), whole, hash);
    expect(replaceCredential(sourceOf(whole), first!, name)).toBe(
      'import os\ntoken = os.environ["GITHUB_TOKEN"]\nprint(token)'
    );
    const second = await locateCredential(sourceOf(part), part, hash);
    expect(replaceCredential(sourceOf(part), second!, name)).toBe(
      'import os\nheaders = {"Authorization": f"Bearer {os.environ[\'GITHUB_TOKEN\']}"}'
    );
  });
});
