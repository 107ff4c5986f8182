// rstscope.v1.Query/ListResets: stored resets with their diagnosis, newest
// first (or oldest first), a page at a time.
import type { ListResetsRequest, ListResetsResponse } from '../../proto/index.js';
import type { QueryServiceDeps } from './query-deps.js';
import { decodePageToken, encodePageToken, requestDigest } from './page-token.js';
import { RpcArgumentError, unaryHandler } from './rpc-failure.js';
import { CAUSE_COLUMNS, resetMessages } from './reset-message.js';
import type { StoredCause } from './reset-message.js';
import { parseResetFilter } from './reset-filter.js';
import { resetFilterSql } from './reset-filter-sql.js';
import { causesSource, scopeOfStoredSpan } from './scoped-causes.js';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 10_000;

export function listResetsHandler(deps: QueryServiceDeps) {
  return unaryHandler<ListResetsRequest, ListResetsResponse>(
    'ListResets',
    deps,
    async (request, queries) => {
      const pageSize = request.page_size || DEFAULT_PAGE_SIZE;
      if (pageSize > MAX_PAGE_SIZE) {
        throw new RpcArgumentError(`page_size ${pageSize}: at most ${MAX_PAGE_SIZE}`);
      }
      const filter = parseResetFilter(request.filter);
      const digest = requestDigest(request.filter, request.oldest_first);
      const position = request.page_token ? decodePageToken(request.page_token, digest) : undefined;
      if (position) {
        filter.fromNs = position.fromNs;
        filter.toNs = position.toNs;
      }
      const { where, params } = resetFilterSql(filter);
      const order = request.oldest_first ? 'ASC' : 'DESC';
      let after = '';
      if (position) {
        after = `AND (ts, event_id) ${request.oldest_first ? '>' : '<'}
          (fromUnixTimestamp64Nano({after_ts:Int64}), {after_id:String})`;
        params.after_ts = String(position.lastTsNs);
        params.after_id = position.lastEventId;
      }
      const source = await causesSource(queries, filter.fromNs, (from) =>
        scopeOfStoredSpan(queries, from, filter.toNs),
      );
      // One more than a page: whether there is a next page, without counting.
      const rows = await queries.rows<StoredCause>(
        `SELECT ${CAUSE_COLUMNS} FROM (${source.sql})
         WHERE ${where} ${after}
         ORDER BY ts ${order}, event_id ${order}
         LIMIT ${pageSize + 1}`,
        { ...params, ...source.params },
        pageSize + 1,
      );
      const page = rows.slice(0, pageSize);
      const last = page[page.length - 1];
      const next =
        rows.length > pageSize && last
          ? encodePageToken(digest, {
              fromNs: filter.fromNs,
              toNs: filter.toNs,
              lastTsNs: BigInt(last.ts_ns),
              lastEventId: last.event_id,
            })
          : '';
      return { resets: await resetMessages(queries, page), next_page_token: next };
    },
  );
}
