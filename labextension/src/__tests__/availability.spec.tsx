/**
 * The leak guard's availability (status bar, refused saves) and refusals by a user's role,
 * fed with the server's real answers (pinned by tests/test_frontend_contract.py).
 */
import React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import {
  isBlockedSave,
  isServiceUnavailable,
  isUnavailableSave
} from '../guard/refusals';
import { GuardStatusButton, UnavailableSave } from '../guard/unavailable';
import {
  UNAVAILABLE_REASON,
  UNAVAILABLE_STATUS,
  statusFromError,
  summarizeAvailability,
  unavailableSaveText
} from '../models/availability';
import {
  QSecureError,
  apiError,
  forbiddenText,
  isForbidden
} from '../models/errors';
import { IApiError, IGuardStatus } from '../tokens';
import { bodyText, contentsError, contract, fields, trans } from './contract';

const on = contract<IGuardStatus>('status-on.json');
const off = contract<IGuardStatus>('status-off.json');
const unavailable = contract<IGuardStatus>('status-unavailable.json');
const refusedSave = contract<IApiError>('save-unavailable.json');
const forbidden = contract<IApiError>('forbidden.json');

describe('the guard status the server reports', () => {
  it('has the fields the status bar reads', () => {
    const always = fields<Pick<IGuardStatus, 'ready' | 'version' | 'guard'>>({
      ready: true,
      version: true,
      guard: true
    });
    for (const answer of [on, off]) {
      expect(answer.status).toBe(200);
      expect(Object.keys(answer.body).sort()).toEqual(always);
    }
    expect(Object.keys(unavailable.body).sort()).toEqual(
      fields<IGuardStatus>({
        ready: true,
        version: true,
        guard: true,
        reason: true,
        message: true
      })
    );
  });

  it('shows nothing while the guard is on', () => {
    const summary = summarizeAvailability(on.body, trans);
    expect([summary.state, summary.shown]).toEqual(['on', false]);
  });

  it('warns when the admin turned the guard off', () => {
    const summary = summarizeAvailability(off.body, trans);
    expect([summary.state, summary.shown, summary.label]).toEqual([
      'off',
      true,
      'Leak guard off'
    ]);
    expect(summary.description).toContain('enabled = false');
  });

  it('says so when jupyter-qsecure could not load, with the reason', () => {
    const summary = summarizeAvailability(unavailable.body, trans);
    expect([summary.state, summary.shown, summary.label]).toEqual([
      'unavailable',
      true,
      'Leak guard unavailable'
    ]);
    expect(summary.message).toBe(unavailable.body.message);
    expect(summary.message).toContain('server log');
  });

  it('takes a missing status route for a server without jupyter-qsecure', () => {
    const missing = apiError(404, 'Not Found', '<html>404 : Not Found</html>');
    const status = statusFromError(missing, trans);
    expect(status?.guard).toBe('unavailable');
    expect(summarizeAvailability(status, trans).label).toBe(
      'Leak guard unavailable'
    );
  });

  it('keeps what it knew when the answer says nothing of the guard', () => {
    expect(statusFromError(new QSecureError(0, 'x', 'down'), trans)).toBeNull();
    expect(statusFromError(apiError(403, 'Forbidden', ''), trans)).toBeNull();
    expect(summarizeAvailability(null, trans).shown).toBe(false);
  });

  it('is a labelled button in the status bar', () => {
    const summary = summarizeAvailability(unavailable.body, trans);
    const html = renderToStaticMarkup(
      <GuardStatusButton
        summary={summary}
        trans={trans}
        onClick={() => undefined}
      />
    );
    expect(html).toMatch(/^<button type="button"/);
    expect(html).toContain('data-state="unavailable"');
    expect(html).toContain(
      'aria-label="Leak guard unavailable. Show details."'
    );
    expect(html).toContain('injected by the contract test');
  });
});

describe('a save refused while jupyter-qsecure is not running', () => {
  it('is told apart from other refusals', () => {
    expect(refusedSave.status).toBe(UNAVAILABLE_STATUS);
    expect(refusedSave.body.reason).toBe(UNAVAILABLE_REASON);
    const error = contentsError(refusedSave);
    expect(isUnavailableSave(error)).toBe(true);
    expect(isBlockedSave(error)).toBe(false);
  });

  it('is checked against the status when a proxy dropped the reason phrase', () => {
    const error = contentsError({
      ...refusedSave,
      reason_phrase: 'Service Unavailable'
    });
    expect(isServiceUnavailable(error)).toBe(true);
    expect(isUnavailableSave(error)).toBe(false);
  });

  it('reads as unavailable through the request helper', () => {
    const error = apiError(
      refusedSave.status,
      refusedSave.reason_phrase,
      bodyText(refusedSave)
    );
    expect(statusFromError(error, trans)?.message).toBe(
      refusedSave.body.message
    );
  });

  it('explains that nothing was saved, the work is kept and who can fix it', () => {
    expect(unavailableSaveText('lab/run.ipynb', trans)).toMatch(
      /^run\.ipynb was not saved: .*jupyter-qsecure.* is not running\. .*your work is still in the editor\. Ask your admin, or read the server log/
    );
    const html = renderToStaticMarkup(
      <UnavailableSave
        path="clean.ipynb"
        message={refusedSave.body.message}
        trans={trans}
      />
    );
    expect(html).toContain('role="alert"');
    expect(html).toContain('injected by the contract test');
  });
});

describe('an action the role on this server does not allow', () => {
  it('is told plainly, with the server’s words', () => {
    expect(forbidden.status).toBe(403);
    const error = apiError(
      forbidden.status,
      forbidden.reason_phrase,
      bodyText(forbidden)
    );
    expect(isForbidden(error)).toBe(true);
    expect(error.reason).toBe(forbidden.body.reason);
    expect(forbiddenText('sign notebooks', error, trans)).toBe(
      `You cannot sign notebooks on this server: ${forbidden.body.message}`
    );
  });

  it('is not confused with other failures', () => {
    const other = apiError(500, 'Internal Server Error', '{"reason": "x"}');
    expect(isForbidden(other)).toBe(false);
    expect(forbiddenText('sign notebooks', other, trans)).toBeNull();
    expect(other.message).toBe(
      'The server answered 500 Internal Server Error.'
    );
  });
});
