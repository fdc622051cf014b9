import {
  ICellName,
  ISigningSetupAnswer,
  cellName,
  choiceProblem,
  initialChoice,
  initialPrincipal,
  principalProblem,
  setupBody,
  signingPlan,
  signingWarnings
} from '../models/signingSetup';
import { english as trans } from '../models/errors';
import { IFinding, IProvenanceCell, IProvenanceReport } from '../tokens';

function answer(
  overrides: Partial<ISigningSetupAnswer> = {}
): ISigningSetupAnswer {
  return {
    setup: null,
    key: null,
    principal: 'alice@lab.example',
    trust: null,
    granted_roles: ['author'],
    default_principal: 'alice@lab.example',
    candidates: [
      {
        id: '~/.ssh/id_ed25519.pub',
        source: 'file',
        key_type: 'ssh-ed25519',
        fingerprint: 'SHA256:file',
        comment: 'laptop'
      },
      {
        id: 'agent:SHA256:agent',
        source: 'agent',
        key_type: 'sk-ssh-ed25519@openssh.com',
        fingerprint: 'SHA256:agent',
        comment: ''
      }
    ],
    agent: '',
    ssh_dir: '~/.ssh',
    ...overrides
  };
}

function provenanceCell(
  number: number,
  cellId: string,
  badge: IProvenanceCell['badge']
): IProvenanceCell {
  return {
    number,
    cell_id: cellId,
    verdict: badge,
    badge,
    detail: '',
    execution: null
  };
}

function report(
  cells: IProvenanceCell[],
  extra: Partial<IProvenanceReport> = {}
): IProvenanceReport {
  return {
    path: 'a.ipynb',
    ok: cells.every(cell => cell.badge === 'executed'),
    user: null,
    kernel_session: null,
    environment: null,
    timeline: [],
    out_of_order: [],
    hidden_state: [],
    files_changed: [],
    cannot_judge: [],
    deleted_cells: [],
    cells,
    ...extra
  };
}

const CELLS: ICellName[] = [
  { id: 'intro', firstLine: '# Bell state' },
  { id: 'prep', firstLine: 'import qiskit' },
  { id: 'run', firstLine: 'result = backend.run(circuit)' },
  { id: 'plot', firstLine: '' }
];

describe('principalProblem', () => {
  it('accepts one word such as an e-mail address', () => {
    expect(principalProblem('alice@lab.example', trans)).toBeNull();
  });

  it.each(['', '  ', 'alice smith', 'a@lab\nexample', '*@lab.example', 'a,b'])(
    'refuses %j, saying what a principal is',
    value => {
      expect(principalProblem(value, trans)).toMatch(/alice@lab\.example/);
    }
  );
});

describe('the setup choice', () => {
  it('starts from the current key, else the first listed, else generating', () => {
    const current = answer({
      setup: {
        key: 'agent:SHA256:agent',
        principal: 'me@lab.example',
        fingerprint: 'SHA256:agent',
        key_type: 'sk-ssh-ed25519@openssh.com',
        updated: ''
      }
    });
    expect(initialChoice(current)).toEqual({
      kind: 'key',
      key: 'agent:SHA256:agent'
    });
    expect(initialPrincipal(current)).toBe('me@lab.example');
    expect(initialChoice(answer())).toEqual({
      kind: 'key',
      key: '~/.ssh/id_ed25519.pub'
    });
    expect(initialChoice(answer({ candidates: [] }))).toEqual({
      kind: 'generate',
      noPassphrase: false
    });
  });

  it('generates only once the missing passphrase is confirmed', () => {
    expect(
      choiceProblem({ kind: 'generate', noPassphrase: false }, trans)
    ).toMatch(/passphrase/);
    expect(
      choiceProblem({ kind: 'generate', noPassphrase: true }, trans)
    ).toBeNull();
    expect(choiceProblem(null, trans)).toMatch(/Pick a key/);
  });

  it('sends what the server expects', () => {
    expect(setupBody({ kind: 'key', key: '~/.ssh/a.pub' }, 'a@x')).toEqual({
      key: '~/.ssh/a.pub',
      principal: 'a@x'
    });
    expect(setupBody({ kind: 'generate', noPassphrase: true }, 'a@x')).toEqual({
      generate: true,
      no_passphrase: true,
      principal: 'a@x'
    });
  });
});

