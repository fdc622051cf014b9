/**
 * jupyter-qsecure in JupyterLab, in a real Chromium against a real server and kernels:
 * blocked saves, moving a credential to the secret store, signing status, provenance
 * badges and the secrets panel.
 */
import { createHash } from 'crypto';
import { readFileSync } from 'fs';

import {
  expect,
  galata,
  IJupyterLabPageFixture,
  test
} from '@jupyterlab/galata';
import { Page } from '@playwright/test';

import { screenshot } from './screenshots';

// A made-up GitHub token, assembled so this file itself holds no credential.
const TOKEN = ['ghp', 'Q7r8s9T0u1V2w3X4y5Z6a7B8c9D0e1F2g3H4'].join('_');

/** Console errors seen during a test (a page with a clean console is part of the contract). */
function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', message => {
    // The browser itself logs each refused request; a blocked save is one by design.
    const refusedSave = /status of 422 \(qsecure-leak\)/.test(message.text());
    if (message.type() === 'error' && !refusedSave) {
      errors.push(message.text());
    }
  });
  page.on('pageerror', error => errors.push(String(error)));
  return errors;
}

async function saveWithKeyboard(page: IJupyterLabPageFixture): Promise<void> {
  await page.keyboard.press('Control+s');
}

async function fileOnDisk(
  page: IJupyterLabPageFixture,
  path: string
): Promise<string> {
  const response = await page.request.get(`/api/contents/${path}?content=1`);
  expect(response.ok()).toBeTruthy();
  return JSON.stringify((await response.json()).content);
}

/**
 * The file while a save may be under way: Jupyter rewrites a file in place (keeping a
 * backup), so a read can meet it half written; that reads as "not there yet".
 */
async function fileOnDiskSoon(
  page: IJupyterLabPageFixture,
  path: string
): Promise<string> {
  const response = await page.request.get(`/api/contents/${path}?content=1`);
  return response.ok() ? JSON.stringify((await response.json()).content) : '';
}

/** The source of a cell of the active notebook, as the editor holds it (saved or not). */
async function cellSource(
  page: IJupyterLabPageFixture,
  index: number
): Promise<string> {
  return page.evaluate(i => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const panel = (window as any).jupyterapp.shell.currentWidget;
    return panel.content.widgets[i].model.sharedModel.getSource() as string;
  }, index);
}

async function newNotebook(
  page: IJupyterLabPageFixture,
  name: string
): Promise<void> {
  await page.notebook.createNew(name);
  await page.notebook.setCell(0, 'code', 'x = 21 * 2\nprint(x)');
  await page.notebook.save();
}

