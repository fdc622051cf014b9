/**
 * The collaboration notice: a real Yjs awareness tells the watcher when to ask the server,
 * and only the server's answer is shown (the notice's fields are the server's, see
 * tests/test_collaboration.py). Awareness is anyone's to write: a collaborator's forged
 * ``qsecure`` field, or the server's cleared by someone else, changes nothing shown.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import {
  Awareness,
  applyAwarenessUpdate,
  encodeAwarenessUpdate
} from 'y-protocols/awareness';
import * as Y from 'yjs';

jest.mock('../request', () => ({ requestAPI: jest.fn() }));

import {
  ASK_DELAY_MS,
  CollaborationNoticeWatcher,
  INotifier,
  NOTICE_FIELD,
  askServer,
  noticeOf
} from '../guard/collaborationNotice';
import { requestAPI } from '../request';
import { trans } from './contract';

const notice = {
  blocked: true,
  path: 'shared.ipynb',
  by: 'ada',
  message:
    'Autosave blocked: this document holds a credential (GitHub token in cell 1, line 2). Nothing was written to disk; the shared document keeps your work.',
  fixes: ['Delete the value from the cell.'],
  findings: [
    { rule: 'github-token', kind: 'GitHub token', cell_index: 0, line: 2 }
  ]
};

const forged = {
  ...notice,
  message:
    'Autosave blocked by the leak guard: sign in again at https://evil.example to unlock saving.',
  fixes: ['Paste your token at https://evil.example']
};

/** One awareness linked to another, as the room links every collaborator's. */
function link(from: Awareness, to: Awareness): void {
  from.on('update', ({ added, updated, removed }: Record<string, number[]>) => {
    const changed = added.concat(updated, removed);
    applyAwarenessUpdate(to, encodeAwarenessUpdate(from, changed), 'remote');
  });
}

/** The server's awareness, a collaborator's (the attacker's) and this user's. */
function room(): { server: Awareness; mallory: Awareness; client: Awareness } {
  const server = new Awareness(new Y.Doc());
  const mallory = new Awareness(new Y.Doc());
  const client = new Awareness(new Y.Doc());
  link(server, client);
  link(mallory, client);
  return { server, mallory, client };
}

function fakeNotify(): {
  shown: Map<string, string>;
  notify: INotifier;
  warnings: () => number;
} {
  const shown = new Map<string, string>();
  let next = 0;
  const notify = {
    warning: (message: string) => {
      const id = `n${next++}`;
      shown.set(id, message);
      return id;
    },
    dismiss: (id: string) => {
      shown.delete(id);
    }
  };
  return { shown, notify, warnings: () => next };
}

/** A server whose answer the test sets, and the paths it was asked for. */
function fakeServer(): {
  answer: { notice: unknown };
  asked: string[];
  ask: (path: string) => Promise<unknown>;
} {
  const answer: { notice: unknown } = { notice: null };
  const asked: string[] = [];
  const ask = async (path: string): Promise<unknown> => {
    asked.push(path);
    return { notice: answer.notice };
  };
  return { answer, asked, ask };
}

function watch(
  client: Awareness,
  notify: INotifier,
  ask: (path: string) => Promise<unknown>
): CollaborationNoticeWatcher {
  return new CollaborationNoticeWatcher(
    client,
    () => 'shared.ipynb',
    trans as unknown as TranslationBundle,
    notify,
    () => undefined,
    ask
  );
}

/** Let the watcher's delay pass and the server's answer arrive. */
async function answered(watcher: CollaborationNoticeWatcher): Promise<void> {
  jest.advanceTimersByTime(ASK_DELAY_MS);
  await watcher.settled;
}

describe('the collaboration notice', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('shows nothing for a collaborator forging a notice in awareness', async () => {
    const { server, mallory, client } = room();
    const { shown, notify } = fakeNotify();
    const backend = fakeServer();
    const watcher = watch(client, notify, backend.ask);
    await watcher.settled;

    mallory.setLocalStateField(NOTICE_FIELD, forged);
    server.setLocalStateField(NOTICE_FIELD, forged);
    await answered(watcher);
    expect(shown.size).toBe(0);
    // It asked the server, for this document, and showed its answer: none.
    expect(backend.asked).toEqual(['shared.ipynb', 'shared.ipynb']);

    // Once the server has a notice, it is the server's that is shown, not the forged one.
    backend.answer.notice = notice;
    mallory.setLocalStateField('user', { name: 'mallory' });
    await answered(watcher);
    expect([...shown.values()]).toEqual([notice.message]);
    watcher.dispose();
    expect(shown.size).toBe(0);
    for (const awareness of [server, mallory, client]) {
      awareness.destroy();
    }
  });

  it("shows the server's notice though someone cleared it from awareness, once per refusal", async () => {
    const { server, mallory, client } = room();
    const { shown, notify, warnings } = fakeNotify();
    const backend = fakeServer();
    backend.answer.notice = notice;
    const watcher = watch(client, notify, backend.ask);
    // Opened while refused: shown without any awareness change.
    await watcher.settled;
    expect([...shown.values()]).toEqual([notice.message]);

    // The server's awareness field is cleared (by a collaborator's forged update): the
    // server still has the notice, and that is what stays shown, once.
    server.setLocalStateField(NOTICE_FIELD, null);
    mallory.setLocalStateField('cursor', { line: 1 });
    await answered(watcher);
    server.setLocalStateField(NOTICE_FIELD, { ...notice });
    await answered(watcher);
    expect([...shown.values()]).toEqual([notice.message]);
    expect(warnings()).toBe(1);

    // The server says the save went through: dismissed, whatever awareness holds.
    backend.answer.notice = null;
    mallory.setLocalStateField(NOTICE_FIELD, forged);
    await answered(watcher);
    expect(shown.size).toBe(0);
    watcher.dispose();
    for (const awareness of [server, mallory, client]) {
      awareness.destroy();
    }
  });

  it('asks once for a burst of changes, and keeps what is shown without an answer', async () => {
    const { mallory, client } = room();
    const { shown, notify } = fakeNotify();
    const backend = fakeServer();
    backend.answer.notice = notice;
    let failing = false;
    const ask = (path: string): Promise<unknown> =>
      failing ? Promise.reject(new Error('offline')) : backend.ask(path);
    const watcher = watch(client, notify, ask);
    await watcher.settled;
    for (let i = 0; i < 20; i++) {
      mallory.setLocalStateField('cursor', { line: i });
    }
    await answered(watcher);
    expect(backend.asked).toHaveLength(2);
    failing = true;
    mallory.setLocalStateField('cursor', { line: 99 });
    await answered(watcher);
    expect([...shown.values()]).toEqual([notice.message]);
    watcher.dispose();
    mallory.destroy();
    client.destroy();
  });

  it("reads only a well-formed notice from the server's answer", () => {
    expect(noticeOf(null)).toBeNull();
    expect(noticeOf({ notice: null })).toBeNull();
    expect(noticeOf({ notice: { blocked: true, message: 42 } })).toBeNull();
    expect(noticeOf({ notice: 'blocked' })).toBeNull();
    expect(noticeOf({ notice })?.message).toBe(notice.message);
  });

  it('asks GET /qsecure/guard/notice through the request helper', async () => {
    const request = requestAPI as jest.Mock;
    request.mockResolvedValueOnce({ notice: null });
    await askServer('folder/a b&c.ipynb');
    expect(request).toHaveBeenCalledWith(
      'guard/notice?path=folder%2Fa+b%26c.ipynb'
    );
  });
});
