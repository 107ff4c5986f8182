// One HTTP request to the API server over node:http(s), answered with the
// response stream on 200 and with the matching error class otherwise.
import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeConfig } from './kube-config.js';
import {
  KubeApiError,
  KubeForbiddenError,
  KubeGoneError,
  KubeUnauthorizedError,
  KubeUnreachableError,
  KubeWatchStalledError,
} from './kube-errors.js';
import type { KubeResource } from './kube-resource.js';
import { rbacName, resourcePath } from './kube-resource.js';
import type { KubeStatus } from './kube-types.js';

export interface KubeRequest {
  /** The RBAC verb this request needs: named when the API refuses it. */
  verb: 'get' | 'list' | 'watch';
  resource: KubeResource;
  namespace?: string;
  name?: string;
  query?: Record<string, string | undefined>;
  signal?: AbortSignal;
  /** Socket silence after which the request is given up. */
  idleTimeoutMs: number;
}

// A Status body is a few hundred bytes; anything past this is not worth reading.
const MAX_ERROR_BODY = 64 * 1024;

/** The response of a request the API accepted (200); any other status throws. */
export function openKubeRequest(config: KubeConfig, req: KubeRequest): Promise<IncomingMessage> {
  const url = new URL(resourcePath(req.resource, req.namespace, req.name), config.server);
  for (const [key, value] of Object.entries(req.query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, value);
  }
  const token = config.token.current();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let response: IncomingMessage | undefined;
    const outgoing = send(url, {
      method: 'GET',
      headers,
      signal: req.signal,
      ...(url.protocol === 'https:' && config.ca ? { ca: config.ca } : {}),
    });
    outgoing.setTimeout(req.idleTimeoutMs, () => {
      const seconds = Math.round(req.idleTimeoutMs / 1000);
      const err =
        req.verb === 'watch' && response
          ? new KubeWatchStalledError(
              `watch ${rbacName(req.resource)} at ${config.server.origin}: nothing received for ${seconds} s`,
            )
          : new KubeUnreachableError(
              `no answer from the Kubernetes API at ${config.server.origin} in ${seconds} s (${req.verb} ${rbacName(req.resource)})`,
            );
      if (response) response.destroy(err);
      else outgoing.destroy(err);
    });
    outgoing.once('error', (err) => {
      if (err instanceof KubeUnreachableError || err.name === 'AbortError') reject(err);
      else reject(unreachable(config, err));
    });
    outgoing.once('response', (res) => {
      response = res;
      if (res.statusCode === 200) {
        resolve(res);
        return;
      }
      readBody(res).then(
        (body) => reject(statusError(config, req, res.statusCode ?? 0, parseStatus(body))),
        (err: unknown) => reject(unreachable(config, err)),
      );
    });
    outgoing.end();
  });
}

/** The error for a failure status, also used for a watch's ERROR event. */
export function statusError(
  config: KubeConfig,
  req: Pick<KubeRequest, 'verb' | 'resource' | 'namespace'>,
  code: number,
  status: Partial<KubeStatus>,
): KubeApiError {
  const what = `${req.verb} ${rbacName(req.resource)}`;
  const said = status.message ? ` (the API said: ${status.message})` : '';
  if (code === 401) {
    return new KubeUnauthorizedError(
      `the Kubernetes API at ${config.server.origin} refused the token (401 Unauthorized) on ${what}: check the service account token is mounted and current`,
      code,
    );
  }
  if (code === 403) {
    const scope = req.namespace ? `in namespace ${req.namespace}` : 'at cluster scope';
    return new KubeForbiddenError(
      `RBAC forbids ${what} ${scope}: grant verb "${req.verb}" on "${rbacName(req.resource)}" to the service account's ClusterRole${said}`,
      code,
    );
  }
  if (code === 410) {
    return new KubeGoneError(
      `${what}: the resourceVersion is too old (410 Gone), the list must be read again${said}`,
      code,
    );
  }
  const reason = status.reason ? ` ${status.reason}` : '';
  return new KubeApiError(`${what} at ${config.server.origin}: ${code}${reason}${said}`, code);
}

function unreachable(config: KubeConfig, err: unknown): KubeUnreachableError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ECONNREFUSED'
      ? 'connection refused'
      : code && /CERT|SIGNATURE|SELF_SIGNED|ISSUER/.test(code)
        ? `its certificate does not verify against the cluster CA given (${code})`
        : (code ?? (err as Error).message);
  return new KubeUnreachableError(
    `cannot reach the Kubernetes API at ${config.server.origin}: ${why}`,
    { cause: err },
  );
}

function parseStatus(body: string): Partial<KubeStatus> {
  try {
    const parsed = JSON.parse(body) as Partial<KubeStatus>;
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    // A proxy in front of the API may answer in HTML; the status code still tells.
    return {};
  }
}

async function readBody(res: IncomingMessage): Promise<string> {
  let body = '';
  res.setEncoding('utf8');
  for await (const chunk of res as AsyncIterable<string>) {
    body += chunk;
    if (body.length > MAX_ERROR_BODY) {
      res.destroy();
      break;
    }
  }
  return body;
}
