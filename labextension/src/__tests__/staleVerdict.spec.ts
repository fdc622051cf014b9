/**
 * The signing status and the provenance panel follow the active notebook: an answer the
 * server gave for the notebook shown before must never be shown for the one shown now
 * (a reviewer who left a signed notebook for another one read "Signed by alice" on it
 * while the other loaded).
 */
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Signal } from '@lumino/signaling';

jest.mock('../request', () => {
  const errors = jest.requireActual('../models/errors');
  return {
    requestAPI: jest.fn(),
    errorMessage: errors.errorMessage,
    jsonBody: (method: string, body: unknown) => ({
      method,
      body: JSON.stringify(body)
    })
  };
});
// JupyterLab's packages are ES modules Jest does not load: the model's base, as they define it.
jest.mock('@jupyterlab/ui-components', () => {
  const { Signal } = jest.requireActual('@lumino/signaling');
  class VDomModel {
    readonly stateChanged = new Signal(this);
    isDisposed = false;
    dispose(): void {
      this.isDisposed = true;
      Signal.clearData(this);
    }
  }
  class VDomRenderer {}
  class ReactWidget {
    id = '';
    title: Record<string, unknown> = {};
    node = { setAttribute: () => undefined };
    isDisposed = false;
    addClass(): void {
      return;
    }
    update(): void {
      return;
    }
    dispose(): void {
      this.isDisposed = true;
    }
  }
  return { VDomModel, VDomRenderer, ReactWidget, LabIcon: class {} };
});
jest.mock('@lumino/widgets', () => ({ Widget: class {} }));
jest.mock('@jupyterlab/notebook', () => {
  const { Signal } = jest.requireActual('@lumino/signaling');
  return { NotebookActions: { executed: new Signal({}) } };
});
jest.mock('../notices', () => ({
  translationBundle: () => ({ __: (text: string) => text })
}));
jest.mock('@jupyterlab/apputils', () => ({}));
jest.mock('../guard/flow', () => ({}));
jest.mock('../secrets/store', () => ({}));
jest.mock('../provenance/badges', () => ({
  applyBadges: jest.fn(),
  clearBadges: jest.fn()
}));

import { requestAPI } from '../request';
import { ProvenancePanel } from '../provenance/panel';
import { SecretsPanel } from '../secrets/panel';
import { SigningStatusModel, statusView } from '../signing/status';
import {
  IProvenanceReport,
  ISecretRow,
  ISecretsListing,
  ISigningVerdict
} from '../tokens';

const mockedRequest = requestAPI as jest.MockedFunction<typeof requestAPI>;

/** A promise and the function that settles it. */
function deferred<T>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
} {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>(r => (resolve = r));
  return { promise, resolve };
}

/** The parts of a NotebookPanel the status model uses; ``ready`` settles on demand. */
function fakePanel(path: string): {
  panel: NotebookPanel;
  load: () => void;
} {
  const ready = deferred<void>();
  const owner = {};
  const panel = {
    context: {
      path,
      ready: ready.promise,
      saveState: new Signal<unknown, string>(owner),
      fileChanged: new Signal<unknown, unknown>(owner),
      model: {
        contentChanged: new Signal<unknown, void>(owner),
        toJSON: () => ({
          nbformat: 4,
          nbformat_minor: 5,
          metadata: {},
          cells: []
        })
      }
    },
    disposed: new Signal<unknown, void>(owner),
    sessionContext: { kernelChanged: new Signal<unknown, unknown>(owner) }
  };
  return {
    panel: panel as unknown as NotebookPanel,
    load: () => ready.resolve()
  };
}

const signedByAlice: ISigningVerdict = {
  status: 'signed and valid',
  required: 1,
  meets_policy: true,
  policy: '1 of 1 required',
  signatures: [
    {
      principal: 'alice@lab',
      role: 'reviewer',
      signed_at: '2026-11-24T23:08:00Z',
      valid: true,
      trusted: true,
      reason: '',
      changed_cells: []
    }
  ]
} as unknown as ISigningVerdict;

const flush = () => new Promise(resolve => setTimeout(resolve, 0));

