/**
 * Signing set up without editing a file, in a real Chromium against a server whose policy
 * names no signing key and whose ~/.ssh holds no key (QSECURE_UI_SIGNING=personal in
 * jupyter_server_test_config.py): Secure > Set up Signing… generates a key with
 * ssh-keygen, the Sign dialog shows the key, principal and role and names the cell that
 * never ran, the notebook is signed, and it is still "Signed" after a reload; the same in
 * Jupyter Notebook 7 (its Secure menu, the status beside its menu bar).
 */
import { expect, test } from '@jupyterlab/galata';
import { Page, test as plainTest } from '@playwright/test';

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

// Notebook 7's pages, not JupyterLab's: Playwright's own page (Galata's waits for JupyterLab).
plainTest.describe('in Jupyter Notebook 7', () => {
  plainTest(
    'set up signing from the Secure menu, sign; the status beside the menu bar says Signed',
    async ({ page }) => {
      const errors = watchErrors(page);
      const principal = 'notebook7@lab.example';
      const notebook = {
        cells: [
          {
            cell_type: 'code',
            id: 'nb7',
            metadata: {},
            source: 'y = 6 * 7',
            outputs: [],
            execution_count: null
          }
        ],
        metadata: {
          kernelspec: {
            display_name: 'Python 3 (ipykernel)',
            language: 'python',
            name: 'python3'
          },
          language_info: { name: 'python' }
        },
        nbformat: 4,
        nbformat_minor: 5
      };
      const put = await page.request.put('/api/contents/setup7.ipynb', {
        data: { type: 'notebook', format: 'json', content: notebook }
      });
      expect(put.ok()).toBe(true);
      await page.goto('/notebooks/setup7.ipynb');
      await expect(page.locator('.jp-Notebook .jp-Cell').first()).toBeVisible({
        timeout: 30000
      });
      // Notebook 7 has no status bar: the status is beside its menu bar.
      const status = page.locator('#jp-qsecure-signing-status');
      await expect(status).toContainText('Unsigned');

      await page.getByRole('menuitem', { name: 'Secure', exact: true }).click();
      await page
        .locator('#jp-qsecure-menu')
        .getByRole('menuitem', { name: 'Set up Signing…' })
        .click();
      const setup = page.locator('.jp-Dialog', { hasText: 'Set up Signing' });
      await expect(setup).toBeVisible();
      // The key the JupyterLab test generated is this user's on this server, so Notebook 7
      // offers it (run alone, this test generates one as that test does).
      const generate = setup.getByRole('radio', { name: /Generate/ });
      if (await generate.isChecked()) {
        await setup
          .getByRole('checkbox', { name: /Without a passphrase/ })
          .check();
      } else {
        await expect(
          setup.getByRole('radio', { name: /id_ed25519_qsecure/ })
        ).toBeChecked();
      }
      await setup.getByLabel('Principal', { exact: true }).fill(principal);
      const stored = page.waitForResponse(
        response =>
          response.url().includes('/qsecure/signing/setup') &&
          response.request().method() === 'POST'
      );
      await setup.getByRole('button', { name: 'Save' }).click();
      expect((await stored).status()).toBe(200);
      await expect(setup).toHaveCount(0);

      await page.locator('jp-button[data-command="qsecure:sign"]').click();
      const ask = page.locator('.jp-Dialog', { hasText: 'Sign as' });
      await expect(ask.locator('[data-field="principal"]')).toHaveText(
        principal
      );
      await expect(ask.locator('[data-field="role"]')).toHaveText('author');
      await expect(ask).toContainText(
        'Cell 1 (“y = 6 * 7”) was never executed.'
      );
      await ask.getByRole('button', { name: 'Sign', exact: true }).click();
      await expect(status).toContainText(
        `Signed by ${principal} (1 of 1 required)`
      );
      const saved = await (
        await page.request.get('/api/contents/setup7.ipynb?content=1')
      ).json();
      expect(JSON.stringify(saved.content.metadata)).toContain(principal);
      // Notebook 7's own errors, not this extension's (see notebook7.spec.ts): its
      // shortcuts listener on a plugin it did not preload, its router's file browser
      // command, and jupyter-collaboration's timeline, which needs a status bar.
      const notebook7Own = [
        /reading 'schema'/,
        /Command 'filebrowser:open-path' not registered/,
        /Plugin '@jupyter\/docprovider-extension:statusBarTimeline' failed to activate/
      ];
      expect(
        errors.filter(error => !notebook7Own.some(own => own.test(error)))
      ).toEqual([]);
    }
  );
});
