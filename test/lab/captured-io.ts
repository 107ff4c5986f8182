// The CLI's verbs write to the io they are given, so a test runs them in
// process and reads what a user would have seen on stdout and stderr.
import type { QueryIo } from '../../cli/query/query-verb.js';

export interface Captured {
  code: number;
  out: string;
  err: string;
}

/** What a test may set on the io: progress timing, and whether stderr is a terminal. */
export type IoExtras = Partial<QueryIo> & { tty?: boolean };

/** A CLI verb as main.ts calls it. */
export type CliVerb = (argv: string[], env: NodeJS.ProcessEnv, io: QueryIo) => Promise<number>;

/** An io that keeps what is written; `captured` grows as the verb writes. */
export function captureIo(extra: IoExtras = {}): {
  captured: { out: string; err: string };
  io: QueryIo;
} {
  const captured = { out: '', err: '' };
  const io: QueryIo = {
    stdout: { write: (text: string) => (captured.out += text) },
    stderr: { write: (text: string) => (captured.err += text), isTTY: extra.tty ?? false },
    ...(extra.progressTiming ? { progressTiming: extra.progressTiming } : {}),
  };
  return { captured, io };
}

/** Runs a verb to its end: its exit code and everything it wrote. */
export async function runCaptured(
  verb: CliVerb,
  argv: string[],
  env: NodeJS.ProcessEnv,
  extra: IoExtras = {},
): Promise<Captured> {
  const { captured, io } = captureIo(extra);
  const code = await verb(argv, env, io);
  return { code, ...captured };
}
