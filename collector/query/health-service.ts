// The standard gRPC health protocol (grpc/grpc doc/health-checking.md) for the
// query service. The collector says whether it wants traffic (setServing); the
// storage says whether it answers. Both must hold for SERVING, because a
// collector whose ClickHouse is gone would only hand out UNAVAILABLE.
import { status as GrpcStatus } from '@grpc/grpc-js';
import type {
  sendUnaryData,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { grpcServiceDefinition } from '../../proto/index.js';
import type { HealthCheckRequest, HealthCheckResponse } from '../../proto/index.js';
import type { Storage } from '../storage/storage.js';

export type ServingStatus = HealthCheckResponse['status'];

export const QUERY_SERVICE_NAME = 'rstscope.v1.Query';
export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

/** A probe slower than this counts as "storage does not answer". */
export const DEFAULT_HEALTH_PROBE_TIMEOUT_MS = 2_000;
/** How often Watch re-asks the storage while anyone is watching. */
export const DEFAULT_HEALTH_PROBE_INTERVAL_MS = 5_000;

// "" is the server as a whole; it has one service, so both share one status.
const KNOWN_SERVICES = new Set(['', QUERY_SERVICE_NAME]);

export interface HealthOptions {
  probeTimeoutMs?: number;
  probeIntervalMs?: number;
}

export function healthServiceDefinition(): ServiceDefinition {
  return grpcServiceDefinition(HEALTH_SERVICE_NAME) as ServiceDefinition;
}

type WatchCall = ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;

interface Watcher {
  /** False for a service we do not know: it hears SERVICE_UNKNOWN once, then nothing. */
  known: boolean;
  /** The newest evaluation this watcher has heard, so a slow probe cannot overwrite a newer one. */
  seen: number;
  sent: ServingStatus | undefined;
}

export class HealthService {
  private wanted = true;
  private closed = false;
  private evaluations = 0;
  private readonly watchers = new Map<WatchCall, Watcher>();
  private timer: NodeJS.Timeout | undefined;
  private readonly probeTimeoutMs: number;
  private readonly probeIntervalMs: number;

  constructor(
    private readonly storage: Pick<Storage, 'query'>,
    options: HealthOptions = {},
  ) {
    this.probeTimeoutMs = options.probeTimeoutMs ?? DEFAULT_HEALTH_PROBE_TIMEOUT_MS;
    this.probeIntervalMs = options.probeIntervalMs ?? DEFAULT_HEALTH_PROBE_INTERVAL_MS;
  }

  /** The collector's own say: false while it starts, drains or shuts down. */
  setServing(serving: boolean): void {
    this.wanted = serving;
    void this.refresh();
  }

  /** SERVING when the collector wants traffic and the storage answers a probe. */
  async status(): Promise<ServingStatus> {
    if (this.closed || !this.wanted) return 'NOT_SERVING';
    const answers = await this.storageAnswers();
    // setServing(false) may have landed while the probe ran.
    return answers && this.wanted && !this.closed ? 'SERVING' : 'NOT_SERVING';
  }

  /** Ends every Watch stream; a server cannot drain while they stay open. */
  close(): void {
    this.closed = true;
    this.stopProbing();
    for (const [call, watcher] of this.watchers) {
      if (watcher.known && watcher.sent !== 'NOT_SERVING') call.write({ status: 'NOT_SERVING' });
      call.end();
    }
    this.watchers.clear();
  }

  implementation(): UntypedServiceImplementation {
    return {
      Check: (
        call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>,
        callback: sendUnaryData<HealthCheckResponse>,
      ) => {
        if (!KNOWN_SERVICES.has(call.request.service)) {
          callback({
            code: GrpcStatus.NOT_FOUND,
            details: `unknown service '${call.request.service}'`,
          });
          return;
        }
        this.status().then(
          (status) => callback(null, { status }),
          // status() does not throw; this only keeps a bug from hanging the call.
          () => callback(null, { status: 'NOT_SERVING' }),
        );
      },
      Watch: (call: WatchCall) => {
        if (this.closed) {
          call.write({ status: 'NOT_SERVING' });
          call.end();
          return;
        }
        // The protocol keeps a Watch on an unknown service open, since the
        // service may be registered later; clients rely on that.
        const known = KNOWN_SERVICES.has(call.request.service);
        this.watchers.set(call, { known, seen: 0, sent: undefined });
        const forget = () => this.forget(call);
        call.on('cancelled', forget);
        call.on('error', forget);
        if (!known) {
          call.write({ status: 'SERVICE_UNKNOWN' });
          return;
        }
        if (!this.timer) {
          this.timer = setInterval(() => void this.refresh(), this.probeIntervalMs);
          this.timer.unref();
        }
        void this.refresh();
      },
    };
  }

  private forget(call: WatchCall): void {
    this.watchers.delete(call);
    if (![...this.watchers.values()].some((watcher) => watcher.known)) this.stopProbing();
  }

  private stopProbing(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Evaluates the status and tells each watcher that has not heard it yet. */
  private async refresh(): Promise<void> {
    const evaluation = ++this.evaluations;
    const status = await this.status();
    if (this.closed) return;
    for (const [call, watcher] of this.watchers) {
      if (!watcher.known || watcher.seen > evaluation) continue;
      watcher.seen = evaluation;
      if (watcher.sent === status) continue;
      watcher.sent = status;
      call.write({ status });
    }
  }

  private async storageAnswers(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.probeTimeoutMs);
    });
    const probe = this.storage.query('SELECT 1').then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([probe, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
