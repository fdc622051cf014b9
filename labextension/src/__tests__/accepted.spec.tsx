import React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { AcceptedFindings } from '../guard/acceptedView';
import {
  AcceptedFindingsModel,
  IAcceptedAPI,
  IAcceptedFinding,
  IAcceptedListing,
  IUndoneFinding,
  acceptedRows,
  shortTime
} from '../models/accepted';
import { QSecureError, english as trans } from '../models/errors';
import { contract } from './contract';

function entry(overrides: Partial<IAcceptedFinding> = {}): IAcceptedFinding {
  return {
    id: '0123456789abcdef',
    fingerprint: '53e3464c903c4eec4c7a6a67f61f71ef',
    reason: 'test_credential',
    user: 'alice',
    path: 'runs/calibration.ipynb',
    created: '2026-03-01T14:02:31.5+00:00',
    kind: 'GitHub token',
    preview: 'ghp_…7r8',
    ...overrides
  };
}

/** A server that lists ``entries`` and undoes them (or refuses, with ``refusal``). */
class FakeServer implements IAcceptedAPI {
  undone: string[] = [];
  refusal: Error | null = null;
  stillAccepted = false;

  constructor(public entries: IAcceptedFinding[]) {}

  async list() {
    if (this.refusal !== null) {
      throw this.refusal;
    }
    return { accepted: this.entries };
  }

  async undo(id: string): Promise<IUndoneFinding> {
    if (this.refusal !== null) {
      throw this.refusal;
    }
    const found = this.entries.find(e => e.id === id);
    if (found === undefined) {
      throw new QSecureError(404, 'qsecure-not-found', `no ${id}`);
    }
    this.undone.push(id);
    this.entries = this.entries.filter(e => e.id !== id);
    return { ...found, still_accepted: this.stillAccepted };
  }
}

describe('acceptedRows', () => {
  it('names what, where, why, who and when', () => {
    expect(acceptedRows([entry()])).toEqual([
      {
        id: '0123456789abcdef',
        what: 'GitHub token ghp_…7r8',
        path: 'runs/calibration.ipynb',
        reason: 'Test credential',
        byWhen: 'alice, 2026-03-01 14:02 UTC'
      }
    ]);
  });

  it('falls back to the fingerprint when no kind or preview was kept', () => {
    const [row] = acceptedRows([
      entry({ kind: '', preview: '', reason: 'will_rotate' })
    ]);
    expect(row.what).toBe('Finding fingerprint 53e3464c');
    expect(row.reason).toBe('Will rotate');
  });

  it('keeps an unknown reason and time as they are', () => {
    const [row] = acceptedRows([entry({ reason: 'later', created: 'soon' })]);
    expect(row.reason).toBe('later');
    expect(shortTime('soon')).toBe('soon');
  });
});

describe('AcceptedFindingsModel', () => {
  it('loads the list, then undoes one entry once the server confirms', async () => {
    const server = new FakeServer([
      entry({ id: 'a'.repeat(16) }),
      entry({ id: 'b'.repeat(16), path: 'other.ipynb' })
    ]);
    const model = new AcceptedFindingsModel(server);
    const states: string[] = [];
    model.changed.connect(() => states.push(model.state.kind));
    expect(model.state.kind).toBe('loading');
    await model.refresh();
    expect(states).toEqual(['loading', 'ready']);
    expect(model.entries.map(e => e.id)).toEqual([
      'a'.repeat(16),
      'b'.repeat(16)
    ]);

    const undone = await model.undo('a'.repeat(16));
    expect(server.undone).toEqual(['a'.repeat(16)]);
    expect(undone.still_accepted).toBe(false);
    expect(model.state).toEqual({
      kind: 'ready',
      rows: acceptedRows([entry({ id: 'b'.repeat(16), path: 'other.ipynb' })])
    });
  });

  it('keeps the entry when the server refuses the undo', async () => {
    const server = new FakeServer([entry()]);
    const model = new AcceptedFindingsModel(server);
    await model.refresh();
    server.refusal = new QSecureError(
      403,
      'qsecure-forbidden',
      'needs write on qsecure:guard'
    );
    await expect(model.undo(entry().id)).rejects.toThrow('qsecure:guard');
    expect(model.entries).toHaveLength(1);
    expect(model.state.kind).toBe('ready');
  });

  it('says why the list cannot be read', async () => {
    const server = new FakeServer([]);
    server.refusal = new QSecureError(
      500,
      'qsecure-bypass-store-unreadable',
      'bypasses.json: cannot read the bypass store'
    );
    const model = new AcceptedFindingsModel(server);
    await model.refresh();
    expect(model.state).toEqual({
      kind: 'failed',
      message: 'bypasses.json: cannot read the bypass store'
    });
  });

  it('passes on that another acceptance still covers the value', async () => {
    const server = new FakeServer([entry()]);
    server.stillAccepted = true;
    const model = new AcceptedFindingsModel(server);
    await model.refresh();
    expect((await model.undo(entry().id)).still_accepted).toBe(true);
  });
});

describe('AcceptedFindings view', () => {
  it('lists each acceptance with an Undo and says where acceptances apply', async () => {
    const model = new AcceptedFindingsModel(
      new FakeServer([entry(), entry({ id: 'c'.repeat(16) })])
    );
    await model.refresh();
    const html = renderToStaticMarkup(
      <AcceptedFindings model={model} undo={() => undefined} trans={trans} />
    );
    expect(html).toContain('this Jupyter server only');
    expect(html).toContain('pragma: allowlist secret');
    expect(html).toContain('.secrets.baseline');
    expect(html).toContain('GitHub token ghp_…7r8');
    expect(html.match(/>Undo<\/button>/g)).toHaveLength(2);
    expect(html).toContain('guard.md');
  });

  it('says so when nothing was accepted', async () => {
    const model = new AcceptedFindingsModel(new FakeServer([]));
    await model.refresh();
    const html = renderToStaticMarkup(
      <AcceptedFindings model={model} undo={() => undefined} trans={trans} />
    );
    expect(html).toContain('You have accepted no finding on this server.');
    expect(html).not.toContain('>Undo<');
  });
});

describe('the server\u2019s answers (pinned from a real server)', () => {
  it('lists and undoes an acceptance as the server sends them', async () => {
    const listed = contract<IAcceptedListing>('accepted.json').body;
    const undone = contract<IUndoneFinding>('undone.json').body;
    const model = new AcceptedFindingsModel({
      list: async () => listed,
      undo: async () => undone
    });
    await model.refresh();
    expect(model.state).toEqual({
      kind: 'ready',
      rows: [
        {
          id: '0123456789abcdef',
          what: 'GitHub token ghp_…Qx2',
          path: 'contract/leak.ipynb',
          reason: 'Test credential',
          byWhen: '<user>, 2026-01-01 00:00 UTC'
        }
      ]
    });
    expect((await model.undo('0123456789abcdef')).still_accepted).toBe(false);
    expect(model.entries).toEqual([]);
  });
});
