// The benchmark table's arithmetic and readers: verdicts against targets, the
// pcap count, bpftrace's own loss lines, the capture rows → figures, and the
// sustained storm's readers (hping3's statistics, the agent's kernel counters,
// its JSON line → figures).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureFigures, sustainedFigures } from '../bench/bench-figures.js';
import { figureTable, verdict } from '../bench/figures.js';
import { hpingTransmitted } from '../bench/paced-storm.js';
import { countBpftraceOutput } from '../bench/peers/bpftrace-capturer.js';
import { pcapPackets } from '../bench/peers/pcap-packets.js';
import { tcpdumpDropped } from '../bench/peers/tcpdump-capturer.js';
import { parseKernelCounts } from '../bench/production-agent.js';

describe('verdicts', () => {
  it('says met, or missed by how much and how many times', () => {
    const at = (measured: number, op: '<=' | '>=' | '=', value: number) =>
      verdict({ figure: 'f', measured, unit: 'ms', target: { op, value } });
    expect(at(900, '<=', 1000)).toBe('met');
    expect(at(3000, '<=', 1000)).toBe('missed by 2,000 ms (3.0×)');
    expect(at(25_000, '>=', 100_000)).toBe('missed by 75,000 ms (4.0×)');
    expect(at(5, '=', 0)).toBe('missed by 5 ms');
    expect(verdict({ figure: 'f', measured: null, unit: '', note: 'x.js exited with 1' })).toBe(
      'not measured: x.js exited with 1',
    );
  });

  it('prints one Markdown row per figure', () => {
    const table = figureTable([
      { figure: 'a', measured: 1.5, unit: 's', target: { op: '<=', value: 1 } },
      { figure: 'b', measured: 0, unit: '' },
    ]);
    expect(table.split('\n')).toEqual([
      '| figure | measured (median) | target | verdict |',
      '|---|---|---|---|',
      '| a | 1.50 s | ≤ 1 s | missed by 0.500 s (1.5×) |',
      '| b | 0 |  |  |',
    ]);
  });
});

