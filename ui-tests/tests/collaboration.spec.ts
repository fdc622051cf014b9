/**
 * Real-time collaboration (jupyter-collaboration) in two browser contexts, two users of
 * one shared notebook, against a server of its own (QSECURE_UI_RTC=1, its project in
 * playwright.config.js). One pastes a credential: the collaboration server's autosave is
 * refused and both are told, in a notice that names the finding and how to fix it. The
 * other removes it: the save goes through, both notices go away, and no file the server
 * wrote (the notebook, its checkpoints, the Y store, the data folder) holds the value.
 */
import { randomBytes } from 'crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'fs';
import { join } from 'path';

import { expect, test } from '@jupyterlab/galata';
import { Browser, Page } from '@playwright/test';

const PATH = 'shared.ipynb';
/** The collaboration server's state; the served folder is its root/ (see the config). */
const STATE = join(process.env.QSECURE_UI_STATE ?? '', 'collaboration');
const ROOT = join(STATE, 'root');

/** A made-up GitHub token, random for each run (this file holds no credential). */
function madeUpToken(): string {
  const alphabet =
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const body = Array.from(randomBytes(36), byte => alphabet[byte % 62]).join(
    ''
  );
  return ['ghp', body].join('_');
}

/** Every file under ``folder`` holding ``value`` (a file gone meanwhile holds nothing). */
function holding(folder: string, value: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      try {
        const info = statSync(path);
        if (info.isDirectory()) {
          walk(path);
        } else if (readFileSync(path).includes(value)) {
          found.push(path);
        }
      } catch {
        // SQLite's journal comes and goes
      }
    }
  };
  walk(folder);
  return found;
}

/** The saved notebook's text, or '' while the server is rewriting it in place. */
function onDisk(): string {
  try {
    const text = readFileSync(join(ROOT, PATH), 'utf-8');
    JSON.parse(text);
    return text;
  } catch {
    return '';
  }
}

async function openAsCollaborator(browser: Browser): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`lab/tree/${PATH}`);
  await expect(
    page.locator('.jp-NotebookPanel .jp-Cell .cm-content')
  ).toHaveText('import qiskit', { timeout: 60000 });
  return page;
}

function notice(page: Page) {
  return page.locator('.Toastify__toast', { hasText: 'Autosave blocked' });
}

test.describe('collaboration mode', () => {
  test('two collaborators: both see the refusal; after the fix nothing on disk holds the value', async ({
    browser,
    request
  }) => {
    const token = madeUpToken();
    const created = await request.put(`api/contents/${PATH}`, {
      data: {
        type: 'notebook',
        content: {
          nbformat: 4,
          nbformat_minor: 5,
          metadata: {
            kernelspec: {
              name: 'python3',
              display_name: 'Python 3',
              language: 'python'
            }
          },
          cells: [
            {
              id: 'first',
              cell_type: 'code',
              source: 'import qiskit',
              metadata: {},
              outputs: [],
              execution_count: null
            }
          ]
        }
      }
    });
    expect(created.ok()).toBeTruthy();

    const ada = await openAsCollaborator(browser);
    const grace = await openAsCollaborator(browser);

    // Ada pastes a credential into the shared cell; Grace sees the text arrive.
    await ada.locator('.jp-Cell .cm-content').first().click();
    await ada.keyboard.press('Control+End');
    await ada.keyboard.insertText(`\ntoken = "${token}"`);
    await expect(grace.locator('.jp-Cell .cm-content').first()).toContainText(
      token.slice(0, 8)
    );

    // Both are told which finding blocked the autosave, and how to fix it.
    for (const page of [ada, grace]) {
      await expect(notice(page)).toBeVisible({ timeout: 30000 });
      await expect(notice(page)).toContainText(
        'GitHub token in cell 1, line 2'
      );
      await expect(notice(page)).not.toContainText(token);
      await expect(
        notice(page).getByRole('button', { name: 'How to fix' })
      ).toBeVisible();
    }
    // Refused: the file keeps its last good version; no Y store in the served folder.
    expect(onDisk()).not.toContain(token);
    expect(holding(ROOT, token)).toEqual([]);
    expect(existsSync(join(ROOT, '.jupyter_ystore.db'))).toBeFalsy();

    // Grace removes it: the save goes through and both notices go away.
    const cell = grace.locator('.jp-Cell .cm-content').first();
    await cell.click();
    await grace.keyboard.press('Control+a');
    await grace.keyboard.insertText('import qiskit\nbackend = None');
    await expect
      .poll(() => onDisk().includes('backend = None'), { timeout: 30000 })
      .toBeTruthy();
    for (const page of [ada, grace]) {
      await expect(notice(page)).toHaveCount(0, { timeout: 30000 });
    }
    // Nothing the server wrote holds the value any more: the notebook, checkpoints,
    // the Y store (compacted after the save), the data folder, the audit trail.
    await expect
      .poll(() => holding(STATE, token), { timeout: 30000 })
      .toEqual([]);

    await ada.context().close();
    await grace.context().close();
  });
});
