// The property suites (test/props-*.test.ts) run each property with fast-check's
// own runner inside a vitest `it`. In the test suite a property has a fixed seed
// and a run count that keeps its file near a minute on the 2-core VM; under
// scripts/fuzz.mjs the same properties run with a fresh seed until their share
// of the time is up, and each outcome is appended to a report the script prints.
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, it } from 'vitest';

export interface PropertyCase {
  name: string;
  /** Runs in the test suite (fixed seed). */
  runs: number;
  /**
   * A bug in code this suite may not change yet, named: the property is kept and
   * runs as `it.fails` (it turns red once the bug is fixed, to be unmarked).
   */
  knownBug?: string;
  /** Built inside the test, after the suite's beforeAll hooks. */
  property: () => fc.IRawProperty<unknown>;
}

/** What scripts/fuzz.mjs sets: the time for the whole file, a base seed, a report file. */
interface FuzzMode {
  fileMs: number;
  seed: number;
  report: string | undefined;
}

function fuzzMode(env: NodeJS.ProcessEnv): FuzzMode | undefined {
  const fileMs = Number(env.RSTSCOPE_FUZZ_FILE_MS);
  if (!(fileMs > 0)) return undefined;
  return {
    fileMs,
    seed: Number(env.RSTSCOPE_FUZZ_SEED) | 0,
    report: env.RSTSCOPE_FUZZ_REPORT,
  };
}

/** A stable seed per property name: a failure in CI reproduces with the same runs. */
function seedOf(name: string): number {
  let h = 0x5eed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 0;
}

export interface OutcomeLine {
  suite: string;
  property: string;
  runs: number;
  seed: number;
  failed: boolean;
  counterexample?: string;
  report?: string;
}

/** One `it` per property; a failure's message is fast-check's (counterexample, seed and path). */
export function propertySuite(title: string, cases: readonly PropertyCase[]): void {
  const fuzz = fuzzMode(process.env);
  const shareMs = fuzz ? Math.max(1_000, Math.floor(fuzz.fileMs / cases.length)) : 0;
  describe(title, () => {
    for (const c of cases) {
      const parameters: fc.Parameters<unknown> = fuzz
        ? {
            seed: (fuzz.seed ^ seedOf(c.name)) | 0,
            numRuns: 1_000_000_000,
            interruptAfterTimeLimit: shareMs,
            markInterruptAsFailure: false,
            includeErrorInReport: true,
          }
        : { seed: seedOf(c.name), numRuns: c.runs, includeErrorInReport: true };
      (c.knownBug ? it.fails : it)(
        c.knownBug ? `${c.name} [known bug: ${c.knownBug}]` : c.name,
        async () => {
          const details = await fc.check(c.property(), parameters);
          if (fuzz?.report) {
            const line: OutcomeLine = {
              suite: title,
              property: c.name,
              runs: details.numRuns,
              seed: details.seed,
              failed: details.failed,
            };
            if (details.failed) {
              line.counterexample = fc.stringify(details.counterexample);
              line.report = fc.defaultReportMessage(details) ?? '';
            }
            appendFileSync(fuzz.report, `${JSON.stringify(line)}\n`);
          }
          if (details.failed) throw new Error(fc.defaultReportMessage(details));
        },
        fuzz ? shareMs + 60_000 : 60_000,
      );
    }
  });
}
