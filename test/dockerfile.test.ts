// The Dockerfile, checked offline: no Docker daemon or registry is reachable
// from these machines, so the image is never built here. dockerfile-utils
// lints it; parsed with dockerfile-ast, its stages are held to the rules of
// the design (multi-stage, a Node LTS base, a non-root collector, only the
// named artifacts in the runtime) and cross-checked against this checkout:
// what the build copies is what tsc and make read, and what the runtime
// copies is what bin/rstscope loads and runs, after scripts/setup.sh built it.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import type { Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LOADER_PATH } from '../agent/config.js';
import { repoRoot } from '../agent/repo-root.js';
import { moduleGraph } from './lab/module-graph.js';

const ROOT = repoRoot();
const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(text);

/** The artifacts the runtime stage takes from the build stage, and nothing else. */
const RUNTIME_ARTIFACTS = [
  'package.json',
  'node_modules',
  'dist',
  'build/rstscope-loader',
  'bin/rstscope',
];

interface Stage {
  name: string | undefined;
  image: string | undefined;
  tag: string | undefined;
  instructions: Instruction[];
}

function stages(): Stage[] {
  const froms = dockerfile.getFROMs();
  return froms.map((from, i) => {
    const start = from.getRange().start.line;
    const end = froms[i + 1]?.getRange().start.line ?? Infinity;
    return {
      name: from.getBuildStage() ?? undefined,
      image: from.getImageName() ?? undefined,
      tag: from.getImageTag() ?? undefined,
      instructions: dockerfile.getInstructions().filter((ins) => {
        const line = ins.getRange().start.line;
        return line > start && line < end;
      }),
    };
  });
}

const args = (ins: Instruction) => ins.getArguments().map((a) => a.getValue());
const keyword = (stage: Stage, word: string) =>
  stage.instructions.filter((ins) => ins.getKeyword() === word);
const copies = (stage: Stage) =>
  keyword(stage, 'COPY').map((ins) => {
    const parts = args(ins);
    const from = dockerfile
      .getCOPYs()
      .find((c) => c.getRange().start.line === ins.getRange().start.line)
      ?.getFromFlag()
      ?.getValue();
    return { from, sources: parts.slice(0, -1), destination: parts.at(-1)! };
  });

const [build, runtime] = [stages().at(0)!, stages().at(-1)!];
const workdir = keyword(runtime, 'WORKDIR').map(args).at(-1)?.[0] ?? '/';
const buildWorkdir = keyword(build, 'WORKDIR').map(args).at(-1)?.[0] ?? '/';

/**
 * The Debian package that ships a library. With merged /usr the same file
 * shows as /lib/... and /usr/lib/..., and dpkg knows only the path its package
 * listed, which may be the symlink or its target.
 */
function debianPackageOf(lib: string): string {
  const real = realpathSync(lib);
  const swap = (p: string) => (p.startsWith('/usr/') ? p.slice(4) : `/usr${p}`);
  for (const candidate of new Set([lib, real, swap(lib), swap(real)])) {
    try {
      const owner = execFileSync('dpkg', ['-S', candidate], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      return owner.split(':')[0]!;
    } catch {
      // not listed under this spelling
    }
  }
  throw new Error(`dpkg knows no package for ${lib}`);
}

describe('Dockerfile', () => {
  it('lints clean with dockerfile-utils', () => {
    const problems = validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    expect(problems).toEqual([]);
  });

  it('has a named build stage and a separate runtime stage', () => {
    expect(stages().length).toBeGreaterThanOrEqual(2);
    expect(build.name).toBe('build');
    expect(runtime.name).toBe('runtime');
    expect(keyword(build, 'RUN').map((r) => args(r).join(' '))).toEqual(
      expect.arrayContaining([expect.stringMatching(/make .*-C agent\/native/)]),
    );
  });

  it('builds and runs on one pinned Node LTS major (even, at least 24: 20 is past its end of life)', () => {
    for (const stage of stages()) {
      expect(stage.image).toBe('node');
      const major = Number(/^(\d+)-bookworm-slim$/.exec(stage.tag ?? '')?.[1]);
      expect(major % 2, `${stage.tag} is not an LTS line`).toBe(0);
      expect(major).toBeGreaterThanOrEqual(24);
    }
    // chDB's native addon is installed in the build stage for its Node.
    expect(new Set(stages().map((s) => s.tag)).size).toBe(1);
  });

  it('runs the final stage as a non-root user', () => {
    const user = keyword(runtime, 'USER').at(-1);
    expect(user, 'the runtime stage sets no USER').toBeDefined();
    const [name] = args(user!)[0]!.split(':');
    expect(name).not.toMatch(/^(0|root)$/);
    expect(Number(name)).toBeGreaterThan(0);
  });

  it('copies only the named artifacts from the build stage into the runtime', () => {
    expect(keyword(runtime, 'ADD')).toEqual([]);
    const copied = copies(runtime).map(({ from, sources, destination }) => {
      expect(from).toBe('build');
      expect(sources).toHaveLength(1);
      const source = relative(buildWorkdir, sources[0]!);
      // Each lands at the same place under the install root as in a checkout.
      expect(join(workdir, destination)).toBe(join(workdir, source));
      return source;
    });
    expect(copied.sort()).toEqual([...RUNTIME_ARTIFACTS].sort());
  });

  it('copies into the build only paths that exist, and everything tsc and make read', () => {
    const sources = copies(build).flatMap((c) => c.sources);
    for (const source of sources) expect(existsSync(join(ROOT, source)), source).toBe(true);
    const copied = sources.map((s) => s.replace(/\/$/, ''));
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as {
      include: string[];
    };
    const roots = tsconfig.include.map((glob) => glob.replace(/\/\*\*.*$/, ''));
    // A folder tsc compiles but the build never copies would vanish from the image.
    for (const root of [...roots, 'bpf', 'agent/native', 'bin', 'package-lock.json']) {
      expect(
        copied.some((c) => root === c || root.startsWith(`${c}/`)),
        `${root} is not copied into the build stage`,
      ).toBe(true);
    }
  });

  it('keeps node_modules, dist, build and .git out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', 'build', '.git']));
  });
});

