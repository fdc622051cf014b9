import { webcrypto } from 'crypto';

import type * as nbformat from '@jupyterlab/nbformat';
import type { INotebookModel } from '@jupyterlab/notebook';
import { Signal } from '@lumino/signaling';

import { keepCleanOnKernelMetadata } from '../cleanOpen';
import { fingerprint } from '../models/literal';
import {
  cellFields,
  fieldText,
  withAllOccurrences
} from '../models/occurrences';
import { storeAndGrant } from '../secrets/store';
import { QSecureError } from '../models/errors';
import { IFinding } from '../tokens';
import { contract } from './contract';

const TOKEN = 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
const TOKEN_FINGERPRINT = '53e3464c903c4eec4c7a6a67f61f71ef';
const subtle = webcrypto.subtle as unknown as SubtleCrypto;
const hash = (value: string): Promise<string> => fingerprint(value, subtle);

function notebook(cells: nbformat.ICell[]): nbformat.INotebookContent {
  return { cells, metadata: {}, nbformat: 4, nbformat_minor: 5 };
}

function codeCell(
  id: string,
  source: string,
  outputs: nbformat.IOutput[] = []
): nbformat.ICodeCell {
  return {
    cell_type: 'code',
    id,
    source,
    metadata: {},
    outputs,
    execution_count: null
  };
}

const printed: nbformat.IOutput = {
  output_type: 'stream',
  name: 'stdout',
  text: [`Your key: ${TOKEN}\n`, `save_account(token="${TOKEN}")\n`, 'done\n']
};

function finding(overrides: Partial<IFinding> = {}): IFinding {
  return {
    rule: 'github-token',
    kind: 'GitHub token',
    preview: 'ghp_…7r8',
    fingerprint: TOKEN_FINGERPRINT,
    field: 'outputs[0].stdout',
    line: 2,
    cell_index: 1,
    cell_id: 'b',
    ...overrides
  };
}

describe('cell fields', () => {
  it('are named as the guard names them', () => {
    const cell = codeCell('x', 'a\nb', [
      printed,
      {
        output_type: 'execute_result',
        data: { 'text/plain': ['1'], 'image/png': 'AAA' },
        metadata: {},
        execution_count: 1
      },
      {
        output_type: 'error',
        ename: 'ValueError',
        evalue: 'bad',
        traceback: ['line 1', 'line 2']
      }
    ]);
    expect(cellFields(cell).map(([field]) => field)).toEqual([
      'source',
      'outputs[0].stdout',
      'outputs[1].text/plain',
      'outputs[1].image/png',
      'outputs[2].error',
      'outputs[2].traceback'
    ]);
    expect(fieldText(cell, 'outputs[2].error')).toBe('ValueError: bad');
    expect(fieldText(cell, 'outputs[9].stdout')).toBeNull();
  });
});

describe('every occurrence of a found value', () => {
  it('adds the lines no rule flagged (the same value printed alone)', async () => {
    const nb = notebook([
      codeCell('a', 'import os'),
      codeCell('b', 'print(...)', [printed]),
      codeCell('c', `# old: ${TOKEN}`)
    ]);
    const all = await withAllOccurrences([finding()], nb, hash);
    expect(all.map(f => [f.cell_index, f.cell_id, f.field, f.line])).toEqual([
      [1, 'b', 'outputs[0].stdout', 2],
      [1, 'b', 'outputs[0].stdout', 1],
      [2, 'c', 'source', 1]
    ]);
    expect(new Set(all.map(f => f.fingerprint))).toEqual(
      new Set([TOKEN_FINGERPRINT])
    );
  });

  it('keeps findings whose value is gone or cannot be located', async () => {
    const nb = notebook([codeCell('a', 'import os')]);
    const gone = finding({ cell_index: 5 });
    const wrong = finding({ cell_index: 0, field: 'source', line: 1 });
    expect(await withAllOccurrences([gone, wrong], nb, hash)).toEqual([
      gone,
      wrong
    ]);
    expect(await withAllOccurrences([gone], null, hash)).toEqual([gone]);
  });

  it('adds nothing the server already listed (contract: a real scan)', async () => {
    const blocked = contract<{ findings: IFinding[] }>('blocked-save.json');
    const content = blocked.request?.model.content as nbformat.INotebookContent;
    const findings = blocked.body.findings;
    const all = await withAllOccurrences(findings, content, hash);
    expect(all).toEqual(findings);
  });
});

