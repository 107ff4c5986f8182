// What each benchmark's output says, as rows of the one table (bench/all.ts).
// A benchmark may end its output with one JSON line ({"bench": name, ...}); the
// capture bench does. The others print text today, read here by their labels;
// when they print that JSON line (keys below), it is preferred.
import type { Figure } from './figures.js';

/** The last line of the output that is a JSON object naming this bench. */
export function benchJson<T>(stdout: string, bench: string): T | undefined {
  const line = stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{"bench":'));
  if (!line) return undefined;
  const parsed = JSON.parse(line) as { bench: string };
  return parsed.bench === bench ? (parsed as T) : undefined;
}

/** The number after a label in a text report, or null. */
function labelled(stdout: string, label: RegExp): number | null {
  const m = new RegExp(`${label.source}\\s+(-?[\\d.]+)`, 'm').exec(stdout);
  return m ? Number(m[1]) : null;
}

function missing(figure: Figure, why = 'not in its output'): Figure {
  return figure.measured === null || Number.isNaN(figure.measured)
    ? { ...figure, measured: null, note: why }
    : figure;
}

interface CaptureRow {
  rate: string;
  tool: string;
  emitted: number;
  captured: number;
  aggregated: number;
  dropped: number;
  lost: number;
  cpuS: number;
  cpuPer1k: number;
  /** Over the storm's measured time (absent from output before the storms were paced). */
  emittedPerS?: number;
  cores: number;
  rssMiB: number;
}

interface CaptureJson {
  seconds: number;
  rows: CaptureRow[];
}

/** A /proc CPU reading below one tick is "under 10 ms", not zero. */
const CPU_TICK_S = 0.01;

export function captureFigures(stdout: string): Figure[] {
  const json = benchJson<CaptureJson>(stdout, 'capture');
  if (!json) return [{ figure: 'capture storm', measured: null, unit: '', note: 'no JSON line' }];
  const row = (rate: string, tool: string) =>
    json.rows.find((r) => r.rate === rate && r.tool === tool);
  const rates = [...new Set(json.rows.map((r) => r.rate))];
  const figures: Figure[] = [];
  for (const rate of rates) {
    const ours = row(rate, 'rstscope-nats');
    if (!ours) continue;
    // Older output has no emittedPerS: its storms were taken to last their seconds.
    const perSecond = Math.round(ours.emittedPerS ?? ours.emitted / json.seconds).toLocaleString(
      'en-US',
    );
    const peers = ['bpftrace', 'tcpdump'].flatMap((p) => (row(rate, p) ? [row(rate, p)!] : []));
    const peersLost = peers.map((p) => `${p.tool} ${p.lost}`).join(', ');
    // The bar: lose nothing where a peer loses nothing (and nothing at all up to 20k/s).
    const lossless = rate !== 'max' || peers.some((p) => p.lost === 0);
    figures.push({
      figure: `resets lost at ${rate} (${perSecond}/s for ${json.seconds} s; not published nor aggregated${peersLost ? `; ${peersLost}` : ''})`,
      measured: ours.lost,
      unit: '',
      ...(lossless ? { target: { op: '=', value: 0 } } : {}),
    });
    if (rate === 'max') {
      figures.push({
        figure: `resets accounted at max (published + aggregated + counted dropped)`,
        measured:
          ((ours.captured + ours.aggregated + ours.dropped) / Math.max(ours.emitted, 1)) * 100,
        unit: '%',
        target: { op: '=', value: 100 },
      });
    }
    if (rate === '10k' || rate === 'max') {
      figures.push({
        figure: `agent CPU at ${rate} (cores, over storm + drain)`,
        measured: ours.cores,
        unit: 'cores',
        target: { op: '<=', value: rate === 'max' ? 1 : 0.1 },
      });
    }
    for (const peer of peers) {
      const floor = peer.cpuS < CPU_TICK_S;
      const peerPer1k =
        (Math.max(peer.cpuS, CPU_TICK_S) / Math.max(peer.captured + peer.aggregated, 1)) * 1000;
      figures.push({
        figure: `CPU per 1k events at ${rate}, rstscope / ${peer.tool}${floor ? ` (${peer.tool} under 10 ms: ratio is an upper bound)` : ''}`,
        measured: ours.cpuPer1k / peerPer1k,
        unit: '',
        target: { op: '<=', value: 1 },
      });
    }
  }
  const rss = json.rows.filter((r) => r.tool === 'rstscope-nats').map((r) => r.rssMiB);
  if (rss.length) {
    figures.push({
      figure: 'agent peak RSS (node + loader, highest rate)',
      measured: Math.max(...rss),
      unit: 'MiB',
      target: { op: '<=', value: 150 },
    });
  }
  return figures;
}

/** What bench/datapath-cost.ts prints with --json (engineer D's format). */
interface DatapathJson {
  figures: { name: string; without: number; withAgent: number; differencePercent: number }[];
  errors?: number;
}

export function datapathFigures(stdout: string): Figure[] {
  const line = stdout.split('\n').find((l) => l.startsWith('{"conditions"'));
  const json = line ? (JSON.parse(line) as DatapathJson) : undefined;
  // A cost is what the load loses with the agent: the negated change.
  const cost = (name: string, text: RegExp): number | null => {
    const f = json?.figures.find((x) => x.name === name);
    if (f) return -f.differencePercent;
    const m = new RegExp(`${text.source}.*?(-?[\\d.]+) %`, 'm').exec(stdout);
    return m ? -Number(m[1]) : null;
  };
  return [
    missing({
      figure: 'data-path cost, bulk iperf3 (throughput lost with the agent)',
      measured: cost('bulk Gbit/s', /^(?:bulk Gbit\/s|difference)/),
      unit: '%',
      target: { op: '<=', value: 2 },
    }),
    missing({
      figure: 'data-path cost, many short connections (connections/s lost with the agent)',
      measured: cost('short connections/s', /^short connections\/s/),
      unit: '%',
      target: { op: '<=', value: 2 },
    }),
  ];
}

interface PipelineJson {
  eventsPerS?: number;
  drainEventsPerS?: number;
  rowsPerInsert?: number;
  insertsPerS?: number;
  p50Ms?: number;
  p99Ms?: number;
}

export function pipelineFigures(stdout: string, events: number): Figure[] {
  const json = benchJson<PipelineJson>(stdout, 'pipeline') ?? {};
  const eventsPerS = json.eventsPerS ?? labelled(stdout, /events\/s to queryable rows/);
  const drain = json.drainEventsPerS ?? labelled(stdout, /^drain:[^\n]*\n\s+events\/s/);
  const inserts = labelled(stdout, /^\s+inserts/);
  const insertsPerS =
    json.insertsPerS ?? (inserts !== null && eventsPerS ? inserts / (events / eventsPerS) : null);
  return [
    missing({
      figure: `pipeline events/s, agent publisher → NATS → collector → chDB (${events.toLocaleString('en-US')} events)`,
      measured: eventsPerS,
      unit: '/s',
      target: { op: '>=', value: 100_000 },
    }),
    missing({
      figure: 'pipeline drain events/s, one collector emptying the stream',
      measured: drain,
      unit: '/s',
      target: { op: '>=', value: 100_000 },
    }),
    missing({
      figure: 'rows per insert',
      measured: json.rowsPerInsert ?? labelled(stdout, /rows per insert/),
      unit: '',
      target: { op: '>=', value: 1000 },
    }),
    missing({
      figure: 'inserts per second under load',
      measured: insertsPerS,
      unit: '/s',
      target: { op: '<=', value: 1 },
    }),
    missing({
      figure: 'kernel event → queryable at 1k/s, p50',
      measured: json.p50Ms ?? labelled(stdout, /p50 ms/),
      unit: 'ms',
      target: { op: '<=', value: 1000 },
    }),
    missing({
      figure: 'kernel event → queryable at 1k/s, p99',
      measured: json.p99Ms ?? labelled(stdout, /p99 ms/),
      unit: 'ms',
      target: { op: '<=', value: 2000 },
    }),
  ];
}

interface QueriesJson {
  topCausesS?: number;
  explainS?: number;
}

export function queryFigures(stdout: string, resets: number): Figure[] {
  const json = benchJson<QueriesJson>(stdout, 'queries') ?? {};
  const over = `over ${resets.toLocaleString('en-US')} stored resets`;
  return [
    missing({
      figure: `top causes over a day, ${over}`,
      measured: json.topCausesS ?? labelled(stdout, /^top causes(?: over a day)?/),
      unit: 's',
      target: { op: '<=', value: 1 },
    }),
    missing({
      figure: `explain one flow, ${over}`,
      measured: json.explainS ?? labelled(stdout, /^(?:explain one flow|one flow)/),
      unit: 's',
      target: { op: '<=', value: 1 },
    }),
  ];
}

/** What bench/sustained.ts prints with --json (the keys read here). */
interface SustainedJson {
  rate: number;
  seconds: number;
  runs: number;
  reachedPerS: number;
  worstLost: number;
  kernelEqualsRows: boolean;
  aggregated: number;
  agentCores: number;
  agentRssMiB: number;
  collectorCores: number;
  lastResetToLastRowMs: number;
}

function perSecond(rate: number): string {
  return rate % 1000 === 0 ? `${rate / 1000}k/s` : `${rate.toLocaleString('en-US')}/s`;
}

export function sustainedFigures(stdout: string): Figure[] {
  const json = benchJson<SustainedJson>(stdout, 'sustained');
  if (!json) return [{ figure: 'sustained storm', measured: null, unit: '', note: 'no JSON line' }];
  const at = `at ${perSecond(json.rate)} for ${json.seconds} s`;
  const reached = `${Math.round(json.reachedPerS).toLocaleString('en-US')}/s reached`;
  const worst = json.runs > 1 ? `, worst of ${json.runs} runs` : '';
  return [
    {
      // One lossy run is the figure, not hidden by a median of clean ones.
      figure: `resets lost end to end ${at} (kernel counters vs rows stored; ${reached}${worst})`,
      measured: json.worstLost,
      unit: '',
      target: { op: '=', value: 0 },
    },
    {
      figure: `resets aggregated instead of stored one by one ${at}${worst}`,
      measured: json.aggregated,
      unit: '',
      target: { op: '=', value: 0 },
    },
    {
      figure: `agent CPU ${at} (cores, over storm + 1 s)`,
      measured: json.agentCores,
      unit: 'cores',
    },
    {
      figure: `agent peak RSS ${at} (node + loader, highest run)`,
      measured: json.agentRssMiB,
      unit: 'MiB',
      target: { op: '<=', value: 150 },
    },
    {
      figure: `collector CPU ${at} (cores, storm until every reset is stored)`,
      measured: json.collectorCores,
      unit: 'cores',
    },
    {
      figure: `last reset → last row stored ${at}`,
      measured: json.lastResetToLastRowMs,
      unit: 'ms',
    },
  ];
}
