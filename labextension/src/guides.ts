/** Where jupyter-qsecure's guides are read (the repository's docs/ folder). */
const DOCS =
  'https://github.com/jupyter-qsecure/jupyter-qsecure/blob/main/docs';

/** The guide to the leak guard: what it detects, allowlisting, the bypass store. */
export const GUARD_GUIDE = `${DOCS}/guard.md`;
/** The guide to secrets: the store, grants, injection and masking. */
export const SECRETS_GUIDE = `${DOCS}/secrets.md`;
/** The guide to provenance: badges, the timeline, the environment. */
export const PROVENANCE_GUIDE = `${DOCS}/provenance.md`;
/** The guide to signing: keys, roles, verification. */
export const SIGNING_GUIDE = `${DOCS}/signing.md`;
/** The JupyterLab and Notebook 7 guide: every panel, dialog and setting. */
export const JUPYTERLAB_GUIDE = `${DOCS}/jupyterlab.md`;
