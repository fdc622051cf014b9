/**
 * Real-time collaboration (jupyter-collaboration): the server saves the shared document
 * itself, so a save the leak guard refuses has no request in this browser to answer. The
 * server puts a notice in the document's awareness (field ``qsecure`` of its own state);
 * every collaborator's frontend shows it as a non-modal notification, once per distinct
 * refusal, and dismisses it when the next save goes through (the server clears it).
 */
import type { TranslationBundle } from '@jupyterlab/translation';

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

/** The awareness field the server's notice is in. */
export const NOTICE_FIELD = 'qsecure';

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
  getStates(): Map<number, Record<string, unknown>>;
  on(event: 'change', handler: () => void): void;
  off(event: 'change', handler: () => void): void;
}

/** The notice in any awareness state, or null. */
export function findNotice(
  awareness: IAwarenessLike
): ICollaborationNotice | null {
  for (const state of awareness.getStates().values()) {
    const notice = state?.[NOTICE_FIELD] as ICollaborationNotice | undefined;
    if (notice && notice.blocked && typeof notice.message === 'string') {
      return notice;
    }
  }
  return null;
}

/** Shows one document's notices: one notification per distinct refusal. */
export class CollaborationNoticeWatcher {
  constructor(
    private readonly awareness: IAwarenessLike,
    private readonly trans: TranslationBundle,
    private readonly notify: INotifier,
    private readonly explain: (notice: ICollaborationNotice) => void
  ) {
    this.awareness.on('change', this.update);
    this.update();
  }

  /** The id of the notification shown now, if any. */
  get shownId(): string | null {
    return this.shown?.id ?? null;
  }

  /** Stop watching and dismiss what is shown. */
  dispose(): void {
    this.awareness.off('change', this.update);
    this.dismiss();
  }

  private readonly update = (): void => {
    const notice = findNotice(this.awareness);
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
  };

  private dismiss(): void {
    if (this.shown !== null) {
      this.notify.dismiss(this.shown.id);
      this.shown = null;
    }
  }

  private shown: { id: string; message: string } | null = null;
}
