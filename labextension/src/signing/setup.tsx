/** The "Set up Signing" dialog and the Sign dialog's preview of what signing will use. */
import { Dialog, Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { showBodyDialog } from '../dialogs';
import {
  ISigningSetupAnswer,
  SetupChoice,
  candidateLabel,
  choiceProblem,
  initialChoice,
  initialPrincipal,
  principalProblem,
  setupBody,
  signingPlan
} from '../models/signingSetup';
import { notifyFailure } from '../notices';
import { jsonBody, requestAPI } from '../request';
import { RoleChoice } from './details';

/** The server's current setup (and, with ``path``, that notebook's accepted findings). */
export function fetchSetup(path?: string): Promise<ISigningSetupAnswer> {
  const query = path ? `?path=${encodeURIComponent(path)}` : '';
  return requestAPI<ISigningSetupAnswer>(`signing/setup${query}`);
}

/** Props of {@link SetupForm}. */
export interface ISetupFormProps {
  answer: ISigningSetupAnswer;
  trans: TranslationBundle;
  initial: { choice: SetupChoice; principal: string };
  onChange: (choice: SetupChoice, principal: string) => void;
}

/** Pick a key (or generate one) and say who signs. */
export function SetupForm(props: ISetupFormProps): JSX.Element {
  const { answer, trans } = props;
  const [choice, setChoice] = React.useState<SetupChoice>(props.initial.choice);
  const [principal, setPrincipal] = React.useState(props.initial.principal);
  const update = (next: SetupChoice, who: string): void => {
    setChoice(next);
    setPrincipal(who);
    props.onChange(next, who);
  };
  const problem = principalProblem(principal, trans);
  const generating = choice.kind === 'generate';
  return (
    <div className="jp-qsecure-SigningSetup">
      {answer.key?.source === 'policy' && (
        <p className="jp-qsecure-SigningSetup-note">
          {trans.__(
            'The administrator set a server key; it is used whatever you choose here.'
          )}
        </p>
      )}
      <fieldset>
        <legend>{trans.__('Key')}</legend>
        {answer.candidates.length === 0 && (
          <p>
            {trans.__(
              'No key found in %1 or in the ssh-agent.',
              answer.ssh_dir
            )}
          </p>
        )}
        {answer.candidates.map(candidate => (
          <label key={candidate.id} className="jp-qsecure-SigningSetup-key">
            <input
              type="radio"
              name="qsecure-signing-key"
              value={candidate.id}
              checked={choice.kind === 'key' && choice.key === candidate.id}
              onChange={() =>
                update({ kind: 'key', key: candidate.id }, principal)
              }
            />{' '}
            {candidateLabel(candidate, trans)}
          </label>
        ))}
        <label className="jp-qsecure-SigningSetup-key">
          <input
            type="radio"
            name="qsecure-signing-key"
            value="generate"
            checked={generating}
            onChange={() =>
              update({ kind: 'generate', noPassphrase: false }, principal)
            }
          />{' '}
          {trans.__('Generate a new ed25519 key in %1', answer.ssh_dir)}
        </label>
        {generating && (
          <label className="jp-qsecure-SigningSetup-passphrase">
            <input
              type="checkbox"
              checked={choice.kind === 'generate' && choice.noPassphrase}
              onChange={event =>
                update(
                  { kind: 'generate', noPassphrase: event.target.checked },
                  principal
                )
              }
            />{' '}
            {trans.__(
              'Without a passphrase: the server signs without asking for one, so anyone who can read files as the server user can sign as you.'
            )}
          </label>
        )}
        {answer.agent && (
          <p className="jp-qsecure-SigningSetup-note">{answer.agent}</p>
        )}
      </fieldset>
      <label className="jp-qsecure-SigningSetup-principal">
        {trans.__('Principal (who signs)')}{' '}
        <input
          className="jp-mod-styled"
          type="text"
          aria-label={trans.__('Principal')}
          value={principal}
          onChange={event => update(choice, event.target.value)}
        />
      </label>
      {problem !== null && (
        <p className="jp-qsecure-SigningSetup-problem" role="alert">
          {problem}
        </p>
      )}
      <p className="jp-qsecure-SigningSetup-note">
        {trans.__(
          'The key and principal are kept for you on this server, with a personal allowed signers file that makes your own key trusted for the author role. The administrator’s signing policy still wins.'
        )}
      </p>
    </div>
  );
}

/**
 * Show the setup dialog until the user saves a valid choice or cancels. Resolves with the
 * server's answer after saving, or null.
 */
export async function showSigningSetup(
  trans: TranslationBundle
): Promise<ISigningSetupAnswer | null> {
  let answer: ISigningSetupAnswer;
  try {
    answer = await fetchSetup();
  } catch (error) {
    notifyFailure(
      trans.__('set up signing'),
      trans.__('Cannot read the signing setup'),
      error,
      trans
    );
    return null;
  }
  let choice = initialChoice(answer);
  let principal = initialPrincipal(answer);
  for (;;) {
    const initial = { choice, principal };
    const result = await showBodyDialog(
      trans.__('Set up Signing'),
      () => (
        <SetupForm
          answer={answer}
          trans={trans}
          initial={initial}
          onChange={(c, p) => {
            choice = c;
            principal = p;
          }}
        />
      ),
      [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: trans.__('Save') })
      ],
      'jp-qsecure-Dialog'
    );
    if (!result.button.accept) {
      return null;
    }
    const problem =
      choiceProblem(choice, trans) ?? principalProblem(principal, trans);
    if (problem !== null) {
      Notification.warning(problem, { autoClose: 5000 });
      continue;
    }
    try {
      const saved = await requestAPI<ISigningSetupAnswer>(
        'signing/setup',
        jsonBody('POST', setupBody(choice, principal))
      );
      Notification.success(
        trans.__(
          'Signing set up: %1 signs with %2.',
          saved.principal,
          saved.key?.fingerprint ?? ''
        ),
        { autoClose: 5000 }
      );
      return saved;
    } catch (error) {
      notifyFailure(
        trans.__('set up signing'),
        trans.__('Signing not set up'),
        error,
        trans
      );
      answer = await fetchSetup().catch(() => answer);
    }
  }
}

