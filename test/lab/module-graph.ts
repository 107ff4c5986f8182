// The modules a compiled entry point loads: every file reached through
// relative imports, and every package named by a bare one. Static and literal
// dynamic imports both count: the CLI loads its commands either way.
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, resolve } from 'node:path';

export interface ModuleGraph {
  /** Absolute paths of the JavaScript files reached. */
  files: Set<string>;
  /** Package names (scope included) imported from those files. */
  packages: Set<string>;
  /** Relative imports that name no file: the entry would fail to load. */
  missing: string[];
}

const SPECIFIERS =
  /(?:^|[;\s])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[;\s])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

export function moduleGraph(entry: string): ModuleGraph {
  const graph: ModuleGraph = { files: new Set(), packages: new Set(), missing: [] };
  const pending = [resolve(entry)];
  while (pending.length) {
    const file = pending.pop()!;
    if (graph.files.has(file)) continue;
    graph.files.add(file);
    for (const match of readFileSync(file, 'utf8').matchAll(SPECIFIERS)) {
      const specifier = (match[1] ?? match[2] ?? match[3])!;
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier);
        if (existsSync(target)) pending.push(target);
        else graph.missing.push(`${specifier} (from ${file})`);
      } else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) {
        graph.packages.add(packageName(specifier));
      }
    }
  }
  return graph;
}
