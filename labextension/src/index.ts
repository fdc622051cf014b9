/**
 * jupyter-qsecure's JupyterLab extension: the signing status in the status bar, a dialog
 * that explains a blocked save and fixes it, a provenance panel and a secrets panel.
 * This module only composes them; each lives in its own folder.
 */
import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { IMainMenu } from '@jupyterlab/mainmenu';
import {
  INotebookModel,
  INotebookTracker,
  NotebookPanel
} from '@jupyterlab/notebook';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator } from '@jupyterlab/translation';
import { CommandToolbarButton } from '@jupyterlab/ui-components';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { Menu } from '@lumino/widgets';

import {
  GuardStatusItem,
  GuardStatusModel,
  UnavailableSaveFlow
} from './guard/availability';
import { interceptRefusedSaves } from './guard/intercept';
import { BlockedSaveFlow } from './guard/flow';
import { provenanceIcon, secretsIcon, signIcon } from './icons';
import { translationBundle } from './notices';
import { ProvenancePanel } from './provenance/panel';
import { SecretsPanel } from './secrets/panel';
import {
  showSignatureDetails,
  signNotebook,
  verifyNotebook
} from './signing/actions';
import { SigningStatusItem, SigningStatusModel } from './signing/status';

/** Command ids. */
export namespace CommandIDs {
  export const sign = 'qsecure:sign';
  export const verify = 'qsecure:verify';
  export const showProvenance = 'qsecure:show-provenance';
  export const manageSecrets = 'qsecure:manage-secrets';
}

const CATEGORY = 'Secure Notebook';

/** Adds Sign and Verify buttons to each notebook's toolbar. */
class ToolbarButtons implements DocumentRegistry.IWidgetExtension<
  NotebookPanel,
  INotebookModel
> {
  constructor(private readonly _app: JupyterFrontEnd) {}

  createNew(panel: NotebookPanel): IDisposable {
    const buttons = [CommandIDs.sign, CommandIDs.verify].map(
      id => new CommandToolbarButton({ commands: this._app.commands, id })
    );
    buttons.forEach((button, i) =>
      panel.toolbar.insertAfter('spacer', `qsecure-${i}`, button)
    );
    return new DisposableDelegate(() => buttons.forEach(b => b.dispose()));
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-qsecure:plugin',
  description:
    'Secure notebooks: signing status, blocked saves explained, provenance and secrets panels.',
  autoStart: true,
  requires: [INotebookTracker, ILabShell],
  optional: [IStatusBar, ICommandPalette, IMainMenu, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    shell: ILabShell,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null,
    mainMenu: IMainMenu | null,
    translator: ITranslator | null
  ) => {
    const trans = translationBundle(translator);
    const current = (): NotebookPanel | null => tracker.currentWidget;
    const hasNotebook = (): boolean => tracker.currentWidget !== null;

    const provenance = new ProvenancePanel(tracker);
    shell.add(provenance, 'right', { rank: 600 });
    const secrets = new SecretsPanel(tracker, trans);
    shell.add(secrets, 'left', { rank: 600 });

    const flow = new BlockedSaveFlow({
      tracker,
      onSecretsChanged: () => void secrets.refresh(),
      trans
    });
    const availability = new GuardStatusModel(trans);
    void availability.refresh();
    const unavailable = new UnavailableSaveFlow(availability, trans);
    interceptRefusedSaves(app.serviceManager.contents, {
      blocked: (path, findings, message) => {
        void flow.show(path, findings, message);
      },
      unavailable: (path, message) => {
        void unavailable.show(path, message);
      },
      confirmUnavailable: async () =>
        (await availability.refresh()).state === 'unavailable'
    });

    const status = new SigningStatusModel();
    tracker.currentChanged.connect(() => (status.panel = current()));
    status.panel = current();
    const openDetails = (): void => {
      const panel = status.panel;
      if (panel !== null && status.verdict !== null) {
        void showSignatureDetails(panel, status.verdict);
      }
    };
    if (statusBar !== null) {
      statusBar.registerStatusItem('jupyter-qsecure:guard-status', {
        item: new GuardStatusItem(availability, trans),
        align: 'left',
        rank: 4,
        isActive: () => availability.summary.shown,
        activeStateChanged: availability.stateChanged
      });
      statusBar.registerStatusItem('jupyter-qsecure:signing-status', {
        item: new SigningStatusItem(status, openDetails),
        align: 'left',
        rank: 5,
        isActive: hasNotebook,
        activeStateChanged: status.stateChanged
      });
    }

    app.commands.addCommand(CommandIDs.sign, {
      label: 'Sign Notebook…',
      caption: 'Sign this notebook with your SSH key (choose a role)',
      icon: signIcon,
      isEnabled: hasNotebook,
      execute: async () => {
        const panel = current();
        if (panel !== null) {
          await signNotebook(panel, trans);
          await status.refresh();
        }
      }
    });
    app.commands.addCommand(CommandIDs.verify, {
      label: 'Verify Signatures',
      caption: "Check this notebook's signatures against the allowed signers",
      isEnabled: hasNotebook,
      execute: async () => {
        const panel = current();
        if (panel !== null) {
          await verifyNotebook(panel, trans);
        }
      }
    });
    app.commands.addCommand(CommandIDs.showProvenance, {
      label: 'Show Provenance',
      caption: 'Show how each cell of this notebook was executed',
      icon: provenanceIcon,
      execute: () => {
        shell.activateById(provenance.id);
        void provenance.refresh();
      }
    });
    app.commands.addCommand(CommandIDs.manageSecrets, {
      label: 'Manage Secrets',
      caption: 'Show the secrets granted to this notebook',
      icon: secretsIcon,
      execute: () => {
        shell.activateById(secrets.id);
        void secrets.refresh();
      }
    });

    const ids = [
      CommandIDs.sign,
      CommandIDs.verify,
      CommandIDs.showProvenance,
      CommandIDs.manageSecrets
    ];
    if (palette !== null) {
      ids.forEach(command => palette.addItem({ command, category: CATEGORY }));
    }
    if (mainMenu !== null) {
      const menu = new Menu({ commands: app.commands });
      menu.id = 'jp-qsecure-menu';
      menu.title.label = 'Secure';
      ids.forEach(command => menu.addItem({ command }));
      mainMenu.addMenu(menu, true, { rank: 900 });
    }
    app.docRegistry.addWidgetExtension('Notebook', new ToolbarButtons(app));
  }
};

export default plugin;
