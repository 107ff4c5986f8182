// A watch response is newline-delimited JSON, one event per line; a line may
// arrive split across chunks, several may arrive in one, which readline sorts out.
import type { IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import type { KubeConfig } from './kube-config.js';
import { KubeApiError } from './kube-errors.js';
import type { KubeRequest } from './kube-http.js';
import { statusError } from './kube-http.js';
import type { KubeObject, KubeStatus, WatchEvent } from './kube-types.js';

const EVENT_TYPES = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK']);

export async function* watchEvents<T extends KubeObject>(
  res: IncomingMessage,
  config: KubeConfig,
  req: Pick<KubeRequest, 'verb' | 'resource' | 'namespace'>,
): AsyncGenerator<WatchEvent<T>> {
  try {
    // A failure of the response (a stalled watch destroyed, an abort) rejects the loop.
    for await (const raw of createInterface({ input: res, crlfDelay: Infinity })) {
      const line = raw.trim();
      if (line !== '') yield parseEvent<T>(line, config, req);
    }
  } finally {
    // The consumer stopped early (break, stop()): close the connection, not just the loop.
    res.destroy();
  }
}

function parseEvent<T extends KubeObject>(
  line: string,
  config: KubeConfig,
  req: Pick<KubeRequest, 'verb' | 'resource' | 'namespace'>,
): WatchEvent<T> {
  let event: { type?: string; object?: unknown };
  try {
    event = JSON.parse(line) as typeof event;
  } catch (err) {
    throw new KubeApiError(`watch: the API sent a line that is not JSON: ${line.slice(0, 80)}`, 0, {
      cause: err,
    });
  }
  if (event.type === 'ERROR') {
    const status = (event.object ?? {}) as Partial<KubeStatus>;
    throw statusError(config, req, status.code ?? 0, status);
  }
  if (!EVENT_TYPES.has(event.type ?? '') || typeof event.object !== 'object' || !event.object) {
    throw new KubeApiError(`watch: unexpected event ${line.slice(0, 80)}`, 0);
  }
  return event as WatchEvent<T>;
}
