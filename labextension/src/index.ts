/**
 * jupyter-qsecure's JupyterLab and Jupyter Notebook 7 extension. Separate plugins, which
 * an administrator can disable one by one (`jupyter labextension disable
 * jupyter-qsecure:secrets`):
 *
 * - `guard`: blocked saves explained and fixed (a dialog, a notice on the document), the
 *   findings accepted here (review, undo), the guard's availability in the status bar;
 *   provides {@link IQSecureGuard};
 * - `signing`: the signing status, Sign and Verify; provides {@link IQSecureSigning};
 * - `provenance` and `secrets`: their panels;
 * - `menu`: the Secure menu, the palette entries and Help;
 * - `clean-open`: a notebook the user did not change stays unmodified.
 *
 * Nothing here needs JupyterLab's own shell: panels go to the frontend's side areas,
 * which both JupyterLab and Notebook 7 have. This module only composes the plugins.
 */
import {
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
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { CommandToolbarButton } from '@jupyterlab/ui-components';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';
import { Menu, Widget } from '@lumino/widgets';

import { watchPanel } from './cleanOpen';
import { showAcceptedFindings } from './guard/accepted';
import {
  GuardStatusItem,
  GuardStatusModel,
  UnavailableSaveFlow
} from './guard/availability';
import { collaborationNoticePlugin } from './guard/collaborationNoticePlugin';
import { BlockedSaveFlow } from './guard/flow';
import { interceptRefusedSaves } from './guard/intercept';
import {
  GUARD_GUIDE,
  JUPYTERLAB_GUIDE,
  PROVENANCE_GUIDE,
  SECRETS_GUIDE,
  SIGNING_GUIDE
} from './guides';
import { provenanceIcon, secretsIcon, signIcon } from './icons';
import { translationBundle } from './notices';
import { ProvenancePanel } from './provenance/panel';
import { SecretsPanel } from './secrets/panel';
import { IQSecureGuard, IQSecureSigning } from './services';
import {
  showSignatureDetails,
  signNotebook,
  verifyNotebook
} from './signing/actions';
import { showSigningSetup } from './signing/setup';
import {
  SigningStatusButton,
  SigningStatusItem,
  SigningStatusModel
} from './signing/status';
import { IFinding } from './tokens';

export { IQSecureGuard, IQSecureSigning } from './services';

/** Command ids. */
export namespace CommandIDs {
  export const sign = 'qsecure:sign';
  export const verify = 'qsecure:verify';
  export const signingSetup = 'qsecure:signing-setup';
  export const showProvenance = 'qsecure:show-provenance';
  export const manageSecrets = 'qsecure:manage-secrets';
  export const acceptedFindings = 'qsecure:accepted-findings';
  export const help = 'qsecure:help';
}

/** The commands of the Secure menu, in order. */
const MENU_COMMANDS = [
  CommandIDs.sign,
  CommandIDs.verify,
  CommandIDs.signingSetup,
  CommandIDs.showProvenance,
  CommandIDs.manageSecrets,
  CommandIDs.acceptedFindings,
  CommandIDs.help
];

/** The guides Help opens, by topic. */
const GUIDES: Record<string, string> = {
  jupyterlab: JUPYTERLAB_GUIDE,
  guard: GUARD_GUIDE,
  secrets: SECRETS_GUIDE,
  provenance: PROVENANCE_GUIDE,
  signing: SIGNING_GUIDE
};

/**
 * Settings read from the registry once per plugin (null without a registry or a schema,
 * when the defaults apply): ``apply`` runs now and on each change.
 */
async function loadSettings(
  registry: ISettingRegistry | null,
  plugin: string,
  apply: (settings: ISettingRegistry.ISettings) => void
): Promise<ISettingRegistry.ISettings | null> {
  // A plugin whose schema the frontend did not preload (Notebook 7 preloads fewer) is not
  // loaded: loading it there breaks another plugin's listener. The defaults apply.
  if (registry === null || !(plugin in registry.plugins)) {
    return null;
  }
  try {
    const settings = await registry.load(plugin);
    apply(settings);
    settings.changed.connect(() => apply(settings));
    return settings;
  } catch {
    return null; // no schema installed (an older build): the defaults apply
  }
}

/** Show the panel ``id`` once the application is restored, if the settings say so. */
function openOnStart(
  app: JupyterFrontEnd,
  settings: Promise<ISettingRegistry.ISettings | null>,
  id: string
): void {
  void Promise.all([settings, app.restored])
    .then(([loaded]) => {
      if (loaded?.get('openOnStart').composite === true) {
        app.shell.activateById(id);
      }
    })
    .catch(() => undefined); // not restored: nothing to open
}

/** Put a panel in a side area of whichever frontend runs (JupyterLab or Notebook 7). */
function addToSide(
  app: JupyterFrontEnd,
  widget: Widget,
  area: 'left' | 'right',
  rank: number
): void {
  app.shell.add(widget, area, { rank, type: widget.title.caption });
}

/** The leak guard's service: the last findings per path. */
class GuardService implements IQSecureGuard {
  private readonly _findings = new Map<string, IFinding[]>();
  readonly findingsChanged: Signal<IQSecureGuard, string> = new Signal<
    IQSecureGuard,
    string
  >(this);
  readonly secretsChanged: Signal<IQSecureGuard, void> = new Signal<
    IQSecureGuard,
    void
  >(this);

  findings(path: string): IFinding[] {
    return this._findings.get(path) ?? [];
  }

  set(path: string, findings: IFinding[]): void {
    if (findings.length === 0) {
      this._findings.delete(path);
    } else {
      this._findings.set(path, findings);
    }
    this.findingsChanged.emit(path);
  }
}

const guardPlugin: JupyterFrontEndPlugin<IQSecureGuard> = {
  id: 'jupyter-qsecure:guard',
  description:
    'Saves the leak guard refuses: a dialog with the fixes when you save, a notice on the document for autosaves, the findings accepted here (to review and undo), and the guard\u2019s availability in the status bar.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [IStatusBar, ITranslator, ISettingRegistry],
  provides: IQSecureGuard,
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    statusBar: IStatusBar | null,
    translator: ITranslator | null,
    registry: ISettingRegistry | null
  ): IQSecureGuard => {
    const trans = translationBundle(translator);
    const service = new GuardService();
    const flow = new BlockedSaveFlow({
      tracker,
      onSecretsChanged: () => service.secretsChanged.emit(),
      trans
    });
    // A save the user asks for opens the dialog when refused; an autosave does not.
    app.commands.commandExecuted.connect((_, args) => {
      if (args.id === 'docmanager:save') {
        const path = tracker.currentWidget?.context.path;
        if (path !== undefined) {
          flow.saveRequested(path);
        }
      }
    });
    tracker.widgetAdded.connect((_, panel) => {
      panel.context.saveState.connect((context, state) => {
        if (state === 'completed') {
          service.set(context.path, []);
          flow.saveCompleted(context.path);
        }
      });
    });
    app.commands.addCommand(CommandIDs.acceptedFindings, {
      label: trans.__('Findings Accepted Here…'),
      caption: trans.__(
        'Review and undo the findings you accepted on this server (in the blocked-save dialog)'
      ),
      execute: () => showAcceptedFindings(trans)
    });
    const availability = new GuardStatusModel(trans);
    void availability.refresh();
    const unavailable = new UnavailableSaveFlow(availability, trans);
    interceptRefusedSaves(app.serviceManager.contents, {
      blocked: (path, findings, message) => {
        service.set(path, findings);
        void flow.refused(path, findings, message);
      },
      unavailable: (path, message) => {
        void unavailable.show(path, message);
      },
      confirmUnavailable: async () =>
        (await availability.refresh()).state === 'unavailable'
    });
    void loadSettings(registry, guardPlugin.id, settings => {
      flow.dialogOnAutosave = settings.get('dialogOnAutosave')
        .composite as boolean;
      availability.setInterval(
        settings.get('statusPollSeconds').composite as number
      );
    });
    if (statusBar !== null) {
      statusBar.registerStatusItem('jupyter-qsecure:guard-status', {
        item: new GuardStatusItem(availability, trans),
        align: 'left',
        rank: 4,
        isActive: () => availability.summary.shown,
        activeStateChanged: availability.stateChanged
      });
    }
    return service;
  }
};

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

