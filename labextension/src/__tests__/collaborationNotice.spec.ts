/**
 * The collaboration notice, read from a real Yjs awareness as the server sets it (the
 * notice's fields are the server's, see tests/test_collaboration.py).
 */
import { TranslationBundle } from '@jupyterlab/translation';
import {
  Awareness,
  applyAwarenessUpdate,
  encodeAwarenessUpdate
} from 'y-protocols/awareness';
import * as Y from 'yjs';

import {
  CollaborationNoticeWatcher,
  INotifier,
  NOTICE_FIELD,
  findNotice
} from '../guard/collaborationNotice';
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

/** The server's awareness and a collaborator's, linked as the room links them. */
function room(): { server: Awareness; client: Awareness } {
  const server = new Awareness(new Y.Doc());
  const client = new Awareness(new Y.Doc());
  server.on(
    'update',
    ({ added, updated, removed }: Record<string, number[]>) => {
      const changed = added.concat(updated, removed);
      applyAwarenessUpdate(
        client,
        encodeAwarenessUpdate(server, changed),
        'server'
      );
    }
  );
  return { server, client };
}

function fakeNotify(): { shown: Map<string, string>; notify: INotifier } {
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
  return { shown, notify };
}

describe('the collaboration notice', () => {
  it('is shown once per refusal, to a collaborator, and dismissed by the good save', () => {
    const { server, client } = room();
    const { shown, notify } = fakeNotify();
    const watcher = new CollaborationNoticeWatcher(
      client,
      trans as unknown as TranslationBundle,
      notify,
      () => undefined
    );
    expect(shown.size).toBe(0);

    server.setLocalStateField(NOTICE_FIELD, notice);
    expect([...shown.values()]).toEqual([notice.message]);
    // Every autosave refused again sets the same notice: still one notification.
    server.setLocalStateField(NOTICE_FIELD, { ...notice });
    server.setLocalStateField('user', { name: 'server' });
    expect(shown.size).toBe(1);

    server.setLocalStateField(NOTICE_FIELD, null);
    expect(shown.size).toBe(0);
    watcher.dispose();
    server.destroy();
    client.destroy();
  });

  it('ignores states without a notice and malformed ones', () => {
    const { server, client } = room();
    server.setLocalStateField(NOTICE_FIELD, { blocked: true, message: 42 });
    expect(findNotice(client)).toBeNull();
    server.setLocalStateField(NOTICE_FIELD, 'blocked');
    expect(findNotice(client)).toBeNull();
    server.setLocalStateField(NOTICE_FIELD, notice);
    expect(findNotice(client)?.path).toBe('shared.ipynb');
    server.destroy();
    client.destroy();
  });
});
