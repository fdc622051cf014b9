import { Notification, showDialog, Dialog } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import React from 'react';

import { forbiddenText } from '../models/errors';
import { isSecretName } from '../models/findings';
import { refreshKernelSecret } from '../guard/flow';
import { SECRETS_GUIDE } from '../guides';
import { secretsIcon } from '../icons';
import { translationBundle } from '../notices';
import { errorMessage, jsonBody, requestAPI } from '../request';
import { storeAndGrant } from './store';
import { ISecretRow, ISecretsListing } from '../tokens';

/**
 * The secrets panel (left sidebar): the secrets the policy knows for the active notebook,
 * their source, whether it is granted them and whether its kernel received them. Values
 * can be written (a password field, never read back) and removed; personal grants can be
 * changed. No value is ever fetched or shown.
 */
export class SecretsPanel extends ReactWidget {
  private _panel: NotebookPanel | null = null;
  private _listing: ISecretsListing | null = null;
  private _error: string | null = null;
  private _generation = 0;
  /** A change the user's role on the server does not allow, said where it was tried. */
  private _forbidden: string | null = null;

  constructor(
    private readonly _tracker: INotebookTracker,
    private readonly _trans: TranslationBundle = translationBundle()
  ) {
    super();
    this.id = 'jp-qsecure-secrets';
    this.addClass('jp-qsecure-Panel');
    this.title.icon = secretsIcon;
    this.title.caption = 'Secrets';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Secrets of the active notebook');
    _tracker.currentChanged.connect(this._onCurrentChanged, this);
    this._onCurrentChanged();
  }

