// The pinned helm binary (scripts/fetch-helm.mjs) run with a throwaway home, so no
// user's repositories, plugins or cache leak into what the tests render.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../agent/repo-root.js';

export const HELM_PATH = join(repoRoot(), 'build', 'tools', 'helm');

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Why helm cannot run here, or undefined when it can (fetching it if needed). */
export function helmUnavailable(): string | undefined {
  if (!existsSync(HELM_PATH)) {
    const fetched = spawnSync('node', [join(repoRoot(), 'scripts', 'fetch-helm.mjs')], {
      encoding: 'utf8',
    });
    if (fetched.status !== 0 || !existsSync(HELM_PATH)) {
      return `helm could not be fetched: ${fetched.stderr.trim() || `exit ${fetched.status}`}`;
    }
  }
  return undefined;
}

export class HelmHome {
  readonly dir = mkdtempSync(join(tmpdir(), 'rstscope-helm-'));

  run(args: string[]): HelmResult {
    const result = spawnSync(HELM_PATH, args, {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      env: {
        PATH: process.env.PATH,
        HOME: this.dir,
        HELM_CACHE_HOME: join(this.dir, 'cache'),
        HELM_CONFIG_HOME: join(this.dir, 'config'),
        HELM_DATA_HOME: join(this.dir, 'data'),
      },
    });
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  }

  /** helm's output, or an error carrying its stderr. */
  output(args: string[]): string {
    const result = this.run(args);
    if (result.status !== 0) {
      throw new Error(`helm ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`);
    }
    return result.stdout;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