/** Props of {@link SignPreview}. */
export interface ISignPreviewProps {
  answer: ISigningSetupAnswer;
  roles: readonly string[];
  initial: string;
  warnings: string[];
  trans: TranslationBundle;
  onChange: (role: string) => void;
}

/** The role choice, the key, principal and role signing will use, and the warnings. */
export function SignPreview(props: ISignPreviewProps): JSX.Element {
  const { trans } = props;
  const [role, setRole] = React.useState(props.initial);
  const plan = signingPlan(props.answer, role, trans);
  return (
    <div className="jp-qsecure-SignPreview">
      <RoleChoice
        roles={props.roles}
        initial={props.initial}
        onChange={r => {
          setRole(r);
          props.onChange(r);
        }}
      />
      <dl className="jp-qsecure-SignPreview-plan">
        <dt>{trans.__('Key')}</dt>
        <dd data-field="key">{plan.key}</dd>
        <dt>{trans.__('Principal')}</dt>
        <dd data-field="principal">{plan.principal}</dd>
        <dt>{trans.__('Role')}</dt>
        <dd data-field="role">{plan.role}</dd>
      </dl>
      <p className="jp-qsecure-SigningSetup-note">{plan.trust}</p>
      {plan.roleWarning !== null && (
        <p className="jp-qsecure-SignPreview-warning" role="alert">
          {plan.roleWarning}
        </p>
      )}
      {props.warnings.length > 0 && (
        <div className="jp-qsecure-SignPreview-warnings">
          <h3 className="jp-qsecure-Heading">{trans.__('Before you sign')}</h3>
          <ul>
            {props.warnings.map((warning, i) => (
              <li key={i}>{warning}</li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
