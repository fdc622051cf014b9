/**
 * Signing set up without editing a file, in a real Chromium against a server whose policy
 * names no signing key and whose ~/.ssh holds no key (QSECURE_UI_SIGNING=personal in
 * jupyter_server_test_config.py): Secure > Set up Signing… generates a key with
 * ssh-keygen, the Sign dialog shows the key, principal and role and names the cell that
 * never ran, the notebook is signed, and it is still "Signed" after a reload.
 */
import { expect, test } from '@jupyterlab/galata';
import { Page } from '@playwright/test';

const PRINCIPAL = 'setup-test@lab.example';

/**
 * Errors seen during a test: console errors, except the browser's own line for a failed
 * resource load (JupyterLab polls the renamed Untitled.ipynb once after a new notebook is
 * named), and every jupyter-qsecure request that failed (with its URL).
 */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', message => {
    const resource = /^Failed to load resource/.test(message.text());
    if (message.type() === 'error' && !resource) {
      errors.push(message.text());
    }
  });
  page.on('pageerror', error => errors.push(String(error)));
  page.on('response', response => {
    if (response.url().includes('/qsecure/') && response.status() >= 400) {
      errors.push(`${response.status()} ${response.url()}`);
    }
  });
  return errors;
}

test('set up signing from the Secure menu, sign, reload: still Signed', async ({
  page
}) => {
  const errors = watchErrors(page);
  await page.notebook.createNew('setup.ipynb');
  await page.notebook.setCell(0, 'code', 'x = 21 * 2\nprint(x)');
  await page.notebook.save();
  const status = page.locator('.jp-qsecure-SigningStatus-button');
  await expect(status).toContainText('Unsigned');

  // Secure > Set up Signing…: no key yet, so generating one is offered.
  await page.getByRole('menuitem', { name: 'Secure' }).click();
  await page
    .locator('#jp-qsecure-menu')
    .getByRole('menuitem', { name: 'Set up Signing…' })
    .click();
  const setup = page.locator('.jp-Dialog', { hasText: 'Set up Signing' });
  await expect(setup).toContainText('No key found in ~/.ssh');
  await expect(setup.getByRole('radio', { name: /Generate/ })).toBeChecked();
  await setup.getByRole('checkbox', { name: /Without a passphrase/ }).check();
  await setup.getByLabel('Principal', { exact: true }).fill(PRINCIPAL);
  const stored = page.waitForResponse(
    response =>
      response.url().includes('/qsecure/signing/setup') &&
      response.request().method() === 'POST'
  );
  await setup.getByRole('button', { name: 'Save' }).click();
  expect((await stored).status()).toBe(200);
  await expect(setup).toHaveCount(0);

  // The setup lists the generated key now.
  const answer = await page.request.get('/qsecure/signing/setup');
  expect(answer.ok()).toBeTruthy();
  const saved = await answer.json();
  expect(saved.setup.principal).toBe(PRINCIPAL);
  expect(saved.candidates.map((c: { id: string }) => c.id)).toEqual([
    '~/.ssh/id_ed25519_qsecure.pub'
  ]);
  const fingerprint: string = saved.key.fingerprint;
  expect(fingerprint).toMatch(/^SHA256:/);

  // Sign: the dialog says with which key, as whom and in which role, and names the
  // cell that never ran.
  await page.locator('jp-button[data-command="qsecure:sign"]').click();
  const ask = page.locator('.jp-Dialog', { hasText: 'Sign as' });
  await expect(ask.locator('[data-field="key"]')).toContainText(fingerprint);
  await expect(ask.locator('[data-field="principal"]')).toHaveText(PRINCIPAL);
  await expect(ask.locator('[data-field="role"]')).toHaveText('author');
  await expect(ask).toContainText('Cell 1 (“x = 21 * 2”) was never executed.');
  await ask.getByRole('button', { name: 'Sign', exact: true }).click();
  await expect(status).toContainText(
    `Signed by ${PRINCIPAL} (1 of 1 required)`
  );

  // Reload: the workspace opens the notebook again; its status is computed anew from
  // the saved file, and it is still signed.
  // (Galata's readiness check waits for a Launcher; the restored workspace has none.)
  await page.reload({ waitForIsReady: false });
  await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
  const tab = page.getByRole('tab', { name: 'setup.ipynb' });
  await tab.click();
  await expect(page.locator('.jp-qsecure-SigningStatus-button')).toContainText(
    `Signed by ${PRINCIPAL}`
  );
  expect(errors).toEqual([]);
});
