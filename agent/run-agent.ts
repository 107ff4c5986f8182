// `rstscope agent`: config → checks → loader → print every reset → counters.
import { pino } from 'pino';
import { assertCapabilities } from './capabilities.js';
import type { AgentConfig } from './config.js';
import { decodeRecords } from './event-decoder.js';
import type { DecodeContext } from './event-decoder.js';
import { countersJson, countersTable, formatResetLine } from './format.js';
import { readHostIdentity } from './host-identity.js';
import { LoaderProcess } from './loader-process.js';
import { netnsNames, resolveNetns } from './netns.js';

export async function runAgent(config: AgentConfig): Promise<number> {
  const log = pino({ name: 'rstscope-agent' }, pino.destination(2));
  assertCapabilities();
  const netnsInodes = config.netns.map(resolveNetns);
  const identity = readHostIdentity(config.host);
  let names = netnsNames();
  let delivered = 0;
  // Set once the loader's hello names the kernel's enums; no batch comes earlier.
  const decode: { ctx?: DecodeContext } = {};
  let crashed = false;

  const loader = new LoaderProcess(
    {
      path: config.loaderPath,
      netnsInodes,
      ringbufMb: config.ringbufMb,
      assumeNoReason: config.assumeNoReason,
    },
    {
      onBatch(payload, recordsAt, realtimeOffsetNs) {
        if (!decode.ctx) return;
        const events = decodeRecords(payload, recordsAt, realtimeOffsetNs, decode.ctx);
        delivered += events.length;
        if (events.some((e) => !names.has(e.netns))) names = netnsNames();
        const text = events
          .map((e) => (config.json ? JSON.stringify(e) : formatResetLine(e, names.get(e.netns))))
          .join('\n');
        if (!process.stdout.write(`${text}\n`)) {
          // A slow reader of our output must not grow our memory: push back.
          loader.pause();
          process.stdout.once('drain', () => loader.resume());
        }
      },
      onCounters() {},
      onNote(line) {
        log.warn({ loader: line }, 'loader note');
      },
      onCrash(error) {
        crashed = true;
        log.error({ err: error }, error.message);
        stop();
      },
    },
  );

  const hello = await loader.start();
  decode.ctx = {
    host: identity.host,
    bootId: identity.bootId,
    rstReasons: hello.rst_reasons,
    dropReasons: hello.drop_reasons,
  };
  const scope = netnsInodes.length ? `namespaces ${config.netns.join(', ')}` : 'every namespace';
  log.info(
    {
      host: identity.host,
      kernel: hello.kernel_release,
      features: hello.features,
      netns: netnsInodes,
    },
    `capturing resets on ${scope}`,
  );
  if (!config.json) {
    process.stderr.write(
      `rstscope agent: capturing resets on ${scope} of ${identity.host}; Ctrl-C to stop\n`,
    );
  }

  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  function stop() {
    resolveDone();
  }
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const timer = config.durationS > 0 ? setTimeout(stop, config.durationS * 1000) : undefined;
  await done;
  clearTimeout(timer);

  const counters = await loader.stop();
  const summary = { counters, delivered };
  process.stderr.write(
    `${config.json ? countersJson(summary, hello.rst_reasons) : countersTable(summary, hello.rst_reasons, names)}\n`,
  );
  return crashed ? 1 : 0;
}
