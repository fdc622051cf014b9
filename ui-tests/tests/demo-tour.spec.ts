/**
 * The demo's tour (demo/README.md) run as it is written: the names, values, titles and
 * texts it quotes are read from the README and checked against what the UI really shows,
 * and its terminal step is run in a copy of the demo folder.
 */
import { execFileSync } from 'child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

import { expect, galata, test } from '@jupyterlab/galata';

const REPO = resolve(__dirname, '..', '..');
const DEMO = join(REPO, 'demo');
const README = readFileSync(join(DEMO, 'README.md'), 'utf-8');
const FOLDER = 'demo-tour';

/** The text of the tour's step ``n`` (its numbered paragraph). */
function step(n: number): string {
  const start = README.indexOf(`\n${n}. **`);
  const end = README.indexOf(`\n${n + 1}. **`, start + 1);
  expect(start).toBeGreaterThan(0);
  return README.slice(start, end < 0 ? undefined : end);
}

/** The first match of ``pattern`` in ``text`` (group 1), failing the test if none. */
function quoted(text: string, pattern: RegExp): string {
  const match = pattern.exec(text.replace(/\s+/g, ' '));
  expect(match, `${pattern} in the README`).not.toBeNull();
  return match![1];
}

test.describe('the demo tour', () => {
  // Galata's mock of the kernels API answers every POST under /api/kernels with 201, the
  // restart's included; JupyterLab takes that for a failed restart and the kernel stays
  // "Starting" in the page. Not mocked, the server's own answers reach the page.
  test.use({ kernels: null });

  test('the secret name the README and the notebooks use is the one the demo policy grants', () => {
    const policy = readFileSync(
      join(REPO, 'jupyter-config', 'qsecure.demo.toml'),
      'utf-8'
    );
    const granted = [...policy.matchAll(/^\[secrets\.(\w+)\]/gm)].map(
      m => m[1]
    );
    expect(granted).toEqual(['IBM_QUANTUM_TOKEN']);
    for (const name of readdirSync(DEMO)) {
      const text = readFileSync(join(DEMO, name), 'utf-8');
      const read = [
        ...text.matchAll(/os\.environ(?:\.get)?\(\\?"(\w+_TOKEN)\\?"\)/g)
      ].map(m => m[1]);
      for (const secret of read) {
        expect(granted, `${name} reads ${secret}`).toContain(secret);
      }
    }
    expect(README).toContain('`IBM_QUANTUM_TOKEN`');
    expect(README).not.toMatch(/QISKIT_IBM_TOKEN|File Save Error/);
  });

  test('steps 1 to 4 in the browser, as written', async ({ page }) => {
    for (const name of readdirSync(DEMO).filter(n => n.endsWith('.ipynb'))) {
      await page.contents.uploadFile(join(DEMO, name), `${FOLDER}/${name}`);
    }

    // Step 1: the Secrets panel, the row, its buttons and the suggested value.
    const one = step(1);
    const value = quoted(one, /such as `([^`]+)`/);
    await page.notebook.openByPath(`${FOLDER}/3-token-from-secret.ipynb`);
    await page.evaluate(() =>
      window.jupyterapp.commands.execute('qsecure:manage-secrets')
    );
    const panel = page.locator('#jp-qsecure-secrets');
    await expect(page.getByRole('tab', { name: 'Secrets' })).toBeVisible();
    const row = panel.locator('[data-name="IBM_QUANTUM_TOKEN"]');
    await expect(row).toContainText('granted to this notebook');
    await row
      .getByRole('button', {
        name: quoted(one, /[Pp]ress \*\*([^*]+)\*\*, type/)
      })
      .click();
    await row.getByLabel('New value of IBM_QUANTUM_TOKEN').fill(value);
    await row
      .getByRole('button', { name: quoted(one, /and press \*\*([^*]+)\*\*/) })
      .click();
    // Stored: the value form closes again.
    await expect(row.getByLabel('New value of IBM_QUANTUM_TOKEN')).toHaveCount(
      0,
      { timeout: 15000 }
    );

    // Step 2: restart, run; what it prints.
    const two = step(2);
    await page.notebook.activate('3-token-from-secret.ipynb');
    await page.evaluate(() => {
      // Not awaited: the command waits for its confirmation dialog.
      void window.jupyterapp.commands.execute('notebook:restart-kernel');
    });
    await page
      .locator('.jp-Dialog')
      .getByRole('button', { name: 'Confirm Kernel Restart' })
      .click();
    await page.notebook.run();
    const printed = (await page.notebook.getCellTextOutput(1)) ?? [];
    expect(printed.join('')).toContain(
      quoted(two, /first prints `([^`]+)`/).replace(/\s+/g, ' ')
    );
    expect(printed.join('')).toContain(quoted(two, /, `(\[secret:[^`]+)`/));
    expect(printed.join('')).not.toContain(value);

    // Step 3: the dialog's title, the cell it names, the fix.
    const three = step(3);
    // The left sidebar shows the Secrets panel now: open through the document manager.
    await page.evaluate(async path => {
      await window.jupyterapp.commands.execute('docmanager:open', { path });
    }, `${FOLDER}/1-blocked-save.ipynb`);
    await expect(
      page.getByRole('tab', { name: '1-blocked-save.ipynb' })
    ).toBeVisible();
    await page.notebook.activate('1-blocked-save.ipynb');
    await page.notebook.runCell(1);
    await page.keyboard.press('Control+s');
    const dialog = page.locator('.jp-qsecure-BlockedSaveDialog');
    await expect(dialog.locator('.jp-Dialog-header')).toHaveText(
      quoted(three, /A dialog titled \*\*([^*]+)\*\*/)
    );
    const cell = quoted(three, /under \*\*([^*]+)\*\*/);
    await expect(dialog.locator('h3')).toHaveText(new RegExp(`^${cell}: `));
    await expect(dialog.locator('.jp-qsecure-Finding')).toHaveCount(2);
    await expect(
      dialog
        .getByText(quoted(three, /folded away under \*\*([^*]+)\*\*/))
        .first()
    ).toBeVisible();
    await dialog
      .getByRole('button', { name: quoted(three, /Press \*\*([^*]+)\*\*/) })
      .first()
      .click();
    await expect(dialog).toHaveCount(0);
    await expect
      .poll(async () => {
        const file = await page.request.get(
          `/api/contents/${FOLDER}/1-blocked-save.ipynb?content=1`
        );
        return file.ok()
          ? (await file.json()).content.cells[1].outputs.length
          : -1;
      })
      .toBe(0);

    // Step 4: the menu entry and what the panel shows.
    const four = step(4);
    await page.notebook.activate('3-token-from-secret.ipynb');
    const [menu, entry] = quoted(four, /choose \*\*([^*]+)\*\*/).split(' → ');
    await page.getByRole('menuitem', { name: menu, exact: true }).click();
    await page.getByRole('menuitem', { name: entry }).click();
    const provenance = page.locator('#jp-qsecure-provenance');
    await expect(provenance).toContainText(quoted(four, /\(`(Cell [^`]+)`\)/));
    await expect(provenance).toContainText(quoted(four, /the seed `([^`]+)`/));

    // Steps 5 and the help line: every menu entry the README names exists.
    for (const path of README.replace(/\s+/g, ' ').matchAll(
      /\*\*Secure → ([^*]+)\*\*/g
    )) {
      await page.getByRole('menuitem', { name: 'Secure', exact: true }).click();
      await expect(
        page
          .locator('#jp-qsecure-menu')
          .getByRole('menuitem', { name: path[1] })
      ).toBeVisible();
      await page.keyboard.press('Escape');
    }
  });

  test('step 6, the terminal step, as written, in a copy of the demo folder', () => {
    const six = step(6);
    const blocks = [...six.matchAll(/```\n([\s\S]*?)```/g)].map(m =>
      m[1]
        .split('\n')
        .map(l => l.trim())
        .filter(Boolean)
    );
    const [commands, expected] = blocks;
    const folder = mkdtempSync(join(tmpdir(), 'qsecure-demo-'));
    cpSync(DEMO, folder, { recursive: true });
    const env = {
      ...process.env,
      PATH: `${join(REPO, '.venv', 'bin')}:${process.env.PATH}`
    };
    let output = '';
    for (const command of commands) {
      const [program, ...args] = command.split(/\s+/);
      try {
        output += execFileSync(program, args, {
          cwd: folder,
          env,
          encoding: 'utf-8',
          stdio: ['ignore', 'pipe', 'pipe']
        });
      } catch (error) {
        const failed = error as { status: number; stdout: string };
        // The scan exits with status 1, as the README says; nothing else may fail.
        expect(command).toContain('qsecure scan');
        expect(failed.status).toBe(1);
        output += failed.stdout;
      }
    }
    expect(output.trim().split('\n')).toEqual(expected);
  });
});

void galata;