describe('signingPlan', () => {
  it('is not ready without a key', () => {
    expect(signingPlan(answer(), 'author', trans).ready).toBe(false);
  });

  it('shows the personal key, the principal and the role, and warns of an ungranted role', () => {
    const personal = answer({
      key: {
        source: 'personal',
        id: '~/.ssh/id_ed25519.pub',
        fingerprint: 'SHA256:file'
      },
      trust: 'personal'
    });
    const author = signingPlan(personal, 'author', trans);
    expect(author.ready).toBe(true);
    expect(author.key).toContain('SHA256:file');
    expect(author.key).toContain('~/.ssh/id_ed25519');
    expect(author.principal).toBe('alice@lab.example');
    expect(author.roleWarning).toBeNull();
    expect(author.trust).toMatch(/personal allowed signers/);
    const reviewer = signingPlan(personal, 'reviewer', trans);
    expect(reviewer.roleWarning).toMatch(
      /does not grant the role reviewer to alice@lab\.example/
    );
  });

  it("names the administrator's key when the policy sets one", () => {
    const plan = signingPlan(
      answer({
        key: { source: 'policy', id: 'server_key', fingerprint: 'SHA256:srv' },
        trust: 'policy',
        granted_roles: ['author', 'reviewer']
      }),
      'reviewer',
      trans
    );
    expect(plan.key).toMatch(/SHA256:srv.*administrator/);
    expect(plan.roleWarning).toBeNull();
  });
});

describe('signingWarnings', () => {
  it('says nothing for a clean run without accepted findings', () => {
    const clean = report([
      provenanceCell(1, 'prep', 'executed'),
      provenanceCell(2, 'run', 'executed')
    ]);
    expect(signingWarnings(clean, [], CELLS, trans)).toEqual([]);
  });

  it('names each cell that is not clean by its position and first line', () => {
    const warnings = signingWarnings(
      report(
        [
          provenanceCell(1, 'prep', 'edited'),
          provenanceCell(2, 'run', 'never-executed'),
          provenanceCell(3, 'plot', 'outputs-changed')
        ],
        { out_of_order: ['cell 2 ran (count 1) before the cell above it'] }
      ),
      [],
      CELLS,
      trans
    );
    expect(warnings).toEqual([
      'Cell 2 (“import qiskit”) was edited after it ran.',
      'Cell 3 (“result = backend.run(circuit)”) was never executed.',
      'Cell 4 shows outputs that differ from what it produced.',
      'Provenance: cell 2 ran (count 1) before the cell above it'
    ]);
  });

  it('names the cell of each accepted finding, never more than its masked preview', () => {
    const finding: IFinding = {
      rule: 'github-token',
      kind: 'GitHub token',
      preview: 'ghp_…(40 chars)',
      fingerprint: '0'.repeat(32),
      field: 'source',
      line: 1,
      cell_index: 2,
      cell_id: 'run'
    };
    expect(signingWarnings(report([]), [finding], CELLS, trans)).toEqual([
      'Cell 3 (“result = backend.run(circuit)”) holds an accepted finding: GitHub token ghp_…(40 chars) (line 1).'
    ]);
  });

  it('says when the provenance could not be checked', () => {
    expect(signingWarnings(null, [], CELLS, trans)).toEqual([
      'The provenance of this notebook could not be checked.'
    ]);
  });

  it('shortens a long first line', () => {
    const long = [{ id: 'x', firstLine: 'y'.repeat(100) }];
    expect(cellName(long, 0, trans)).toBe(`Cell 1 (“${'y'.repeat(59)}…”)`);
  });
});
