/**
 * What the blocked-save dialog must show and do, the same in JupyterLab and Notebook 7:
 * shared by their specs so both frontends are held to one description.
 */
import { Locator, Page, expect } from '@playwright/test';

/**
 * The dialog for a notebook (``fileName``) whose first cell printed one credential on two
 * lines: one group for the cell, named by its first line, both occurrences listed, the
 * guide linked; the safe fix offered first; accepting folded away, disabled until a
 * reason is chosen; the confirmation names what is stored and where it applies, and Enter
 * declines it. Returns the dialog, still open.
 */
export async function declineAcceptingBothOccurrences(
  page: Page,
  fileName: string
): Promise<Locator> {
  const dialog = page.locator('.jp-qsecure-BlockedSaveDialog');
  await expect(dialog).toBeVisible();
  const group = dialog.locator('.jp-qsecure-FindingGroup');
  await expect(group).toHaveCount(1);
  await expect(group.locator('h3')).toHaveText(
    'Cell 1: import base64, hashlib'
  );
  // Both printed lines, not only the one a rule recognised.
  await expect(group.locator('.jp-qsecure-Finding')).toHaveCount(2);
  await expect(group).toContainText('Output 1 of cell 1, line 1');
  await expect(group).toContainText('Output 1 of cell 1, line 2');
  await expect(dialog).toContainText(
    `${fileName} was not saved: it holds 2 credentials.`
  );
  await expect(
    dialog.getByRole('link', { name: 'Guide to the leak guard' })
  ).toHaveAttribute('href', /docs\/guard\.md$/);

  // The safe fix first; accepting is folded away and starts disabled, no reason chosen.
  const first = group.locator('.jp-qsecure-Finding').first();
  await expect(
    first.getByRole('button', { name: 'Clear output' })
  ).toBeVisible();
  const accept = first.getByRole('button', { name: 'Accept on this server…' });
  await expect(accept).toBeHidden();
  await first.getByText('Accept it on this server instead…').click();
  await expect(accept).toBeDisabled();
  await expect(first.getByRole('combobox')).toHaveValue('');
  await first.getByRole('combobox').selectOption('false_positive');
  await accept.click();

  // The confirmation names what is stored and where it applies; Enter declines.
  const confirm = page.locator('.jp-Dialog', { hasText: 'on this server?' });
  await expect(confirm).toContainText('bypasses.json');
  await expect(confirm).toContainText('not the value');
  await expect(confirm).toContainText(
    'jupyter qsecure scan and the pre-commit hook still report it'
  );
  await expect(confirm.locator('button:focus')).toHaveText('Keep it blocked');
  await page.keyboard.press('Enter');
  await expect(confirm).toHaveCount(0);
  return dialog;
}
