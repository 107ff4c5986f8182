// Where agents and collectors meet on NATS: subjects, the streams behind them, and
// the message id that makes a retried publish a no-op. Shared by both sides so they
// cannot disagree.

export const RESETS_SUBJECT_PREFIX = 'rstscope.v1.resets';
export const AGENTS_SUBJECT_PREFIX = 'rstscope.v1.agents';
export const DEADLETTER_SUBJECT_PREFIX = 'rstscope.v1.deadletter';

export const STREAM = 'RSTSCOPE';
export const DEADLETTER_STREAM = 'RSTSCOPE_DEADLETTER';
export const DEFAULT_DURABLE = 'rstscope-collector';

/** A batch bigger than this is refused by the collector (NATS's default max_payload). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

// How long JetStream remembers a Nats-Msg-Id: retries of one publish happen within
// seconds, but an agent that buffered through an outage republishes minutes later.
export const DUPLICATE_WINDOW_S = 15 * 60;

export interface StreamLimits {
  /** Oldest message kept, seconds: how long collectors may be down without loss. */
  maxAgeS: number;
  /** Bytes on disk before the oldest messages go. */
  maxBytes: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxAgeS: 24 * 3600,
  maxBytes: 4 * 1024 ** 3,
};

/** What an agent's --host may be: a DNS-style name (each becomes a subject token). */
export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

/**
 * A host name as one subject token. Host names may contain dots, which would split
 * the token, so everything outside [A-Za-z0-9_-] is percent-encoded, byte by byte
 * of its UTF-8 (as decodeURIComponent reads it back): two hosts never share a token.
 */
export function hostToken(host: string): string {
  return host.replace(/[^A-Za-z0-9_-]/gu, (c) =>
    Array.from(Buffer.from(c, 'utf8'), (b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
  );
}

function hostFromToken(token: string): string {
  return decodeURIComponent(token);
}

export function resetsSubject(host: string): string {
  return `${RESETS_SUBJECT_PREFIX}.${hostToken(host)}`;
}

export function agentsSubject(host: string): string {
  return `${AGENTS_SUBJECT_PREFIX}.${hostToken(host)}`;
}

export function deadletterSubject(kind: string): string {
  return `${DEADLETTER_SUBJECT_PREFIX}.${kind}`;
}

/** The host a subject names, or undefined when it is not one of ours. */
export function hostOfSubject(subject: string): string | undefined {
  const tokens = subject.split('.');
  if (tokens.length !== 4) return undefined;
  try {
    return hostFromToken(tokens[3]!);
  } catch {
    return undefined;
  }
}

/** One batch's identity: Nats-Msg-Id on the wire, batch_id on every stored row. */
export function batchId(host: string, bootId: string, runId: string, seq: string): string {
  return `${host}/${bootId}/${runId}/${seq}`;
}

/**
 * "nats://a:4222,tls://b:4222" → the servers, and the first one that is not a NATS
 * URL (nats://, tls://, ws://, wss:// or a bare HOST:PORT), for the caller to refuse
 * with its own error.
 */
export function splitNatsServers(spec: string): { servers: string[]; invalid?: string } {
  const servers = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const invalid = servers.find((server) => {
    try {
      const url = new URL(server.includes('://') ? server : `nats://${server}`);
      return !['nats:', 'tls:', 'ws:', 'wss:'].includes(url.protocol) || !url.hostname;
    } catch {
      return true;
    }
  });
  return invalid === undefined ? { servers } : { servers, invalid };
}

export const NATS_URL_FORM = 'nats://HOST:PORT (or tls://HOST:PORT)';
