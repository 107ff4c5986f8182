// ListResets' page token: where the previous page ended (its last ts and event
// id: keyset paging, stable while rows arrive) and the window it was computed
// for. A window given as "the last hour" is resolved once, at the first page,
// so later pages do not slide with the clock. The token also carries a digest of
// the request it belongs to: a changed filter or order with an old token is
// refused rather than silently answered with the wrong rows.
import { createHash } from 'node:crypto';
import type { ResetFilter } from '../../proto/index.js';
import { RpcArgumentError } from './rpc-failure.js';

export interface PagePosition {
  /** The window's bounds, nanoseconds since the epoch. */
  fromNs: bigint;
  toNs: bigint;
  /** The last reset of the previous page. */
  lastTsNs: bigint;
  lastEventId: string;
}

interface TokenBody {
  v: 1;
  d: string;
  f: string;
  t: string;
  ts: string;
  id: string;
}

const RESTART = 'start again without page_token';

/** What a token is bound to: the filter as the caller sent it (window 0s included) and the order. */
export function requestDigest(filter: Partial<ResetFilter> | null, oldestFirst: boolean): string {
  const f = filter ?? {};
  const fields = [
    f.from_unix_ns ?? '0',
    f.to_unix_ns ?? '0',
    f.host ?? '',
    f.netns ?? '',
    f.address ?? '',
    String(f.port ?? 0),
    f.direction ?? '',
    f.origin ?? '',
    f.cause ?? '',
    oldestFirst ? 'oldest' : 'newest',
  ];
  return createHash('sha256').update(JSON.stringify(fields)).digest('base64url').slice(0, 16);
}

export function encodePageToken(digest: string, position: PagePosition): string {
  const body: TokenBody = {
    v: 1,
    d: digest,
    f: String(position.fromNs),
    t: String(position.toNs),
    ts: String(position.lastTsNs),
    id: position.lastEventId,
  };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

/** The position a token holds; RpcArgumentError when it is not one of ours or not for this request. */
export function decodePageToken(token: string, digest: string): PagePosition {
  let body: Partial<TokenBody>;
  try {
    body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<TokenBody>;
  } catch {
    throw new RpcArgumentError(`page_token is not a token ListResets gave: ${RESTART}`);
  }
  const decimal = (text: unknown) => typeof text === 'string' && /^\d{1,20}$/.test(text);
  if (
    body?.v !== 1 ||
    ![body.f, body.t, body.ts].every(decimal) ||
    typeof body.id !== 'string' ||
    typeof body.d !== 'string'
  ) {
    throw new RpcArgumentError(`page_token is not a token ListResets gave: ${RESTART}`);
  }
  if (body.d !== digest) {
    throw new RpcArgumentError(
      `page_token belongs to another filter or order: ${RESTART}, or send the filter it came with`,
    );
  }
  return {
    fromNs: BigInt(body.f!),
    toNs: BigInt(body.t!),
    lastTsNs: BigInt(body.ts!),
    lastEventId: body.id,
  };
}