  /** Re-read the listing from the server. */
  async refresh(): Promise<void> {
    const path = this._panel?.context.path ?? '';
    // Only the latest request's answer is shown: an earlier one may be another notebook's.
    const generation = ++this._generation;
    try {
      const listing = await requestAPI<ISecretsListing>(
        `secrets?path=${encodeURIComponent(path)}`
      );
      if (generation !== this._generation) {
        return;
      }
      this._listing = listing;
      this._error = null;
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      this._listing = null;
      this._error =
        forbiddenText(this._trans.__('see the secrets'), error, this._trans) ??
        errorMessage(error);
    }
    this.update();
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  protected render(): JSX.Element {
    return (
      <SecretsView
        listing={this._listing}
        error={this._error}
        forbidden={this._forbidden}
        notebook={this._panel?.context.path ?? null}
        actions={{
          setValue: (name, value) => this._setValue(name, value),
          remove: name => this._remove(name),
          grant: name => this._grant(name),
          revoke: name => this._revoke(name),
          refresh: () => this.refresh()
        }}
      />
    );
  }

  private _onCurrentChanged(): void {
    const old = this._panel;
    old?.sessionContext.kernelChanged.disconnect(this._onKernel, this);
    this._panel = this._tracker.currentWidget;
    this._panel?.sessionContext.kernelChanged.connect(this._onKernel, this);
    // Until its own listing comes, the new notebook shows none (not the previous one's).
    this._listing = null;
    this._error = null;
    this.update();
    void this.refresh();
  }

  private _onKernel(): void {
    // The kernel gets its secrets at start; give it a moment to be registered.
    setTimeout(() => void this.refresh(), 1500);
  }

  /**
   * Run a change; ``what`` names it for a refusal by the user's role ("store secrets"),
   * which the panel shows in place rather than as a failure notice.
   */
  private async _run(
    action: () => Promise<unknown>,
    done: string,
    what: string
  ): Promise<boolean> {
    try {
      await action();
    } catch (error) {
      this._forbidden = forbiddenText(what, error, this._trans);
      if (this._forbidden === null) {
        Notification.error(errorMessage(error), { autoClose: false });
      }
      this.update();
      return false;
    }
    this._forbidden = null;
    Notification.success(done, { autoClose: 4000 });
    await this.refresh();
    return true;
  }

  /**
   * Store ``value`` as ``name``; a new secret is then granted to the active notebook.
   * All or nothing: the value is stored first (the server checks it), the grant made
   * only once it is, and a new secret whose grant fails is deleted again.
   */
  private async _setValue(name: string, value: string): Promise<boolean> {
    const notebook = this._panel?.context.path;
    const known = this._listing?.secrets.some(s => s.name === name) ?? false;
    const ok = await this._run(
      () => storeAndGrant(name, value, known ? null : (notebook ?? null)),
      this._trans.__('The value of %1 is stored.', name),
      this._trans.__('store secrets')
    );
    if (ok && this._panel) {
      await refreshKernelSecret(this._panel, name);
      await this.refresh();
    }
    return ok;
  }

  private async _remove(name: string): Promise<void> {
    const row = this._listing?.secrets.find(s => s.name === name);
    const answer = await showDialog({
      title: `Remove ${name}?`,
      body: `This deletes the value of ${name} from ${row?.source ?? 'its store'}${row?.personal ? ' and your grants of it' : ''}. Kernels that already have it keep it until they restart.`,
      buttons: [
        Dialog.cancelButton({ label: this._trans.__('Keep it') }),
        Dialog.warnButton({ label: this._trans.__('Remove') })
      ],
      // A destructive action never takes the default focus (Enter keeps the secret).
      defaultButton: 0
    });
    if (!answer.button.accept) {
      return;
    }
    await this._run(
      async () => {
        await requestAPI(`secrets/${encodeURIComponent(name)}`, {
          method: 'DELETE'
        });
        if (row?.personal) {
          await requestAPI(`grants/${encodeURIComponent(name)}`, {
            method: 'DELETE'
          });
        }
      },
      `${name} is removed.`,
      this._trans.__('remove secrets')
    );
  }

  private async _grant(name: string): Promise<void> {
    const notebook = this._panel?.context.path;
    if (!notebook) {
      return;
    }
    const ok = await this._run(
      () =>
        requestAPI(
          `grants/${encodeURIComponent(name)}`,
          jsonBody('PUT', { notebook })
        ),
      `${name} is granted to ${notebook}.`,
      this._trans.__('grant secrets to notebooks')
    );
    if (ok && this._panel) {
      await refreshKernelSecret(this._panel, name);
      await this.refresh();
    }
  }

  private async _revoke(name: string): Promise<void> {
    const notebook = this._panel?.context.path;
    if (!notebook) {
      return;
    }
    await this._run(
      () =>
        requestAPI(
          `grants/${encodeURIComponent(name)}?notebook=${encodeURIComponent(notebook)}`,
          { method: 'DELETE' }
        ),
      `${name} is no longer granted to ${notebook}; its kernel keeps it until restarted.`,
      this._trans.__('revoke grants')
    );
  }
}

/** What the secrets view can ask for. */
export interface ISecretsActions {
  setValue: (name: string, value: string) => Promise<boolean>;
  remove: (name: string) => Promise<void>;
  grant: (name: string) => Promise<void>;
  revoke: (name: string) => Promise<void>;
  refresh: () => Promise<void>;
}

/** Props of {@link SecretsView}. */
export interface ISecretsViewProps {
  listing: ISecretsListing | null;
  error: string | null;
  /** A change the user's role does not allow (the server's words). */
  forbidden?: string | null;
  notebook: string | null;
  actions: ISecretsActions;
}

/** The secrets panel's content. */
export function SecretsView(props: ISecretsViewProps): JSX.Element {
  const { listing, notebook } = props;
  return (
    <div className="jp-qsecure-Panel-body">
      <h2 className="jp-qsecure-Panel-title">Secrets</h2>
      <p className="jp-qsecure-Muted">
        {notebook === null ? 'No notebook is active.' : `For ${notebook}`}
      </p>
      {props.error !== null && (
        <p className="jp-qsecure-Error">{props.error}</p>
      )}
      {props.forbidden && (
        <p className="jp-qsecure-Forbidden" role="alert">
          {props.forbidden}
        </p>
      )}
      {listing?.policy_error && (
        <p className="jp-qsecure-Error">{listing.policy_error}</p>
      )}
      {listing !== null && listing.secrets.length === 0 && (
        <p className="jp-qsecure-Empty">No secrets yet. Add one below.</p>
      )}
      {listing !== null && listing.secrets.length > 0 && (
        <ul className="jp-qsecure-Secrets" aria-label="Secrets">
          {listing.secrets.map(row => (
            <SecretItem
              key={row.name}
              row={row}
              notebook={notebook}
              personalGrants={listing.personal_grants}
              actions={props.actions}
            />
          ))}
        </ul>
      )}
      <AddSecret
        notebook={notebook}
        actions={props.actions}
        known={listing?.secrets.map(s => s.name) ?? []}
      />
      <p className="jp-qsecure-Muted">
        Policy: {listing?.policy ?? 'none (embedded defaults)'}
      </p>
      <p>
        <a
          href={SECRETS_GUIDE}
          target="_blank"
          rel="noopener noreferrer"
          className="jp-qsecure-Link"
        >
          Guide to secrets
        </a>
      </p>
      <button
        type="button"
        className="jp-mod-styled jp-qsecure-Button"
        onClick={() => void props.actions.refresh()}
      >
        Refresh
      </button>
    </div>
  );
}

function SecretItem(props: {
  row: ISecretRow;
  notebook: string | null;
  personalGrants: boolean;
  actions: ISecretsActions;
}): JSX.Element {
  const { row, actions } = props;
  const [editing, setEditing] = React.useState(false);
  const canGrant =
    row.personal && props.personalGrants && props.notebook !== null;
  const kernelState = row.problem
    ? `kernel: not received (${row.problem})`
    : row.in_kernel
      ? 'kernel: received'
      : 'kernel: not received';
  return (
    <li
      className="jp-qsecure-Secret"
      data-name={row.name}
      data-granted={row.granted}
    >
      <div className="jp-qsecure-Secret-head">
        <code className="jp-qsecure-Secret-name">{row.name}</code>
        <span className="jp-qsecure-Tag" title={row.source}>
          {row.provider}
        </span>
        {row.personal && <span className="jp-qsecure-Tag">personal</span>}
      </div>
      <div className="jp-qsecure-Muted">
        {row.granted
          ? 'granted to this notebook'
          : 'not granted to this notebook'}{' '}
        · {kernelState}
      </div>
      <div className="jp-qsecure-Secret-actions">
        {row.writable && (
          <button
            type="button"
            className="jp-mod-styled jp-qsecure-Button"
            aria-expanded={editing}
            onClick={() => setEditing(!editing)}
          >
            {editing ? 'Cancel' : 'Update value…'}
          </button>
        )}
        {canGrant && !row.granted && (
          <button
            type="button"
            className="jp-mod-styled jp-qsecure-Button"
            onClick={() => void actions.grant(row.name)}
          >
            Grant to this notebook
          </button>
        )}
        {canGrant && row.granted && (
          <button
            type="button"
            className="jp-mod-styled jp-qsecure-Button"
            onClick={() => void actions.revoke(row.name)}
          >
            Revoke from this notebook
          </button>
        )}
        {row.writable && (
          <button
            type="button"
            className="jp-mod-styled jp-mod-warn jp-qsecure-Button"
            onClick={() => void actions.remove(row.name)}
          >
            Remove
          </button>
        )}
      </div>
      {!row.personal && (
        <div className="jp-qsecure-Muted">Grants set by the policy file.</div>
      )}
      {editing && (
        <ValueForm
          name={row.name}
          onSubmit={async value => {
            const ok = await actions.setValue(row.name, value);
            if (ok) {
              setEditing(false);
            }
            return ok;
          }}
        />
      )}
    </li>
  );
}

/** A write-only value field: the input is a password field and is cleared after use. */
function ValueForm(props: {
  name: string;
  onSubmit: (value: string) => Promise<boolean>;
}): JSX.Element {
  const input = React.useRef<HTMLInputElement>(null);
  return (
    <form
      className="jp-qsecure-ValueForm"
      onSubmit={event => {
        event.preventDefault();
        const field = input.current;
        const value = field?.value ?? '';
        if (field) {
          field.value = '';
        }
        if (value !== '') {
          void props.onSubmit(value);
        }
      }}
    >
      <input
        ref={input}
        className="jp-mod-styled"
        type="password"
        autoComplete="new-password"
        spellCheck={false}
        aria-label={`New value of ${props.name}`}
        placeholder="New value"
      />
      <button
        type="submit"
        className="jp-mod-styled jp-mod-accept jp-qsecure-Button"
      >
        Save value
      </button>
    </form>
  );
}

function AddSecret(props: {
  notebook: string | null;
  known: string[];
  actions: ISecretsActions;
}): JSX.Element {
  const [name, setName] = React.useState('');
  const value = React.useRef<HTMLInputElement>(null);
  const valid = isSecretName(name);
  return (
    <form
      className="jp-qsecure-AddSecret"
      aria-label="Add a secret"
      onSubmit={event => {
        event.preventDefault();
        const field = value.current;
        const secret = field?.value ?? '';
        if (field) {
          field.value = '';
        }
        if (valid && secret !== '') {
          void props.actions
            .setValue(name, secret)
            .then(ok => ok && setName(''));
        }
      }}
    >
      <h3 className="jp-qsecure-Heading">Add or update a secret</h3>
      <input
        className="jp-mod-styled"
        aria-label="Secret name"
        placeholder="NAME"
        title="The notebook reads it as os.environ['NAME']"
        value={name}
        aria-invalid={name !== '' && !valid}
        onChange={event => setName(event.target.value)}
      />
      <input
        ref={value}
        className="jp-mod-styled"
        type="password"
        autoComplete="new-password"
        spellCheck={false}
        aria-label="Secret value"
        placeholder="Value"
        title="Write-only: never shown again"
      />
      <button
        type="submit"
        className="jp-mod-styled jp-mod-accept jp-qsecure-Button"
        disabled={!valid}
      >
        {props.known.includes(name)
          ? 'Update'
          : 'Add and grant to this notebook'}
      </button>
      {name !== '' && !valid && (
        <p className="jp-qsecure-Error">
          Use letters, digits and _, not starting with a digit.
        </p>
      )}
    </form>
  );
}
