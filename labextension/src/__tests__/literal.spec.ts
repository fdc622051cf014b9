import { webcrypto } from 'crypto';

import {
  ILocatedCredential,
  ReplaceError,
  fingerprint,
  importsOs,
  locateCredential,
  matchesPreview,
  replaceCredential
} from '../models/literal';
import { IFinding } from '../tokens';

const TOKEN = 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
// The guard's fingerprint of TOKEN, as jupyter_qsecure.guard.findings.fingerprint computes it.
const TOKEN_FINGERPRINT = '53e3464c903c4eec4c7a6a67f61f71ef';

const subtle = webcrypto.subtle as unknown as SubtleCrypto;
const hash = (value: string): Promise<string> => fingerprint(value, subtle);

function finding(line: number, overrides: Partial<IFinding> = {}): IFinding {
  return {
    rule: 'github-token',
    kind: 'GitHub token',
    preview: 'ghp_…7r8',
    fingerprint: TOKEN_FINGERPRINT,
    field: 'source',
    line,
    cell_index: 0,
    cell_id: 'c1',
    ...overrides
  };
}

async function located(
  source: string,
  line: number
): Promise<ILocatedCredential> {
  const result = await locateCredential(source, finding(line), hash);
  if (result === null) {
    throw new Error('not located');
  }
  return result;
}

describe('fingerprint', () => {
  it('matches the server', async () => {
    expect(await hash(TOKEN)).toBe(TOKEN_FINGERPRINT);
  });

  it('says why it cannot run without Web Crypto', async () => {
    await expect(fingerprint(TOKEN, null)).rejects.toThrow(/secure context/);
  });
});

describe('matchesPreview', () => {
  it('checks prefix, suffix and length-only previews', () => {
    expect(matchesPreview(TOKEN, 'ghp_…7r8')).toBe(true);
    expect(matchesPreview(TOKEN, 'ghp_…7r9')).toBe(false);
    expect(matchesPreview('abcdef', '…(6 chars)')).toBe(true);
    expect(matchesPreview('abcdefg', '…(6 chars)')).toBe(false);
  });
});

describe('locateCredential', () => {
  it('finds the value by fingerprint on the reported line', async () => {
    const source = `import qiskit\ntoken = "${TOKEN}"\nprint(token)`;
    const found = await located(source, 2);
    expect(found.value).toBe(TOKEN);
    expect(source.slice(found.start, found.end)).toBe(TOKEN);
    expect(found.literal).not.toBeNull();
  });

  it('finds a value inside a longer string', async () => {
    const found = await located(
      `headers = {"Authorization": "Bearer ${TOKEN}"}`,
      1
    );
    expect(found.value).toBe(TOKEN);
  });

  it('finds a value after a separator in a token', async () => {
    const found = await located(
      `# url: https://x-access-token:${TOKEN}@github.com/org/repo`,
      1
    );
    expect(found.value).toBe(TOKEN);
  });

  it('returns null when the line no longer holds the value', async () => {
    expect(
      await locateCredential('token = os.environ["X"]', finding(1), hash)
    ).toBeNull();
    expect(
      await locateCredential(`x = "${TOKEN}"`, finding(5), hash)
    ).toBeNull();
  });

  it('does not take a look-alike with another fingerprint', async () => {
    const other = TOKEN.replace('A1b2', 'Z9y8');
    expect(
      await locateCredential(`x = "${other}"`, finding(1), hash)
    ).toBeNull();
  });

  it('falls back to the preview without Web Crypto, if it singles out one value', async () => {
    const noCrypto = (): Promise<string> =>
      Promise.reject(new Error('no crypto'));
    const one = await locateCredential(`x = "${TOKEN}"`, finding(1), noCrypto);
    expect(one?.value).toBe(TOKEN);
  });
});

describe('replaceCredential', () => {
  it('replaces a whole string literal and adds import os', async () => {
    const source = `token = "${TOKEN}"\nprint(len(token))`;
    const result = replaceCredential(
      source,
      await located(source, 1),
      'GITHUB_TOKEN'
    );
    expect(result).toBe(
      'import os\ntoken = os.environ["GITHUB_TOKEN"]\nprint(len(token))'
    );
    expect(result).not.toContain(TOKEN);
  });

  it('keeps an existing import os', async () => {
    const source = `import os, sys\ntoken = '${TOKEN}'`;
    const result = replaceCredential(source, await located(source, 2), 'GH');
    expect(result).toBe('import os, sys\ntoken = os.environ["GH"]');
  });

  it('turns a string holding the value among other text into an f-string', async () => {
    const source = `import os\nh = {"Authorization": "Bearer ${TOKEN}"}`;
    const result = replaceCredential(source, await located(source, 2), 'GH');
    expect(result).toBe(
      `import os\nh = {"Authorization": f"Bearer {os.environ['GH']}"}`
    );
  });

  it('refuses bytes and strings with braces, saying what to do', async () => {
    const bytes = `t = b"${TOKEN}"`;
    const inBytes = await located(bytes, 1);
    expect(() => replaceCredential(bytes, inBytes, 'GH')).toThrow(ReplaceError);
    expect(() => replaceCredential(bytes, inBytes, 'GH')).toThrow(/encode\(\)/);
    const braces = `t = "{x} ${TOKEN}"`;
    await expect(
      located(braces, 1).then(l => replaceCredential(braces, l, 'GH'))
    ).rejects.toThrow(/braces/);
  });

  it('replaces a value outside any string', async () => {
    const source = `# old token ${TOKEN}`;
    const result = replaceCredential(source, await located(source, 1), 'GH');
    expect(result).toBe('import os\n# old token os.environ["GH"]');
  });
});

describe('importsOs', () => {
  it('recognises the ways os is imported by that name', () => {
    expect(importsOs('import os')).toBe(true);
    expect(importsOs('import sys, os')).toBe(true);
    expect(importsOs('  import os\n')).toBe(true);
    expect(importsOs('import os.path')).toBe(false);
    expect(importsOs('import os as o')).toBe(false);
    expect(importsOs('from os import environ')).toBe(false);
  });
});
