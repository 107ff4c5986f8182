// JSON objects, one per line, read from a child's stdout, with a way to wait
// for the first one that matches.
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';

type Waiter<T> = { match: (v: T) => boolean; resolve: (v: T) => void };

export class JsonLines<T = Record<string, unknown>> {
  readonly items: T[] = [];
  private waiters: Waiter<T>[] = [];

  constructor(stream: Readable) {
    createInterface({ input: stream }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const item = JSON.parse(line) as T;
      this.items.push(item);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(item)) return true;
        w.resolve(item);
        return false;
      });
    });
  }

  /** The first item, past or future, that matches; rejects after timeoutMs. */
  waitFor(match: (v: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
    const found = this.items.find(match);
    if (found) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.match !== match);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push({
        match,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
      });
    });
  }
}