test.describe('blocked saves', () => {
  test('a GitHub token in a cell opens the dialog and the file on disk is unchanged', async ({
    page,
    tmpPath
  }) => {
    const errors = watchConsole(page);
    const path = `${tmpPath}/leak.ipynb`;
    await newNotebook(page, 'leak.ipynb');
    const before = await fileOnDisk(page, path);

    await page.notebook.addCell(
      'code',
      `token = "${TOKEN}"\nprint(len(token))`
    );
    await saveWithKeyboard(page);

    const dialog = page.locator('.jp-qsecure-BlockedSaveDialog');
    await expect(dialog).toBeVisible();
    await expect(dialog).toContainText(
      'leak.ipynb was not saved: it holds a credential.'
    );
    await expect(dialog).toContainText('Cell 2, line 1');
    await expect(dialog).toContainText('GitHub token');
    await expect(dialog).toContainText('ghp_…');
    expect(await dialog.innerText()).not.toContain(TOKEN);
    // Not even part of it (the cell's heading shows its first line, masked).
    expect(await dialog.innerText()).not.toContain(TOKEN.slice(4, 12));
    await expect(
      page.locator('.jp-Dialog-header', { hasText: 'File Save Error' })
    ).toHaveCount(0);
    await screenshot(page, 'blocked-save');

    await dialog
      .locator('.jp-Dialog-footer')
      .getByRole('button', { name: 'Cancel' })
      .click();
    await expect(dialog).toHaveCount(0);
    expect(await fileOnDisk(page, path)).toBe(before);
    // The work is still in the editor, unsaved.
    expect(await cellSource(page, 1)).toContain(TOKEN);
    expect(await page.evaluate(() => document.title)).toBeTruthy();
    expect(errors).toEqual([]);
  });

  test('Move to secret store saves os.environ[...] and the kernel can read the value', async ({
    page,
    tmpPath
  }) => {
    const errors = watchConsole(page);
    const path = `${tmpPath}/move.ipynb`;
    await newNotebook(page, 'move.ipynb');
    await page.notebook.run();
    await page.notebook.addCell(
      'code',
      `token = "${TOKEN}"\nimport hashlib\nprint(hashlib.sha256(token.encode()).hexdigest()[:16])`
    );
    await saveWithKeyboard(page);

    const dialog = page.locator('.jp-qsecure-BlockedSaveDialog');
    await dialog.getByRole('button', { name: 'Move to secret store…' }).click();
    const ask = page.locator('.jp-Dialog', { hasText: 'Move to secret store' });
    await expect(ask.locator('input')).toHaveValue('GITHUB_TOKEN');
    await ask.getByRole('button', { name: 'Move' }).click();

    await expect(
      page
        .getByRole('alert')
        .filter({ hasText: 'GITHUB_TOKEN is in the secret store' })
    ).toContainText('the kernel has it', { timeout: 30000 });
    await expect
      .poll(async () => fileOnDiskSoon(page, path), { timeout: 15000 })
      .toContain('os.environ[\\"GITHUB_TOKEN\\"]');
    const saved = await fileOnDisk(page, path);
    expect(saved).not.toContain(TOKEN);
    expect(await cellSource(page, 1)).toContain('import os');

    await page.notebook.runCell(1);
    const digest = createHash('sha256')
      .update(TOKEN)
      .digest('hex')
      .slice(0, 16);
    expect(await page.notebook.getCellTextOutput(1)).toEqual([`${digest}\n`]);
    expect(errors).toEqual([]);
  });

  test('Accepting as a test credential (after the confirmation) records the reason and lets the save through', async ({
    page,
    tmpPath
  }) => {
    const path = `${tmpPath}/fixture.ipynb`;
    await newNotebook(page, 'fixture.ipynb');
    await page.notebook.addCell(
      'code',
      `FIXTURE = "${TOKEN.replace('Q7r8', 'Z9y8')}"`
    );
    await saveWithKeyboard(page);
    const dialog = page.locator('.jp-qsecure-BlockedSaveDialog');
    await dialog.getByText('Accept it on this server instead…').click();
    await dialog
      .getByLabel('Reason to accept the GitHub token')
      .selectOption('test_credential');
    await dialog
      .getByRole('button', { name: 'Accept on this server…' })
      .click();
    await page
      .locator('.jp-Dialog', { hasText: 'on this server?' })
      .getByRole('button', { name: 'Accept on this server' })
      .click();
    await expect
      .poll(async () => fileOnDiskSoon(page, path), { timeout: 15000 })
      .toContain('FIXTURE');
    // The acceptance is in the audit trail, with its reason and no value.
    const trail = readFileSync(
      `${process.env.QSECURE_UI_STATE}/audit.jsonl`,
      'utf-8'
    );
    const bypass = trail
      .split('\n')
      .filter(line => line.includes('save-bypassed'))
      .map(line => JSON.parse(line));
    expect(
      bypass.some(e => e.reason === 'test_credential' && e.path === path)
    ).toBe(true);
    expect(trail).not.toContain(TOKEN.replace('Q7r8', 'Z9y8'));
  });
});

test.describe('signing', () => {
  test('signing from the UI turns the status bar to Signed, an edit to Modified', async ({
    page
  }) => {
    const errors = watchConsole(page);
    await newNotebook(page, 'signed.ipynb');
    const status = page.locator('.jp-qsecure-SigningStatus-button');
    await expect(status).toContainText('Unsigned');

    await page.locator('jp-button[data-command="qsecure:sign"]').click();
    const ask = page.locator('.jp-Dialog', { hasText: 'Sign as' });
    await ask.getByLabel('Signing role').selectOption('reviewer');
    await ask.getByRole('button', { name: 'Sign' }).click();
    await expect(status).toContainText(
      'Signed by galata@lab.example (1 of 1 required)'
    );
    await screenshot(page, 'status-signed');

    await page.notebook.setCell(0, 'code', 'x = 21 * 3\nprint(x)');
    await expect(status).toContainText('Modified since signing');

    // Keyboard: the status is a button; Enter opens the details with a link to the cell.
    await status.focus();
    await page.keyboard.press('Enter');
    const details = page.locator('.jp-Dialog', {
      hasText: 'Changed since signing'
    });
    await expect(details).toContainText('galata@lab.example');
    await expect(details).toContainText('reviewer');
    await screenshot(page, 'signature-details');
    await details.getByRole('button', { name: 'Cell 1' }).click();
    await expect(details).toHaveCount(0);
    expect(errors).toEqual([]);
  });
});