describe('the runtime stage against a built checkout', () => {
  it('has every artifact it copies (scripts/setup.sh builds them)', () => {
    for (const artifact of RUNTIME_ARTIFACTS) {
      expect(existsSync(join(ROOT, artifact)), `${artifact}: run ./scripts/setup.sh`).toBe(true);
    }
  });

  it('runs bin/rstscope as its entry point, which starts dist/cli/main.js', () => {
    const entry = keyword(runtime, 'ENTRYPOINT').at(-1)!;
    expect(JSON.parse(entry.getRawArgumentsContent() ?? '')).toEqual([
      join(workdir, 'bin/rstscope'),
    ]);
    expect(readFileSync(join(ROOT, 'bin/rstscope'), 'utf8')).toContain('$here/../dist/cli/main.js');
  });

  it('loads nothing from outside dist/ and no package that the production prune removes', () => {
    const graph = moduleGraph(join(ROOT, 'dist/cli/main.js'));
    expect(graph.missing).toEqual([]);
    for (const file of graph.files) expect(relative(ROOT, file)).toMatch(/^dist\//);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    for (const name of graph.packages) {
      expect(Object.keys(pkg.dependencies), `${name} is not a production dependency`).toContain(
        name,
      );
    }
  });

  it('copies the loader the agent runs, and the loader carries the BPF object in itself', () => {
    expect(relative(ROOT, DEFAULT_LOADER_PATH)).toBe('build/rstscope-loader');
    expect(RUNTIME_ARTIFACTS).toContain(relative(ROOT, DEFAULT_LOADER_PATH));
    // bpftool's skeleton embeds the object's bytes: no .o file is read at run time.
    const object = readFileSync(join(ROOT, 'build/rstscope.bpf.o'));
    expect(readFileSync(DEFAULT_LOADER_PATH).indexOf(object)).toBeGreaterThan(0);
  });

  it('installs the Debian package of every shared library the loader links', () => {
    const installed = keyword(runtime, 'RUN')
      .map((r) => args(r).join(' '))
      .join(' ');
    const linked = execFileSync('ldd', [DEFAULT_LOADER_PATH], { encoding: 'utf8' })
      .split('\n')
      .map((line) => /=>\s*(\/\S+)/.exec(line)?.[1])
      .filter((path): path is string => !!path && !/\/(libc|ld-linux[^/]*)\.so/.test(path));
    expect(linked.length).toBeGreaterThanOrEqual(3);
    for (const lib of linked) {
      // The build machines run Debian 12, the image's bookworm: same packages.
      const pkgName = debianPackageOf(lib);
      expect(installed, `${lib} comes from ${pkgName}`).toMatch(new RegExp(`\\b${pkgName}\\b`));
    }
  });

  it('installs the Debian package of every program the agent runs', () => {
    const installed = keyword(runtime, 'RUN')
      .map((r) => args(r).join(' '))
      .join(' ');
    // Programs the agent's code starts, found by their spawn call, not listed by hand.
    const programs = new Set<string>();
    for (const file of execFileSync('git', ['ls-files', 'agent/*.ts', 'agent/**/*.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean)) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/\brun\('([a-z0-9-]+)'/g)) programs.add(m[1]!);
    }
    expect([...programs]).toContain('ip');
    for (const program of programs) {
      const path = execFileSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim();
      const pkgName = debianPackageOf(realpathSync(path));
      expect(installed, `${program} comes from ${pkgName}`).toMatch(new RegExp(`\\b${pkgName}\\b`));
    }
  });
});
