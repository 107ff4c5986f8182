// A thin client of the collector's query service for the CLI's query verbs.
// Every failure becomes a QueryClientError whose message is one line that says
// what went wrong and what to do about it.
import { Client, connectivityState, Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { MISSING_TOKEN, WRONG_TOKEN } from '../collector/query/bearer-token.js';
import { DEFAULT_SQL_MAX_TIMEOUT_MS, formatMs } from '../collector/query/query-limits.js';
import { grpcServiceDefinition } from '../proto/index.js';
import type {
  ExplainFlowRequest,
  ExplainFlowResponse,
  FleetRequest,
  FleetResponse,
  HealthCheckRequest,
  HealthCheckResponse,
  ListResetsRequest,
  ListResetsResponse,
  MiddleboxesRequest,
  MiddleboxesResponse,
  SqlRequest,
  SqlResponse,
  TopCausesRequest,
  TopCausesResponse,
  WatchResetsRequest,
  WatchResetsResponse,
} from '../proto/index.js';
import type { GrpcMethodDefinition } from '../proto/index.js';
import { channelSecurity, handshakeFailure } from './client-security.js';
import type { ClientSecurity, ClientTls } from './client-security.js';

// A query may return up to the server's row maximum; grpc-js refuses replies
// over 4 MiB by default, far below 100 000 wide rows.
const MAX_RESPONSE_BYTES = 512 * 1024 * 1024;
// The server's own timeout should answer first, with its reason; the client's
// deadline only catches a server that never answers.
const DEADLINE_MARGIN_MS = 5_000;
const DEFAULT_HEALTH_DEADLINE_MS = 5_000;
// The diagnosis RPCs run a few queries, each bounded by the server's SQL timeout.
const DEFAULT_RPC_DEADLINE_MS = DEFAULT_SQL_MAX_TIMEOUT_MS + DEADLINE_MARGIN_MS;

export class QueryClientError extends Error {
  override name = 'QueryClientError';
  constructor(
    message: string,
    readonly code: GrpcStatus,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** TLS (default: plain text) and the bearer token (default: none). */
export type QueryClientOptions = ClientSecurity;

/** A request with every field optional: the server reads absent ones as zero. */
type RequestOf<T> = { [K in keyof T]?: T[K] extends object ? Partial<T[K]> : T[K] };

export class QueryClient {
  private readonly client: Client;
  private readonly token: string | undefined;
  private readonly tls: ClientTls | undefined;
  private readonly checkMethod = method('grpc.health.v1.Health', 'Check');
  private readonly watchMethod = method('grpc.health.v1.Health', 'Watch');

  constructor(
    readonly address: string,
    options: QueryClientOptions = {},
  ) {
    const { credentials, options: channelOptions } = channelSecurity(options.tls);
    this.client = new Client(address, credentials, {
      ...channelOptions,
      'grpc.max_receive_message_length': MAX_RESPONSE_BYTES,
      // Clients in one process share connections by default; one still backing
      // off from a failed handshake would then answer "Last error: null", and
      // explain() could not say what failed.
      'grpc.use_local_subchannel_pool': 1,
    });
    this.token = options.token;
    this.tls = options.tls;
  }

  listResets(request: RequestOf<ListResetsRequest>): Promise<ListResetsResponse> {
    return this.call('ListResets', request);
  }

  topCauses(request: RequestOf<TopCausesRequest>): Promise<TopCausesResponse> {
    return this.call('TopCauses', request);
  }

  explainFlow(request: RequestOf<ExplainFlowRequest>): Promise<ExplainFlowResponse> {
    return this.call('ExplainFlow', request);
  }

  middleboxes(request: RequestOf<MiddleboxesRequest>): Promise<MiddleboxesResponse> {
    return this.call('Middleboxes', request);
  }

  fleet(request: RequestOf<FleetRequest> = {}): Promise<FleetResponse> {
    return this.call('Fleet', request);
  }

  /**
   * Resets as they happen, until cancel(). Stream errors are ServiceErrors;
   * describe() turns one into a QueryClientError.
   */
  watchResets(request: RequestOf<WatchResetsRequest>): ClientReadableStream<WatchResetsResponse> {
    const m = method('rstscope.v1.Query', 'WatchResets');
    return this.client.makeServerStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize as (bytes: Buffer) => WatchResetsResponse,
      request,
      this.metadata(),
    );
  }

  /**
   * One line for a failed call or stream, as the query verbs print it.
   * `answered`: the server sent the stream's headers, so it was reached whatever
   * state the channel is in by the time the error arrives.
   */
  describe(err: unknown, answered = false): QueryClientError {
    return err instanceof QueryClientError
      ? err
      : this.explain(err, DEFAULT_RPC_DEADLINE_MS, answered);
  }

  /** One read-only SQL query; timeoutMs 0 takes the server's default. */
  sql(request: Partial<SqlRequest> & { sql: string }): Promise<SqlResponse> {
    const full: SqlRequest = { params: {}, max_rows: 0, timeout_ms: 0, ...request };
    // With timeout_ms 0 the server's default applies, which the client does not
    // know; the default maximum bounds it.
    const deadlineMs = (full.timeout_ms || DEFAULT_SQL_MAX_TIMEOUT_MS) + DEADLINE_MARGIN_MS;
    return this.unary(method('rstscope.v1.Query', 'Sql'), full, deadlineMs);
  }

  /** The standard health check; service '' is the collector as a whole. */
  async check(
    service = '',
    deadlineMs = DEFAULT_HEALTH_DEADLINE_MS,
  ): Promise<HealthCheckResponse['status']> {
    const response = await this.unary<HealthCheckResponse>(
      this.checkMethod,
      { service } satisfies HealthCheckRequest,
      deadlineMs,
    );
    return response.status;
  }

  /** Health changes as the server reports them; cancel() the stream to stop. */
  watch(service = ''): ClientReadableStream<HealthCheckResponse> {
    const m = this.watchMethod;
    return this.client.makeServerStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize as (bytes: Buffer) => HealthCheckResponse,
      { service } satisfies HealthCheckRequest,
      this.metadata(),
    );
  }

  close(): void {
    this.client.close();
  }

  /** A unary rstscope.v1.Query call; the server bounds its own work by its SQL limits. */
  private call<Res>(name: string, request: unknown): Promise<Res> {
    return this.unary(method('rstscope.v1.Query', name), request, DEFAULT_RPC_DEADLINE_MS);
  }

  private metadata(): Metadata {
    const metadata = new Metadata();
    if (this.token !== undefined) metadata.set('authorization', `Bearer ${this.token}`);
    return metadata;
  }

  /** A unary call; a failure rejects with its one line (explain). */
  private unary<Res>(m: GrpcMethodDefinition, request: unknown, deadlineMs: number): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize as (bytes: Buffer) => Res,
        request,
        this.metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, response) => (err ? reject(this.explain(err, deadlineMs)) : resolve(response as Res)),
      );
    });
  }

  /** One line for a failed call. */
  private explain(err: unknown, deadlineMs: number, answered = false): QueryClientError {
    const e = err as ServiceError;
    const code = typeof e.code === 'number' ? e.code : GrpcStatus.UNKNOWN;
    const details = e.details || e.message || String(err);
    const detail = details.split('\n', 1)[0] ?? '';
    const fail = (message: string) => new QueryClientError(message, code, { cause: err });
    if (code === GrpcStatus.UNAVAILABLE) {
      const handshake = handshakeFailure(details, this.tls, this.address);
      if (handshake) return fail(handshake);
    }
    // A server that answered UNAVAILABLE was reached (its storage was not);
    // only a channel that never became READY means the collector is not there.
    const connected =
      answered || this.client.getChannel().getConnectivityState(false) === connectivityState.READY;
    if (!connected && (code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.DEADLINE_EXCEEDED)) {
      return fail(
        `cannot reach the collector at ${this.address} ` +
          '(is `rstscope collector` or `rstscope up` running? use --server HOST:PORT)',
      );
    }
    switch (code) {
      case GrpcStatus.INVALID_ARGUMENT:
        return fail(detail.startsWith('query refused') ? detail : `query refused: ${detail}`);
      case GrpcStatus.DEADLINE_EXCEEDED:
        // The server's own timeout names the limit it applied; otherwise our
        // deadline fired because no answer came at all.
        return fail(
          detail.startsWith('query timed out')
            ? `${detail} (narrow the query, or raise --timeout up to the server's maximum)`
            : `query timed out after ${formatMs(deadlineMs)}: the collector at ${this.address} did not answer`,
        );
      case GrpcStatus.RESOURCE_EXHAUSTED:
        return fail(`query too large: ${detail}`);
      case GrpcStatus.UNAVAILABLE:
        return fail(`the collector at ${this.address} is unavailable: ${detail}`);
      case GrpcStatus.UNAUTHENTICATED:
        return fail(
          detail === MISSING_TOKEN
            ? `the collector at ${this.address} requires a bearer token: pass --token-file FILE or set RSTSCOPE_TOKEN`
            : detail === WRONG_TOKEN
              ? `the collector at ${this.address} refused the bearer token: use the token in the collector's --token-file (check --token-file or RSTSCOPE_TOKEN)`
              : `the collector at ${this.address} refused the call: ${detail}`,
        );
      case GrpcStatus.UNIMPLEMENTED:
        return fail(
          `the server at ${this.address} does not serve this call ` +
            '(is it an rstscope collector of this version?)',
        );
      default:
        return fail(`the collector failed (${GrpcStatus[code] ?? code}): ${detail}`);
    }
  }
}

function method(service: string, name: string): GrpcMethodDefinition {
  const found = grpcServiceDefinition(service)[name];
  if (!found) throw new Error(`${service} has no method ${name}`);
  return found;
}
