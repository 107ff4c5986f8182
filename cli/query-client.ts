// A thin client of the collector's query service for the CLI's query verbs.
// Every failure becomes a QueryClientError whose message is one line that says
// what went wrong and what to do about it.
import {
  Client,
  credentials as grpcCredentials,
  connectivityState,
  Metadata,
  status as GrpcStatus,
} from '@grpc/grpc-js';
import type { ChannelCredentials, ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { DEFAULT_SQL_MAX_TIMEOUT_MS } from '../collector/query/query-limits.js';
import { grpcServiceDefinition } from '../proto/index.js';
import type {
  HealthCheckRequest,
  HealthCheckResponse,
  SqlRequest,
  SqlResponse,
} from '../proto/index.js';
import type { GrpcMethodDefinition } from '../proto/index.js';

// A query may return up to the server's row maximum; grpc-js refuses replies
// over 4 MiB by default, far below 100 000 wide rows.
const MAX_RESPONSE_BYTES = 512 * 1024 * 1024;
// The server's own timeout should answer first, with its reason; the client's
// deadline only catches a server that never answers.
const DEADLINE_MARGIN_MS = 5_000;
export const DEFAULT_HEALTH_DEADLINE_MS = 5_000;

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

export interface QueryClientOptions {
  /** Default: insecure. */
  credentials?: ChannelCredentials;
}

export class QueryClient {
  private readonly client: Client;
  private readonly sqlMethod = method('rstscope.v1.Query', 'Sql');
  private readonly checkMethod = method('grpc.health.v1.Health', 'Check');
  private readonly watchMethod = method('grpc.health.v1.Health', 'Watch');

  constructor(
    readonly address: string,
    options: QueryClientOptions = {},
  ) {
    this.client = new Client(address, options.credentials ?? grpcCredentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_RESPONSE_BYTES,
    });
  }

  /** One read-only SQL query; timeoutMs 0 takes the server's default. */
  sql(request: Partial<SqlRequest> & { sql: string }): Promise<SqlResponse> {
    const full: SqlRequest = { params: {}, max_rows: 0, timeout_ms: 0, ...request };
    // With timeout_ms 0 the server's default applies, which the client does not
    // know; the default maximum bounds it.
    const deadlineMs = (full.timeout_ms || DEFAULT_SQL_MAX_TIMEOUT_MS) + DEADLINE_MARGIN_MS;
    return this.unary<SqlRequest, SqlResponse>(this.sqlMethod, full, deadlineMs).catch(
      (err: unknown) => {
        throw this.explain(err, deadlineMs);
      },
    );
  }

  /** The standard health check; service '' is the collector as a whole. */
  async check(
    service = '',
    deadlineMs = DEFAULT_HEALTH_DEADLINE_MS,
  ): Promise<HealthCheckResponse['status']> {
    try {
      const response = await this.unary<HealthCheckRequest, HealthCheckResponse>(
        this.checkMethod,
        { service },
        deadlineMs,
      );
      return response.status;
    } catch (err) {
      throw this.explain(err, deadlineMs);
    }
  }

  /** Health changes as the server reports them; cancel() the stream to stop. */
  watch(service = ''): ClientReadableStream<HealthCheckResponse> {
    const m = this.watchMethod;
    return this.client.makeServerStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize as (bytes: Buffer) => HealthCheckResponse,
      { service } satisfies HealthCheckRequest,
    );
  }

  close(): void {
    this.client.close();
  }

  private unary<Req, Res>(m: GrpcMethodDefinition, request: Req, deadlineMs: number): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize as (bytes: Buffer) => Res,
        request,
        new Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, response) => (err ? reject(err) : resolve(response as Res)),
      );
    });
  }

  /** One line for a failed call. */
  private explain(err: unknown, deadlineMs: number): QueryClientError {
    const e = err as ServiceError;
    const code = typeof e.code === 'number' ? e.code : GrpcStatus.UNKNOWN;
    const detail = (e.details || e.message || String(err)).split('\n', 1)[0] ?? '';
    const fail = (message: string) => new QueryClientError(message, code, { cause: err });
    // A server that answered UNAVAILABLE was reached (its storage was not);
    // only a channel that never became READY means the collector is not there.
    const connected =
      this.client.getChannel().getConnectivityState(false) === connectivityState.READY;
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

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