/** The signing status model as other extensions see it. */
class SigningService implements IQSecureSigning {
  readonly changed: Signal<IQSecureSigning, void> = new Signal<
    IQSecureSigning,
    void
  >(this);

  constructor(private readonly _model: SigningStatusModel) {
    _model.stateChanged.connect(() => this.changed.emit());
  }

  get verdict() {
    return this._model.verdict;
  }

  refresh(): Promise<void> {
    return this._model.refresh();
  }
}

const signingPlugin: JupyterFrontEndPlugin<IQSecureSigning> = {
  id: 'jupyter-qsecure:signing',
  description:
    'The signing status of the active notebook in the status bar (in Notebook 7, which has none, beside the menu bar), and the Sign and Verify commands and toolbar buttons.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [IStatusBar, ITranslator],
  provides: IQSecureSigning,
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    statusBar: IStatusBar | null,
    translator: ITranslator | null
  ): IQSecureSigning => {
    const trans = translationBundle(translator);
    const current = (): NotebookPanel | null => tracker.currentWidget;
    const hasNotebook = (): boolean => tracker.currentWidget !== null;
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
      statusBar.registerStatusItem('jupyter-qsecure:signing-status', {
        item: new SigningStatusItem(status, openDetails),
        align: 'left',
        rank: 5,
        isActive: hasNotebook,
        activeStateChanged: status.stateChanged
      });
    } else {
      // Notebook 7 has no status bar: the status goes where Notebook 7 shows its own
      // (the kernel's, "Trusted"), beside the menu bar.
      const item = new SigningStatusButton(status, openDetails);
      item.id = 'jp-qsecure-signing-status';
      app.shell.add(item, 'menu', { rank: 10500 });
    }
    app.commands.addCommand(CommandIDs.sign, {
      label: trans.__('Sign Notebook…'),
      caption: trans.__('Sign this notebook with your SSH key (choose a role)'),
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
    app.commands.addCommand(CommandIDs.signingSetup, {
      label: trans.__('Set up Signing…'),
      caption: trans.__(
        'Choose or generate the SSH key and the principal you sign with on this server'
      ),
      execute: async () => {
        if ((await showSigningSetup(trans)) !== null) {
          await status.refresh();
        }
      }
    });
    app.commands.addCommand(CommandIDs.verify, {
      label: trans.__('Verify Signatures'),
      caption: trans.__(
        "Check this notebook's signatures against the allowed signers"
      ),
      isEnabled: hasNotebook,
      execute: async () => {
        const panel = current();
        if (panel !== null) {
          await verifyNotebook(panel, trans);
        }
      }
    });
    app.docRegistry.addWidgetExtension('Notebook', new ToolbarButtons(app));
    return new SigningService(status);
  }
};

const provenancePlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-qsecure:provenance',
  description:
    'The provenance panel (right side) and badges in the cells: how each cell was executed.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ITranslator, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    translator: ITranslator | null,
    registry: ISettingRegistry | null
  ) => {
    const trans = translationBundle(translator);
    const provenance = new ProvenancePanel(tracker, trans);
    addToSide(app, provenance, 'right', 600);
    app.commands.addCommand(CommandIDs.showProvenance, {
      label: trans.__('Show Provenance'),
      caption: trans.__('Show how each cell of this notebook was executed'),
      icon: provenanceIcon,
      execute: () => {
        app.shell.activateById(provenance.id);
        void provenance.refresh();
      }
    });
    const settings = loadSettings(registry, provenancePlugin.id, loaded => {
      provenance.configure({
        badges: loaded.get('badges').composite as boolean,
        debounceMs: loaded.get('debounceMs').composite as number
      });
    });
    openOnStart(app, settings, provenance.id);
  }
};

const secretsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-qsecure:secrets',
  description:
    'The secrets panel (left side): the secrets granted to the active notebook, written, granted and revoked without ever showing a value.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ITranslator, IQSecureGuard, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    translator: ITranslator | null,
    guard: IQSecureGuard | null,
    registry: ISettingRegistry | null
  ) => {
    const trans = translationBundle(translator);
    const secrets = new SecretsPanel(tracker, trans);
    addToSide(app, secrets, 'left', 600);
    guard?.secretsChanged.connect(() => void secrets.refresh());
    openOnStart(
      app,
      loadSettings(registry, secretsPlugin.id, () => undefined),
      secrets.id
    );
    app.commands.addCommand(CommandIDs.manageSecrets, {
      label: trans.__('Manage Secrets'),
      caption: trans.__('Show the secrets granted to this notebook'),
      icon: secretsIcon,
      execute: () => {
        app.shell.activateById(secrets.id);
        void secrets.refresh();
      }
    });
  }
};

