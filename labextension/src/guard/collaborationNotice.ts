/**
 * Real-time collaboration (jupyter-collaboration): the server saves the shared document
 * itself, so a save the leak guard refuses has no request in this browser to answer. The
 * server keeps the notice of the refused save and answers it on
 * ``GET /qsecure/guard/notice?path=PATH``; every collaborator's frontend shows it as a
 * non-modal notification, once per distinct refusal, and dismisses it when the server
 * says there is none (the next save went through).
 *
 * The document's awareness tells when to ask, never what to show: awareness is not
 * authenticated (any collaborator can put a ``qsecure`` field in their own state, or
 * replace the server's), so a change in it is only a cue to ask the server again.
 */
import type { TranslationBundle } from '@jupyterlab/translation';

import { requestAPI } from '../request';

/** What the watcher shows notices with (JupyterLab's ``Notification``). */
export interface INotifier {
  warning(
    message: string,
    options: {
      autoClose: false;
      actions: { label: string; callback: () => void }[];
    }
  ): string;
  dismiss(id: string): void;
}

/** The awareness field the server sets as a cue (never read: anyone can write it). */
export const NOTICE_FIELD = 'qsecure';

/** How long after an awareness change the server is asked (changes meanwhile wait). */
export const ASK_DELAY_MS = 500;

/** The server's notice of a refused save of a shared document: names, never values. */
export interface ICollaborationNotice {
  blocked: boolean;
  path: string;
  message: string;
  fixes: string[];
  findings: {
    rule: string;
    kind: string;
    cell_index: number | null;
    line: number | null;
  }[];
}

/** The part of a Yjs awareness this module reads. */
export interface IAwarenessLike {
  on(event: 'change', handler: () => void): void;
  off(event: 'change', handler: () => void): void;
}

/** Asks the server for the notice of the document at a path. */
export type NoticeSource = (path: string) => Promise<unknown>;

/** ``GET /qsecure/guard/notice?path=PATH``: the server's answer. */
export async function askServer(path: string): Promise<unknown> {
  const query = new URLSearchParams({ path }).toString();
  return requestAPI<unknown>(`guard/notice?${query}`);
}

/** The notice in the server's answer ``{notice}``, or null (also for a malformed one). */
export function noticeOf(answer: unknown): ICollaborationNotice | null {
  const notice = (answer as { notice?: unknown } | null)?.notice as
    Partial<ICollaborationNotice> | null | undefined;
  if (
    !notice ||
    typeof notice !== 'object' ||
    notice.blocked !== true ||
    typeof notice.message !== 'string'
  ) {
    return null;
  }
  return {
    blocked: true,
    path: typeof notice.path === 'string' ? notice.path : '',
    message: notice.message,
    fixes: Array.isArray(notice.fixes)
      ? notice.fixes.filter((fix): fix is string => typeof fix === 'string')
      : [],
    findings: Array.isArray(notice.findings) ? notice.findings : []
  };
}

/** Shows one document's notices, as the server answers them: one notification per
 * distinct refusal. */
export class CollaborationNoticeWatcher {
  constructor(
    private readonly awareness: IAwarenessLike,
    private readonly path: () => string,
    private readonly trans: TranslationBundle,
    private readonly notify: INotifier,
    private readonly explain: (notice: ICollaborationNotice) => void,
    private readonly ask: NoticeSource = askServer,
    private readonly delay: number = ASK_DELAY_MS
  ) {
    this.awareness.on('change', this.changed);
    this.asked = this.refresh();
  }

  /** The id of the notification shown now, if any. */
  get shownId(): string | null {
    return this.shown?.id ?? null;
  }

  /** Settles once the server's latest answer asked for is shown (for tests). */
  get settled(): Promise<void> {
    return this.asked;
  }

  /** Stop watching and dismiss what is shown. */
  dispose(): void {
    this.disposed = true;
    this.awareness.off('change', this.changed);
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.dismiss();
  }

  /** An awareness change: ask the server once the delay is over (a burst of changes,
   * cursors moving, asks once; asking waits for no pause in them). */
  private readonly changed = (): void => {
    if (this.timer !== null || this.disposed) {
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.asked = this.refresh();
    }, this.delay);
  };

  /** Ask the server and show its answer, unless a later answer was shown already. */
  private async refresh(): Promise<void> {
    const asking = ++this.asking;
    let notice: ICollaborationNotice | null;
    try {
      notice = noticeOf(await this.ask(this.path()));
    } catch {
      return; // no answer (offline, refused): what is shown stays until one comes
    }
    if (this.disposed || asking < this.answered) {
      return;
    }
    this.answered = asking;
    this.show(notice);
  }

  private show(notice: ICollaborationNotice | null): void {
    if (notice === null) {
      this.dismiss();
      return;
    }
    if (this.shown?.message === notice.message) {
      return;
    }
    this.dismiss();
    const id = this.notify.warning(notice.message, {
      autoClose: false,
      actions: [
        {
          label: this.trans.__('How to fix'),
          callback: () => this.explain(notice)
        }
      ]
    });
    this.shown = { id, message: notice.message };
  }

  private dismiss(): void {
    if (this.shown !== null) {
      this.notify.dismiss(this.shown.id);
      this.shown = null;
    }
  }

  private shown: { id: string; message: string } | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private asking = 0;
  private answered = 0;
  private disposed = false;
  private asked: Promise<void> = Promise.resolve();
}