describe('the signing status after a switch of notebook', () => {
  afterEach(() => mockedRequest.mockReset());

  it('never shows the verdict of the notebook shown before', async () => {
    const answer = deferred<ISigningVerdict>();
    mockedRequest.mockReturnValueOnce(answer.promise as Promise<unknown>);
    const model = new SigningStatusModel();
    const signed = fakePanel('signed.ipynb');
    model.panel = signed.panel;
    signed.load();
    await flush();
    expect(mockedRequest).toHaveBeenCalledTimes(1);

    // The reviewer opens another notebook; it is still loading when the answer for the
    // first one comes back.
    const other = fakePanel('adversary.ipynb');
    model.panel = other.panel;
    answer.resolve(signedByAlice);
    await flush();

    expect(model.verdict).toBeNull();
    expect(statusView(model).label).not.toContain('Signed');
    expect(statusView(model).label).toBe('Signing: checking…');
    model.dispose();
  });
});

/** The parts of the notebook tracker the provenance panel uses. */
function fakeTracker(): {
  tracker: INotebookTracker;
  show: (panel: NotebookPanel) => void;
} {
  const tracker = {
    currentWidget: null as NotebookPanel | null,
    currentChanged: new Signal<unknown, NotebookPanel | null>({})
  };
  return {
    tracker: tracker as unknown as INotebookTracker,
    show: panel => {
      tracker.currentWidget = panel;
      tracker.currentChanged.emit(panel);
    }
  };
}

/** The listing the secrets panel shows now. */
function listingOf(panel: SecretsPanel): ISecretsListing | null {
  return (panel as unknown as { _listing: ISecretsListing | null })._listing;
}

const executedAsShown = {
  path: 'ran.ipynb',
  ok: true,
  user: 'alice',
  kernel_session: 's',
  environment: null,
  timeline: [],
  out_of_order: [],
  hidden_state: [],
  files_changed: [],
  cells: []
} as unknown as IProvenanceReport;

describe('the provenance panel after a switch of notebook', () => {
  afterEach(() => mockedRequest.mockReset());

  it('never shows the report of the notebook shown before', async () => {
    const answer = deferred<IProvenanceReport>();
    mockedRequest.mockReturnValueOnce(answer.promise as Promise<unknown>);
    const { tracker, show } = fakeTracker();
    const ran = fakePanel('ran.ipynb');
    show(ran.panel);
    const panel = new ProvenancePanel(tracker);
    ran.load();
    await flush();
    expect(mockedRequest).toHaveBeenCalledTimes(1);

    const other = fakePanel('adversary.ipynb');
    show(other.panel);
    answer.resolve(executedAsShown);
    await flush();

    expect(panel.report).toBeNull();
    panel.dispose();
  });
});

function listing(path: string, granted: boolean): ISecretsListing {
  return {
    path,
    policy: 'qsecure.toml',
    policy_error: null,
    personal_grants: true,
    secrets: [{ name: 'IBM_QUANTUM_TOKEN', granted } as unknown as ISecretRow]
  };
}

describe('the secrets panel after a switch of notebook', () => {
  afterEach(() => mockedRequest.mockReset());

  it('never shows the listing of the notebook shown before', async () => {
    // The first notebook's listing is slow to come (a keyring that asks), the second's not.
    const first = deferred<ISecretsListing>();
    const second = deferred<ISecretsListing>();
    mockedRequest
      .mockReturnValueOnce(
        Promise.resolve(listing('', false)) as Promise<unknown>
      )
      .mockReturnValueOnce(first.promise as Promise<unknown>)
      .mockReturnValueOnce(second.promise as Promise<unknown>);
    const { tracker, show } = fakeTracker();
    const panel = new SecretsPanel(tracker);
    await flush();
    show(fakePanel('granted.ipynb').panel);
    show(fakePanel('adversary.ipynb').panel);
    expect(listingOf(panel)).toBeNull();
    second.resolve(listing('adversary.ipynb', true));
    await flush();
    first.resolve(listing('granted.ipynb', false));
    await flush();

    expect(listingOf(panel)?.path).toBe('adversary.ipynb');
    panel.dispose();
  });
});