/** Opens a guide in a new browser tab. */
function addHelpCommand(app: JupyterFrontEnd, trans: TranslationBundle): void {
  app.commands.addCommand(CommandIDs.help, {
    label: args =>
      args.topic
        ? trans.__('jupyter-qsecure Guide: %1', String(args.topic))
        : trans.__('jupyter-qsecure Guide'),
    caption: trans.__(
      'Open the guide to jupyter-qsecure in JupyterLab and Notebook 7 (in a new tab)'
    ),
    execute: args => {
      const url =
        GUIDES[String(args.topic ?? 'jupyterlab')] ?? JUPYTERLAB_GUIDE;
      window.open(url, '_blank', 'noopener');
    }
  });
}

const menuPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-qsecure:menu',
  description:
    'The Secure menu, the command palette entries and the Help entry to the guides.',
  autoStart: true,
  optional: [IMainMenu, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    mainMenu: IMainMenu | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = translationBundle(translator);
    addHelpCommand(app, trans);
    // A command of a plugin an administrator disabled is never added: its entry stays
    // hidden (an unknown command is not visible), whatever order the plugins start in.
    const ids = MENU_COMMANDS;
    if (palette !== null) {
      const category = trans.__('Secure Notebook');
      ids.forEach(command => palette.addItem({ command, category }));
    }
    if (mainMenu !== null) {
      const menu = new Menu({ commands: app.commands });
      menu.id = 'jp-qsecure-menu';
      menu.title.label = trans.__('Secure');
      ids.forEach(command => {
        if (command === CommandIDs.help) {
          menu.addItem({ type: 'separator' });
        }
        menu.addItem({ command });
      });
      mainMenu.addMenu(menu, true, { rank: 900 });
      mainMenu.helpMenu.addGroup([{ command: CommandIDs.help }], 60);
    }
  }
};

const cleanOpenPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-qsecure:clean-open',
  description:
    'A notebook you did not change stays unmodified when its kernel connects (the kernel\u2019s language_info and kernelspec alone do not mark it modified).',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_: JupyterFrontEnd, tracker: INotebookTracker) => {
    tracker.widgetAdded.connect((__, panel) => watchPanel(panel));
  }
};

const plugins: JupyterFrontEndPlugin<unknown>[] = [
  guardPlugin,
  signingPlugin,
  provenancePlugin,
  secretsPlugin,
  cleanOpenPlugin,
  collaborationNoticePlugin,
  menuPlugin
];

export default plugins;
