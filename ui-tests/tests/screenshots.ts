/**
 * The documentation's screenshots come from the UI tests: with QSECURE_SCREENSHOTS set
 * (`1` for the repository's docs/screenshots, or another folder), the tests that show a
 * documented view write it there (`make screenshots`); otherwise they write nothing, so a
 * normal run leaves the tree as it was.
 */
import * as path from 'path';

import { Page } from '@playwright/test';

/** The folder screenshots go to, or null when they are not asked for. */
export function screenshotFolder(
  setting: string | undefined = process.env.QSECURE_SCREENSHOTS
): string | null {
  if (!setting) {
    return null;
  }
  return setting === '1'
    ? path.resolve(__dirname, '..', '..', 'docs', 'screenshots')
    : path.resolve(setting);
}

/** Write the page as it is now to ``name``.png, when screenshots are asked for. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const folder = screenshotFolder();
  if (folder !== null) {
    // Animations (a notice sliding in) are shown as they end, not half way.
    await page.screenshot({
      path: path.join(folder, `${name}.png`),
      animations: 'disabled'
    });
  }
}
