// rstscope.v1.Query/WatchResets: resets as agents publish them, from the live NATS
// feed (never by polling the store), filtered per call. The response headers go
// out once the feed is live, so a client knows from when on nothing is missed.
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { Reset, ResetBatch, ResetFilter } from '../../proto/index.js';
import { batchId } from '../../proto/nats-topology.js';
import { netnsByName } from './netns-by-name.js';
import { agentEnds } from './live-ends.js';
import type { FlowEndsOf } from './live-ends.js';
import type { QueryServiceDeps } from './query-deps.js';
import { assertLiveFilter, liveResetMatch } from './reset-filter-match.js';
import type { LiveResetMatch } from './reset-filter-match.js';
import { parseResetFilter, ResetFilterError } from './reset-filter.js';
import type { ParsedResetFilter } from './reset-filter.js';
import { WatchStream } from './watch-stream.js';
import type { WatchCall } from './watch-stream.js';

export function watchResetsHandler(deps: QueryServiceDeps) {
  return (call: WatchCall) => {
    watchResets(call, deps).catch((error: unknown) => {
      deps.log.error({ err: error, peer: call.getPeer() }, 'watch failed');
      call.emit('error', { code: GrpcStatus.INTERNAL, details: 'watch failed on the server' });
    });
  };
}

async function watchResets(call: WatchCall, deps: QueryServiceDeps): Promise<void> {
  const stream = new WatchStream(call);
  const feed = deps.resetFeed;
  if (!feed) {
    stream.fail(
      GrpcStatus.UNAVAILABLE,
      'live resets are not available: this query server has no NATS feed (run it inside `rstscope collector`)',
    );
    return;
  }
  const match = await filterOf(call, deps, stream);
  if (!match || call.cancelled || stream.done) return;

  const endsOf = deps.flowEnds ?? agentEnds;
  const subscription = feed.subscribe({
    batch: (batch) => forEachMatch(batch, match, endsOf, (reset) => stream.push(reset)),
    end: (reason) => stream.fail(GrpcStatus.UNAVAILABLE, reason.message),
  });
  const log = deps.log.child({ peer: call.getPeer(), filter: givenFields(call.request.filter) });
  log.info('watch started');
  let finished = false;
  const finish = (how: string) => {
    if (finished) return;
    finished = true;
    subscription.stop();
    stream.stop();
    log.info({ how, written: stream.written, skipped: stream.skipped }, 'watch ended');
  };
  call.on('cancelled', () => finish('cancelled by the client'));
  // Otherwise the stream closes after its status: the feed ended it, or a failure.
  call.once('close', () => finish('closed'));
  await subscription.live;
  if (!stream.done) call.sendMetadata(new Metadata());
}

/** The call's filter as a live match; undefined when the call was answered with an error. */
async function filterOf(
  call: WatchCall,
  deps: QueryServiceDeps,
  stream: WatchStream,
): Promise<LiveResetMatch | undefined> {
  let filter: ParsedResetFilter;
  try {
    filter = parseResetFilter(withoutWindow(call.request.filter));
    assertLiveFilter(filter);
  } catch (error) {
    if (!(error instanceof ResetFilterError)) throw error;
    stream.fail(GrpcStatus.INVALID_ARGUMENT, error.message);
    return undefined;
  }
  // The agent knows its own pod, never a service: only the collector's naming can tell one.
  if (filter.service && !deps.flowEnds) {
    stream.fail(
      GrpcStatus.FAILED_PRECONDITION,
      `service ${call.request.filter?.service}: this collector names no remote ends (start it with --kube or --inventory)`,
    );
    return undefined;
  }
  if (!filter.netns || 'inode' in filter.netns) return liveResetMatch(filter);
  const { name } = filter.netns;
  let named;
  try {
    named = await netnsByName(deps.storage, name, filter.host);
  } catch (error) {
    deps.log.error({ err: error }, 'watch: netns lookup failed');
    const detail = (error instanceof Error ? error.message : String(error)).split('\n', 1)[0];
    stream.fail(GrpcStatus.UNAVAILABLE, `cannot resolve netns ${name}: storage failed: ${detail}`);
    return undefined;
  }
  if (named.size === 0) {
    const where = filter.host ? `host ${filter.host}'s agent reports` : 'any agent reports';
    stream.fail(
      GrpcStatus.INVALID_ARGUMENT,
      `netns ${name}: no namespace of that name in what ${where}; give its inode, or a name from Fleet`,
    );
    return undefined;
  }
  return liveResetMatch(filter, named);
}

/** A watch starts now and never ends: the window fields are ignored, as documented. */
function withoutWindow(filter: ResetFilter | null | undefined): Partial<ResetFilter> {
  return { ...filter, from_unix_ns: '0', to_unix_ns: '0' };
}

/** The filter's fields the caller set, for the log. */
function givenFields(filter: ResetFilter | null | undefined): Partial<ResetFilter> {
  return Object.fromEntries(Object.entries(filter ?? {}).filter(([, v]) => v && v !== '0'));
}

function forEachMatch(
  batch: ResetBatch,
  match: LiveResetMatch,
  endsOf: FlowEndsOf,
  deliver: (reset: Reset) => void,
): void {
  let id: string | undefined;
  for (const [index, event] of batch.events.entries()) {
    const ends = endsOf(event);
    if (!match(batch.host, event, ends)) continue;
    // The store's event_id (EVENT_ID in diagnosis/evidence-view.ts): batch id / index.
    id ??= batchId(batch.host, batch.boot_id, batch.run_id, batch.seq);
    deliver({
      event_id: `${id}/${index}`,
      host: batch.host,
      boot_id: batch.boot_id,
      event,
      local_end: ends.local,
      remote_end: ends.remote,
    });
  }
}
