// The loader supervisor against stand-in loaders that write broken frame
// streams: a stream that does not parse ends the start with a LoaderStartError,
// or a running agent's loader with onCrash, never with an exception that
// escapes into the agent's event loop.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LoaderCrashedError, LoaderStartError } from '../agent/errors.js';
import { LoaderProcess } from '../agent/loader-process.js';

const dir = mkdtempSync(join(tmpdir(), 'rstscope-loader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An executable that writes these frames (type, hex payload) to stdout, then waits for stdin to close. */
function standIn(name: string, frames: [number, string][]): string {
  const path = join(dir, name);
  const hex = frames.map(([type, payload]) => {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(type, 0);
    head.writeUInt32LE(Buffer.byteLength(payload, 'hex'), 4);
    return head.toString('hex') + payload;
  });
  // One frame per 100 ms: each arrives in its own chunk, after the one before was handled.
  writeFileSync(
    path,
    `#!${process.execPath}\nconst frames = ${JSON.stringify(hex)};\n` +
      `frames.forEach((f, i) => setTimeout(() => process.stdout.write(Buffer.from(f, 'hex')), i * 100));\n` +
      `process.stdin.resume();\nprocess.stdin.on('end', () => process.exit(0));\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

const hex = (text: string) => Buffer.from(text).toString('hex');
const options = (path: string) => ({
  path,
  netnsInodes: [],
  ringbufMb: 8,
  aggregateSlots: 4096,
  assumeNoReason: false,
});

describe('loader supervisor', () => {
  it('a hello that is not JSON fails the start with one line', async () => {
    const loader = new LoaderProcess(options(standIn('bad-hello', [[1, hex('{oops')]])), {
      onBatch: () => {},
      onCounters: () => {},
      onNote: () => {},
      onCrash: () => expect.unreachable('not started yet'),
    });
    const error = await loader.start().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(LoaderStartError);
    expect((error as Error).message).toMatch(/^loader hello frame is not JSON/);
  });

  it('a batch frame shorter than its header after the hello is a crash, reported once', async () => {
    const crashes: LoaderCrashedError[] = [];
    const loader = new LoaderProcess(
      options(
        standIn('short-batch', [
          [1, hex('{"rst_reasons":{}}')],
          [2, ''],
        ]),
      ),
      {
        onBatch: () => expect.unreachable('no batch in a 0-byte frame'),
        onCounters: () => {},
        onNote: () => {},
        onCrash: (err) => crashes.push(err),
      },
    );
    await loader.start();
    await expect.poll(() => crashes.length).toBe(1);
    expect(crashes[0]).toBeInstanceOf(LoaderCrashedError);
    expect(crashes[0]!.message).toMatch(/frame of type 2 has 0 bytes/);
    await loader.stop();
  });
});