describe('peer outputs', () => {
  it('counts whole pcap records and ignores one cut short', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rstscope-pcap-'));
    try {
      const header = Buffer.alloc(24);
      header.writeUInt32LE(0xa1b2c3d4, 0);
      const record = (len: number) => {
        const r = Buffer.alloc(16 + len);
        r.writeUInt32LE(len, 8);
        r.writeUInt32LE(len, 12);
        return r;
      };
      const file = join(dir, 'x.pcap');
      writeFileSync(
        file,
        Buffer.concat([header, record(54), record(66), record(54).subarray(0, 30)]),
      );
      expect(pcapPackets(file)).toBe(2);
      writeFileSync(file, Buffer.alloc(24, 0x55));
      expect(() => pcapPackets(file)).toThrow(/not a pcap file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads bpftrace's event lines and its Lost lines, tcpdump's kernel drops", () => {
    const out = [
      'Attaching 2 probes...',
      '1 sent 10.2.0.2:9 > 10.1.0.2:1234 state=0 reason=1',
      'Lost 120 events',
      '2 received 10.2.0.2:80 < 10.1.0.2:5000',
      'Lost 3 events',
    ].join('\n');
    expect(countBpftraceOutput(out)).toEqual({ lines: 2, lost: 123 });
    expect(
      tcpdumpDropped(
        '41 packets captured\n50 packets received by filter\n9 packets dropped by kernel\n',
      ),
    ).toBe(9);
  });
});

describe('capture figures', () => {
  const row = (rate: string, tool: string, lost: number, cpuS: number) => ({
    rate,
    tool,
    emitted: 10_000,
    captured: 10_000 - lost,
    aggregated: 0,
    dropped: lost,
    lost,
    cpuS,
    cpuPer1k: (cpuS / (10_000 - lost)) * 1000,
    cores: cpuS / 3,
    rssMiB: 100,
  });
  const output = (rows: ReturnType<typeof row>[]) =>
    `table\n${JSON.stringify({ bench: 'capture', seconds: 2, runs: 1, rows })}\n`;

  it('holds rstscope to zero loss at max only where a peer lost nothing', () => {
    const all = (peerLost: number) =>
      captureFigures(
        output([
          row('max', 'rstscope-nats', 500, 1),
          row('max', 'bpftrace', peerLost, 0.5),
          row('max', 'tcpdump', peerLost, 0.2),
        ]),
      );
    const lost = (figures: ReturnType<typeof all>) =>
      figures.find((f) => f.figure.startsWith('resets lost'))!;
    expect(lost(all(0)).target).toEqual({ op: '=', value: 0 });
    expect(verdict(lost(all(0)))).toBe('missed by 500');
    expect(lost(all(800)).target).toBeUndefined();
  });

  it('gives the CPU ratio per peer, bounded when the peer used less than a tick', () => {
    const figures = captureFigures(
      output([
        row('10k', 'rstscope-nats', 0, 1),
        row('10k', 'bpftrace', 0, 0.5),
        row('10k', 'tcpdump', 0, 0),
      ]),
    );
    const ratio = (peer: string) => figures.find((f) => f.figure.includes(`/ ${peer}`))!;
    expect(ratio('bpftrace').measured).toBeCloseTo(2);
    expect(ratio('tcpdump').measured).toBeCloseTo(100);
    expect(ratio('tcpdump').figure).toMatch(/upper bound/);
    expect(figures.find((f) => f.figure.startsWith('agent CPU at 10k'))!.target).toEqual({
      op: '<=',
      value: 0.1,
    });
  });

  it('says the capture was not measured when its JSON line is missing', () => {
    expect(captureFigures('it crashed')[0]!.measured).toBeNull();
  });
});

describe('sustained storm', () => {
  it("reads hping3's sent count from its exit statistics", () => {
    const out = [
      'HPING 10.2.0.2 (eth0 10.2.0.2): S set, 40 headers + 0 data bytes',
      '--- 10.2.0.2 hping statistic ---',
      '41704 packets transmitted, 41684 packets received, 1% packet loss',
    ].join('\n');
    expect(hpingTransmitted(out)).toBe(41704);
    expect(hpingTransmitted('hping3: command not found')).toBeUndefined();
  });

  it("reads the agent's kernel counters from its exit table, and only those rows", () => {
    const stderr = [
      '{"level":30,"msg":"connected to NATS"}',
      'kernel counters (exact, per namespace, direction and reason):',
      '  rst-1a2b3c-server      sent      NO_SOCKET                          1199990',
      '  rst-1a2b3c-server      received  UNKNOWN (discarded)                3',
      'events delivered: 1199990',
      'lost in the kernel (ring buffer full): 0',
      'published to JetStream: 1199990',
      'dropped in the agent (publish buffer full): 0',
    ].join('\n');
    expect(parseKernelCounts(stderr)).toEqual([
      { netns: 'rst-1a2b3c-server', direction: 'sent', reason: 'NO_SOCKET', count: 1_199_990 },
      {
        netns: 'rst-1a2b3c-server',
        direction: 'received',
        reason: 'UNKNOWN (discarded)',
        count: 3,
      },
    ]);
    expect(
      parseKernelCounts('kernel counters (exact, ...):\n  no resets\nevents delivered: 0'),
    ).toEqual([]);
  });

  const output = (fields: Record<string, unknown>) =>
    `run 1:\n...\n${JSON.stringify({
      bench: 'sustained',
      rate: 20_000,
      seconds: 60,
      runs: 3,
      reachedPerS: 19_912.4,
      worstLost: 0,
      kernelEqualsRows: true,
      aggregated: 0,
      agentCores: 0.21,
      agentRssMiB: 112,
      collectorCores: 0.7,
      lastResetToLastRowMs: 900,
      ...fields,
    })}\n`;
  const named = (figures: ReturnType<typeof sustainedFigures>, start: string) =>
    figures.find((f) => f.figure.startsWith(start))!;

  it('holds the worst run to zero loss and zero aggregated, and names the rate reached', () => {
    const clean = sustainedFigures(output({}));
    const lost = named(clean, 'resets lost end to end at 20k/s for 60 s');
    expect(lost.figure).toContain('19,912/s reached, worst of 3 runs');
    expect(verdict(lost)).toBe('met');
    expect(verdict(named(clean, 'resets aggregated'))).toBe('met');
    expect(verdict(named(clean, 'agent peak RSS'))).toBe('met');
    expect(named(clean, 'agent CPU').measured).toBe(0.21);

    const lossy = sustainedFigures(output({ worstLost: 1200, aggregated: 5000 }));
    expect(verdict(named(lossy, 'resets lost end to end'))).toBe('missed by 1,200');
    expect(verdict(named(lossy, 'resets aggregated'))).toBe('missed by 5,000');
  });

  it('says the part was not measured when its JSON line is missing', () => {
    const [figure] = sustainedFigures('agent exited with 1');
    expect(figure!.measured).toBeNull();
    expect(verdict(figure!)).toBe('not measured: no JSON line');
  });
});