test.describe('provenance', () => {
  test('badges after running cells, and an edit marks the cell', async ({
    page
  }) => {
    const errors = watchConsole(page);
    await page.notebook.createNew('prov.ipynb');
    await page.notebook.setCell(0, 'code', 'import math\nprint(math.pi)');
    await page.notebook.addCell('code', 'open("data.txt", "w").write("42")');
    await page.notebook.addCell('code', 'print("not run")');
    await page.notebook.runCell(0);
    await page.notebook.runCell(1);

    await page.evaluate(() =>
      window.jupyterapp.commands.execute('qsecure:show-provenance')
    );
    const panel = page.locator('#jp-qsecure-provenance');
    await expect(panel).toBeVisible();
    const cells = page.locator('.jp-Notebook .jp-Cell');
    await expect(cells.nth(0)).toHaveAttribute(
      'data-qsecure-provenance',
      'executed'
    );
    await expect(cells.nth(1)).toHaveAttribute(
      'data-qsecure-provenance',
      'executed'
    );
    await expect(cells.nth(2)).toHaveAttribute(
      'data-qsecure-provenance',
      'never-executed'
    );
    await expect(panel).toContainText('wrote data.txt');
    await expect(panel).toContainText('Python');
    await screenshot(page, 'provenance-panel');

    await page.notebook.setCell(0, 'code', 'import math\nprint(math.e)');
    await expect(cells.nth(0)).toHaveAttribute(
      'data-qsecure-provenance',
      'edited'
    );
    await expect(panel).toContainText(
      'Cell 1: import math — Edited after execution'
    );
    expect(errors).toEqual([]);
  });
});

test.describe('secrets panel', () => {
  test('adds a secret for the notebook and never renders its value', async ({
    page
  }) => {
    const errors = watchConsole(page);
    await newNotebook(page, 'secrets.ipynb');
    await page.evaluate(() =>
      window.jupyterapp.commands.execute('qsecure:manage-secrets')
    );
    const panel = page.locator('#jp-qsecure-secrets');
    await expect(panel).toBeVisible();

    const value = ['qiskit', 'runtime', 'Vx93kLmQ2pRt8sWz'].join('-');
    await panel.getByLabel('Secret name').fill('QISKIT_RUNTIME_TOKEN');
    await panel.getByLabel('Secret value').fill(value);
    await panel
      .getByRole('button', { name: 'Add and grant to this notebook' })
      .click();

    const row = panel.locator('[data-name="QISKIT_RUNTIME_TOKEN"]');
    await expect(row).toContainText('granted to this notebook');
    await expect(row).toContainText('keyring');
    await expect(panel.getByLabel('Secret value')).toHaveValue('');
    expect(await page.content()).not.toContain(value);
    await screenshot(page, 'secrets-panel');

    // The kernel of this notebook receives it at start.
    await page.notebook.setCell(
      0,
      'code',
      'import os\nprint(len(os.environ["QISKIT_RUNTIME_TOKEN"]))'
    );
    await page.notebook.run();
    expect(await page.notebook.getCellTextOutput(0)).toEqual([
      `${value.length}\n`
    ]);
    await expect(row).toContainText('kernel: received', { timeout: 10000 });
    expect(await page.content()).not.toContain(value);
    expect(errors).toEqual([]);
  });

  test('dark theme', async ({ page }) => {
    await newNotebook(page, 'dark.ipynb');
    await page.theme.setDarkTheme();
    await page.evaluate(() =>
      window.jupyterapp.commands.execute('qsecure:show-provenance')
    );
    await expect(
      page.locator('.jp-qsecure-SigningStatus-button')
    ).toContainText('Unsigned');
    await screenshot(page, 'dark-theme');
    await page.theme.setLightTheme();
  });
});

test.describe('commands', () => {
  test('the Secure menu and the palette offer the four commands', async ({
    page
  }) => {
    await newNotebook(page, 'menu.ipynb');
    await page.getByRole('menuitem', { name: 'Secure' }).click();
    const menu = page.locator('#jp-qsecure-menu');
    for (const label of [
      'Sign Notebook…',
      'Verify Signatures',
      'Show Provenance',
      'Manage Secrets'
    ]) {
      await expect(menu.getByRole('menuitem', { name: label })).toBeVisible();
    }
    await menu.getByRole('menuitem', { name: 'Show Provenance' }).click();
    await expect(page.locator('#jp-qsecure-provenance')).toBeVisible();

    await page.keyboard.press('Control+Shift+c');
    await page.keyboard.type('Verify Signatures');
    await page.keyboard.press('Enter');
    await expect(
      page.locator('.jp-Dialog', { hasText: 'Signatures of menu.ipynb' })
    ).toContainText('No signatures yet.');
  });
});

// Make the galata namespace import used (it registers the fixtures' typings).
void galata;
