// The diagnoser as the collector runs it: a pass every few seconds, never two
// at once, a failed pass logged and tried again at the next tick.
import type { Logger } from 'pino';
import { diagnosePass } from './diagnoser.js';
import type { DiagnoserRunner } from './diagnoser.js';

/** Between passes: the undiagnosed tail stays a few seconds long, so its live diagnosis stays cheap. */
export const DEFAULT_DIAGNOSE_INTERVAL_MS = 5_000;

export interface DiagnoserOptions {
  /** Default DEFAULT_DIAGNOSE_INTERVAL_MS. */
  intervalMs?: number;
  /** Default DEFAULT_SETTLE_MS (diagnoser.ts). */
  settleMs?: number;
}

export interface DiagnoserTask {
  /** Stops the ticks and waits for a running pass to end. */
  stop(): Promise<void>;
}

export function startDiagnoser(
  runner: DiagnoserRunner,
  log: Logger,
  options: DiagnoserOptions = {},
): DiagnoserTask {
  const intervalMs = options.intervalMs ?? DEFAULT_DIAGNOSE_INTERVAL_MS;
  let stopped = false;
  let failing = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const tick = async () => {
    try {
      // Catching up (a first start on a full store) runs passes back to back.
      for (;;) {
        const pass = await diagnosePass(runner, options.settleMs);
        if (pass.caughtUp || stopped) break;
      }
      if (failing) log.info('diagnosis passes succeed again');
      failing = false;
    } catch (err) {
      // Once per run of failures: a store that is down would otherwise log every tick.
      if (!failing) log.warn({ err }, 'diagnosis pass failed; retrying every tick');
      failing = true;
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().then(schedule);
    }, intervalMs);
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
