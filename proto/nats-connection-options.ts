// NatsAuth as nats.js connect options, and NATS's refusals in words that say
// which flag to fix. Every rstscope NATS connection goes through here.
import {
  AuthorizationError,
  PermissionViolationError,
  nkeyAuthenticator,
  usernamePasswordAuthenticator,
} from '@nats-io/transport-node';
import type { ConnectionOptions } from '@nats-io/transport-node';
import type { NatsAuth } from './nats-auth-options.js';

/** TLS, authenticator and inbox prefix for connect(); the caller adds servers, name, retries. */
export function natsConnectionOptions(
  auth: NatsAuth | undefined,
  inboxPrefix: string,
): Partial<ConnectionOptions> {
  const options: Partial<ConnectionOptions> = { inboxPrefix };
  if (auth?.tls) {
    const { caFile, certFile, keyFile } = auth.tls;
    options.tls = {
      ...(caFile !== undefined && { caFile }),
      ...(certFile !== undefined && { certFile }),
      ...(keyFile !== undefined && { keyFile }),
    };
  }
  if (auth?.nkeySeed) options.authenticator = nkeyAuthenticator(auth.nkeySeed);
  else if (auth?.user) {
    options.authenticator = usernamePasswordAuthenticator(auth.user.name, auth.user.password);
  }
  return options;
}

/** NATS's refusal of a publish or subscription for this user's permissions, if that is what failed. */
export function permissionViolation(error: unknown): PermissionViolationError | undefined {
  return causes(error).find((e) => e instanceof PermissionViolationError);
}

export function isPermissionViolation(error: unknown): boolean {
  return permissionViolation(error) !== undefined;
}

/**
 * Why a connection failed, with the flag that fixes it when the cause is ours
 * (credentials, TLS); otherwise the client's own message.
 */
export function describeNatsFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const chain = causes(error);
  if (
    chain.some((e) => e instanceof AuthorizationError) ||
    /authorization violation/i.test(message)
  ) {
    return `NATS refused these credentials (${message}): check --nats-nkey or --nats-user against the server's authorization block`;
  }
  if (
    /self[- ]signed|unable to (verify|get local issuer)|certificate (has expired|is not yet valid)|hostname\/ip does not match|altnames/i.test(
      message,
    )
  ) {
    return `the NATS server's certificate is not trusted (${message}): give the CA that issued it with --nats-ca`;
  }
  if (/certificate required|handshake failure|unknown ca|bad certificate/i.test(message)) {
    return `the NATS server refused the TLS handshake (${message}): it wants a client certificate its CA issued (--nats-cert, --nats-key)`;
  }
  if (/tls.*(not available|required)|secure connection/i.test(message)) {
    return `TLS mismatch with the NATS server (${message}): give --nats-ca when the server requires TLS, none when it has no TLS`;
  }
  return message;
}

function causes(error: unknown): Error[] {
  const chain: Error[] = [];
  for (let e = error; e instanceof Error && chain.length < 8; e = e.cause) chain.push(e);
  return chain;
}
