// `rstscope diagnose [--since 1h]`: the top causes of resets and the middleboxes
// that injected them, for a person at a terminal.
import { causeById } from '../../collector/diagnosis/causes.js';
import { middleboxesSelect } from '../../collector/diagnosis/middlebox-view.js';
import { withCollector } from '../collector-connection.js';
import type { CommandIo } from '../collector-connection.js';
import { formatTable } from '../sql-table.js';
import { endpointText } from '../../collector/diagnosis/endpoint.js';
import {
  QUERY_VERB_OPTIONS,
  QueryVerbUsageError,
  inWindow,
  loadQueryVerbConfig,
  queryRows,
} from './query-verb.js';

export const DIAGNOSE_USAGE = `usage: rstscope diagnose [options]

Prints the top causes of the resets in a window and the middleboxes that
injected resets in it (grouped by path, with hop distance, TTL and IP-ID
signature, and for idle kills the bracket of the idle timeout).
${QUERY_VERB_OPTIONS}
                      (default window: --since 1h)`;

const TOP = 10;

interface CauseCount {
  cause: string;
  origin: string;
  resets: string;
  hosts: string;
  example: string;
}

interface Middlebox {
  source_host: string;
  destination_addr: string;
  destination_port: number;
  destination_hosts: string[];
  kind: string;
  hop_distance: number | null;
  rst_ttl: number | null;
  peer_ttl: number | null;
  ip_id_signature: string;
  resets: string;
  first_seen: string;
  last_seen: string;
  timeout_above_ms: number | null;
  timeout_at_most_ms: number | null;
  known_timeouts: string[];
  example_flows: string[];
}

export async function runDiagnoseCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CommandIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let config;
  try {
    config = loadQueryVerbConfig('diagnose', argv, env, '1h');
    if (config.positionals.length) {
      throw new QueryVerbUsageError(`unexpected argument ${config.positionals[0]}`);
    }
  } catch (err) {
    if (!(err instanceof QueryVerbUsageError)) throw err;
    io.stderr.write(`rstscope diagnose: ${err.message}\n`);
    return 2;
  }
  return withCollector('diagnose', config.connection, io, async (client) => {
    const causes = await queryRows<CauseCount>(
      client,
      `SELECT cause, origin, count() AS resets, uniqExact(host) AS hosts,
                anyIf(detail, detail != '') AS example
         FROM reset_causes WHERE ${inWindow()}
         GROUP BY cause, origin ORDER BY count() DESC, cause LIMIT ${TOP}`,
      config.window,
    );
    const boxes = await queryRows<Middlebox>(
      client,
      `${middleboxesSelect(inWindow('i.ts'))} ORDER BY resets DESC LIMIT ${TOP}`,
      config.window,
    );
    if (config.json) {
      for (const c of causes) io.stdout.write(`${JSON.stringify({ top_cause: c })}\n`);
      for (const m of boxes) io.stdout.write(`${JSON.stringify({ middlebox: m })}\n`);
      return 0;
    }
    io.stdout.write(report(causes, boxes, config.window).join('\n') + '\n');
    return 0;
  });
}

function report(
  causes: readonly CauseCount[],
  boxes: readonly Middlebox[],
  window: { from: Date; to: Date },
): string[] {
  const span = `${window.from.toISOString()} → ${window.to.toISOString()}`;
  if (causes.length === 0) return [`No resets stored for ${span}.`];
  const lines = [`Top causes of resets, ${span}`, ''];
  lines.push(
    ...table(
      ['resets', 'hosts', 'cause', 'origin', 'example'],
      causes.map((c) => ({ ...c, example: c.example || (causeById(c.cause)?.title ?? '') })),
    ),
  );
  lines.push('', boxes.length ? 'Middleboxes that injected resets' : 'No injected resets.');
  if (boxes.length) {
    lines.push(
      '',
      ...table(
        ['resets', 'path', 'kind', 'hop', 'ttl', 'ip_id', 'idle_timeout', 'known', 'last_seen'],
        boxes.map((m) => ({
          resets: m.resets,
          path: `${m.source_host} → ${endpointText(m.destination_addr, m.destination_port)}${m.destination_hosts.length ? ` (${m.destination_hosts.join(', ')})` : ''}`,
          kind: m.kind,
          hop: m.hop_distance ?? '',
          ttl:
            m.rst_ttl === null
              ? ''
              : `${m.rst_ttl}${m.peer_ttl === null ? '' : ` (peer ${m.peer_ttl})`}`,
          ip_id: m.ip_id_signature,
          idle_timeout: bracket(m),
          known: m.known_timeouts.join('; '),
          last_seen: m.last_seen,
        })),
      ),
    );
  }
  return lines;
}

/** "> 3.0 s, ≤ 7.0 s": the idle timeout lies in this bracket. */
function bracket(m: Middlebox): string {
  if (m.timeout_at_most_ms === null) return '';
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const low = m.timeout_above_ms === null ? '' : `> ${s(m.timeout_above_ms)}, `;
  return `${low}≤ ${s(m.timeout_at_most_ms)}`;
}

const NUMERIC = new Set(['resets', 'hosts', 'hop']);

function table(columns: string[], rows: readonly Record<string, unknown>[]): string[] {
  return formatTable(
    columns.map((name) => ({ name, type: NUMERIC.has(name) ? 'UInt64' : 'String' })),
    rows.map((row) => JSON.stringify(row)),
  );
}
