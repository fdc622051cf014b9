/** Registers the collaboration notice (see ./collaborationNotice) on each notebook. */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ITranslator } from '@jupyterlab/translation';

import { translationBundle } from '../notices';
import {
  CollaborationNoticeWatcher,
  IAwarenessLike,
  ICollaborationNotice
} from './collaborationNotice';

function awarenessOf(panel: NotebookPanel): IAwarenessLike | null {
  const shared = panel.context.model?.sharedModel as unknown as {
    awareness?: IAwarenessLike;
  };
  return shared?.awareness ?? null;
}

/** The plugin: a watcher on each open notebook's shared model (its awareness cues the
 * watcher to ask the server). */
export const collaborationNoticePlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-qsecure:collaboration-notice',
  description:
    'With real-time collaboration, a save the leak guard refuses is shown to every collaborator of the document, with its fixes, as the server answers it.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    translator: ITranslator | null
  ) => {
    const trans = translationBundle(translator);
    tracker.widgetAdded.connect((__, panel) => {
      void panel.context.ready.then(() => {
        const awareness = awarenessOf(panel);
        if (awareness === null || panel.isDisposed) {
          return;
        }
        const explain = (notice: ICollaborationNotice): void => {
          void showDialog({
            title: trans.__('Autosave blocked by the leak guard'),
            body: [notice.message, ...notice.fixes].join('\n\n'),
            buttons: [Dialog.okButton()]
          });
        };
        // The server's path: without the drive (the collaboration drive is "RTC:").
        const path = (): string =>
          app.serviceManager.contents.localPath(panel.context.path);
        const watcher = new CollaborationNoticeWatcher(
          awareness,
          path,
          trans,
          Notification,
          explain
        );
        panel.disposed.connect(() => watcher.dispose());
      });
    });
  }
};
