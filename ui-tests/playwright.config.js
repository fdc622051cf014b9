/**
 * Galata's configuration, with Debian's chromium (browsers are not downloaded) and the
 * test server of jupyter_server_test_config.py on its own port.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');

const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

// Where the test server keeps its policy, keyring and audit trail (the tests read the trail).
process.env.QSECURE_UI_STATE =
  process.env.QSECURE_UI_STATE ||
  fs.mkdtempSync(path.join(os.tmpdir(), 'qsecure-ui-'));

const port = process.env.QSECURE_UI_PORT || '8899';
// signing-setup.spec.ts runs against a server of its own, with no signing key in the
// policy (QSECURE_UI_SIGNING=personal in jupyter_server_test_config.py), on the next port.
const personalPort = String(Number(port) + 1);
const SETUP_SPEC = /signing-setup\.spec\.ts$/;
// collaboration.spec.ts runs against a server with real-time collaboration on
// (QSECURE_UI_RTC=1, jupyter-collaboration), on the port after that.
const collaborationPort = String(Number(port) + 2);
const COLLABORATION_SPEC = /collaboration\.spec\.ts$/;

module.exports = {
  ...baseConfig,
  timeout: 90000,
  retries: 0,
  workers: 1,
  use: {
    ...baseConfig.use,
    baseURL: `http://localhost:${port}`,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium'
    },
    video: 'off',
    trace: 'off'
  },
  reporter: [['list'], ['html', { open: 'never' }]],
  projects: [
    { name: 'qsecure', testIgnore: [SETUP_SPEC, COLLABORATION_SPEC] },
    {
      name: 'signing-setup',
      testMatch: SETUP_SPEC,
      use: { baseURL: `http://localhost:${personalPort}` }
    },
    {
      name: 'collaboration',
      testMatch: COLLABORATION_SPEC,
      use: { baseURL: `http://localhost:${collaborationPort}` }
    }
  ],
  webServer: [
    {
      command: 'jlpm start',
      url: `http://localhost:${port}/lab`,
      timeout: 120 * 1000,
      reuseExistingServer: false
    },
    {
      command: 'jlpm start',
      url: `http://localhost:${personalPort}/lab`,
      env: { QSECURE_UI_PORT: personalPort, QSECURE_UI_SIGNING: 'personal' },
      timeout: 120 * 1000,
      reuseExistingServer: false
    },
    {
      command: 'jlpm start',
      url: `http://localhost:${collaborationPort}/lab`,
      env: { QSECURE_UI_PORT: collaborationPort, QSECURE_UI_RTC: '1' },
      timeout: 120 * 1000,
      reuseExistingServer: false
    }
  ]
};