describe('storeAndGrant', () => {
  type Call = [string, string];

  function recorder(failOn: string | null): {
    calls: Call[];
    request: (endpoint: string, init?: RequestInit) => Promise<unknown>;
  } {
    const calls: Call[] = [];
    return {
      calls,
      request: async (endpoint: string, init: RequestInit = {}) => {
        calls.push([init.method ?? 'GET', endpoint]);
        if (failOn !== null && `${init.method} ${endpoint}` === failOn) {
          throw new QSecureError(400, 'qsecure-bad-request', 'too short');
        }
        return {};
      }
    };
  }

  it('grants only once the value is stored (a refused value creates nothing)', async () => {
    const { calls, request } = recorder('PUT secrets/TOKEN');
    await expect(
      storeAndGrant('TOKEN', 'x', 'a.ipynb', request as never)
    ).rejects.toThrow('too short');
    expect(calls).toEqual([['PUT', 'secrets/TOKEN']]);
  });

  it('deletes the value again when the grant fails', async () => {
    const { calls, request } = recorder('PUT grants/TOKEN');
    await expect(
      storeAndGrant('TOKEN', 'long enough', 'a.ipynb', request as never)
    ).rejects.toThrow('too short');
    expect(calls).toEqual([
      ['PUT', 'secrets/TOKEN'],
      ['PUT', 'grants/TOKEN'],
      ['DELETE', 'secrets/TOKEN']
    ]);
  });

  it('stores then grants, or only stores for a known secret', async () => {
    const ok = recorder(null);
    await storeAndGrant('A_B', 'value', 'x/y.ipynb', ok.request as never);
    expect(ok.calls).toEqual([
      ['PUT', 'secrets/A_B'],
      ['PUT', 'grants/A_B']
    ]);
    const known = recorder(null);
    await storeAndGrant('A_B', 'value', null, known.request as never);
    expect(known.calls).toEqual([['PUT', 'secrets/A_B']]);
  });
});

/** The parts of a notebook model the clean-open watcher uses. */
class FakeModel {
  content: nbformat.INotebookContent = notebook([codeCell('a', 'x = 1')]);
  private _dirty = false;
  readonly stateChanged = new Signal<
    this,
    { name: string; oldValue: unknown; newValue: unknown }
  >(this);

  get dirty(): boolean {
    return this._dirty;
  }

  set dirty(value: boolean) {
    if (value !== this._dirty) {
      this._dirty = value;
      this.stateChanged.emit({
        name: 'dirty',
        oldValue: !value,
        newValue: value
      });
    }
  }

  toJSON(): nbformat.INotebookContent {
    return JSON.parse(JSON.stringify(this.content));
  }

  /** A change, then the model marks itself dirty (as JupyterLab's model does). */
  change(edit: (content: nbformat.INotebookContent) => void): void {
    edit(this.content);
    this.dirty = true;
  }
}

describe('a notebook the user did not change', () => {
  const kernelConnects = (c: nbformat.INotebookContent): void => {
    c.metadata.language_info = { name: 'python', version: '3.11.2' };
    c.metadata.kernelspec = { name: 'python3', display_name: 'Python 3' };
  };

  it('stays clean when the kernel fills in language_info and kernelspec', () => {
    const model = new FakeModel();
    const watch = keepCleanOnKernelMetadata(model as unknown as INotebookModel);
    model.change(kernelConnects);
    expect(model.dirty).toBe(false);
    watch.dispose();
  });

  it('is dirty after a real change, alone or with the kernel metadata', () => {
    const model = new FakeModel();
    keepCleanOnKernelMetadata(model as unknown as INotebookModel);
    model.change(c => {
      kernelConnects(c);
      c.cells[0].source = 'x = 2';
    });
    expect(model.dirty).toBe(true);
    // Saved: clean again, and the next kernel-only change keeps it so.
    model.dirty = false;
    model.change(c => {
      c.metadata.language_info = { name: 'python', version: '3.12.0' };
    });
    expect(model.dirty).toBe(false);
    model.change(c => {
      c.metadata.tags = ['mine'];
    });
    expect(model.dirty).toBe(true);
  });

  it('stops watching once disposed', () => {
    const model = new FakeModel();
    const watch = keepCleanOnKernelMetadata(model as unknown as INotebookModel);
    watch.dispose();
    expect(watch.isDisposed).toBe(true);
    model.change(kernelConnects);
    expect(model.dirty).toBe(true);
  });
});
