// Bad input on the command line: arbitrary argv for the agent, the collector and
// the query verbs gives either a config without holes (no NaN, no Infinity, no
// invalid date) or one clear line: an Error subclass whose message names the flag
// or value at fault, never a stack trace.
import fc from 'fast-check';
import { expect } from 'vitest';
import { loadAgentConfig } from '../agent/config.js';
import { AgentConfigError } from '../agent/errors.js';
import {
  runDiagnoseCommand,
  runExplainCommand,
  runFleetCommand,
  runMiddleboxesCommand,
  runResetsCommand,
  runTopCommand,
} from '../cli/query/index.js';
import { runSqlCommand } from '../cli/sql-command.js';
import { loadCollectorConfig } from '../collector/config.js';
import { CollectorConfigError } from '../collector/errors.js';
import { runCaptured } from './lab/captured-io.js';
import type { CliVerb } from './lab/captured-io.js';
import { propertySuite } from './props/property-suite.js';

/** Values that trip number and name parsers: signs, exponents, hex, blanks, huge, unicode. */
const value = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '0',
    '-1',
    '1',
    '8',
    '16',
    '1.5',
    '1e3',
    '1e308',
    '9007199254740993',
    '0x10',
    'NaN',
    'Infinity',
    '-0',
    'auto',
    'on',
    'off',
    '10.0.0.0/8',
    '127.0.0.1:7470',
    'nats://127.0.0.1:4222',
    '1h',
    '0s',
    '2026-11-21',
    '2026-13-45T99:00:00Z',
    'cause,origin',
    'a\nb',
    '%',
  ),
  fc.string({ maxLength: 12 }),
  fc.nat().map(String),
);

/** argv from these flags (with and without values), values and stray words. */
function argvOf(flags: readonly string[]): fc.Arbitrary<string[]> {
  const flag = fc.constantFrom(...flags.map((f) => `--${f}`), '--bogus', '-x', '--');
  return fc
    .array(
      fc.oneof(
        fc.tuple(flag, value).map(([f, v]) => [f, v]),
        fc.tuple(flag, value).map(([f, v]) => [`${f}=${v}`]),
        flag.map((f) => [f]),
        value.map((v) => [v]),
      ),
      { maxLength: 5 },
    )
    .map((parts) => parts.flat());
}

/** Numbers finite, dates valid, no "NaN"/"undefined" text made from a missing value. */
function holes(value: unknown, path = 'config', seen = new Set<unknown>()): string[] {
  if (typeof value === 'number') return Number.isFinite(value) ? [] : [`${path} = ${value}`];
  if (typeof value === 'string')
    return /\b(NaN|undefined)\b/.test(value) ? [`${path} = ${value}`] : [];
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? [`${path} invalid date`] : [];
  if (typeof value !== 'object' || value === null || seen.has(value)) return [];
  if (value instanceof URL || Buffer.isBuffer(value)) return [];
  seen.add(value);
  return Object.entries(value).flatMap(([k, v]) => holes(v, `${path}.${k}`, seen));
}

function mentions(argv: string[], message: string): boolean {
  return /--[a-z-]+/.test(message) || argv.some((a) => a !== '' && message.includes(a));
}

function expectConfigOrOneLine(
  load: () => unknown,
  argv: string[],
  errorClass: new (...a: never[]) => Error,
): void {
  const hasNaNText = argv.some((a) => /\b(NaN|undefined)\b/.test(a));
  let config: unknown;
  try {
    config = load();
  } catch (err) {
    expect(err).toBeInstanceOf(errorClass);
    const message = (err as Error).message;
    expect(message.split('\n').length, message).toBeLessThanOrEqual(
      argv.some((a) => a.includes('\n')) ? 3 : 1,
    );
    expect(mentions(argv, message), message).toBe(true);
    return;
  }
  if (!hasNaNText) expect(holes(config)).toEqual([]);
}

const AGENT_FLAGS = [
  'json',
  'netns',
  'host',
  'ringbuf-mb',
  'aggregate-slots',
  'duration',
  'assume-no-reason',
  'nats',
  'buffer-kb',
  'batch-delay-ms',
  'kube',
  'kube-api',
  'node-name',
  'cgroup-root',
];

const COLLECTOR_FLAGS = [
  'nats',
  'listen',
  'data-dir',
  'clickhouse-url',
  'clickhouse-database',
  'retention-days',
  'durable',
  'max-insert-rows',
  'max-insert-delay-ms',
  'max-message-bytes',
  'ack-wait-ms',
  'allow-plaintext-token',
  'kube',
  'kube-api',
];

// Not --server or the security flags: a valid address would be dialled. RSTSCOPE_SERVER
// points at a port nothing listens on, so flags that parse fail fast as unreachable.
const QUERY_FLAGS = [
  'json',
  'limit',
  'since',
  'from',
  'to',
  'host',
  'netns',
  'address',
  'port',
  'direction',
  'origin',
  'cause',
  'namespace',
  'workload',
  'service',
  'pod',
  'by',
  'oldest-first',
  'stale-after',
  'param',
];

const VERBS: Record<string, CliVerb> = {
  top: runTopCommand,
  resets: runResetsCommand,
  diagnose: runDiagnoseCommand,
  explain: runExplainCommand,
  middleboxes: runMiddleboxesCommand,
  fleet: runFleetCommand,
  sql: runSqlCommand,
};

const UNREACHABLE = { RSTSCOPE_SERVER: '127.0.0.1:9' };

propertySuite('command-line flags', [
  {
    name: 'rstscope agent: any argv gives a config without holes or one AgentConfigError line',
    runs: 1500,
    property: () =>
      fc.property(argvOf(AGENT_FLAGS), (argv) =>
        expectConfigOrOneLine(() => loadAgentConfig(argv, {}), argv, AgentConfigError),
      ),
  },
  {
    name: 'rstscope collector: any argv gives a config without holes or one CollectorConfigError line',
    runs: 1500,
    property: () =>
      fc.property(argvOf(COLLECTOR_FLAGS), (argv) =>
        expectConfigOrOneLine(() => loadCollectorConfig(argv, {}), argv, CollectorConfigError),
      ),
  },
  {
    name: 'query verbs: any argv ends with exit 2 and one usage line, or 1 and one failure line',
    runs: 200,
    property: () =>
      fc.asyncProperty(
        fc.constantFrom(...Object.keys(VERBS)),
        argvOf(QUERY_FLAGS),
        async (verb, argv) => {
          const { code, out, err } = await runCaptured(VERBS[verb]!, argv, UNREACHABLE);
          expect([1, 2], err).toContain(code);
          expect(out).toBe('');
          expect(err).not.toMatch(/^\s+at /m);
          const lines = err.split('\n').filter((line) => line !== '');
          const multiLineValue = argv.some((a) => a.includes('\n'));
          expect(lines.length, err).toBeGreaterThanOrEqual(1);
          if (!multiLineValue) expect(lines.length, err).toBe(1);
          expect(lines[0]).toMatch(new RegExp(`^rstscope ${verb}: `));
        },
      ),
  },
]);
