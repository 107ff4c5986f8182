// The bearer token shared by the collector and the CLI: from a file (a
// Kubernetes secret mounted as a file) or the environment, never from a flag,
// where `ps` would show it to every user of the host.
import { readFileSync } from 'node:fs';

export const TOKEN_ENV = 'RSTSCOPE_TOKEN';

export class TokenError extends Error {
  override name = 'TokenError';
}

// Printable ASCII without spaces: what fits an HTTP/2 header value after
// "Bearer " and what people can paste.
const TOKEN_FORM = /^[\x21-\x7e]+$/;

/** The token in `file`; a trailing newline (as `echo` writes one) is not part of it. */
export function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
    throw new TokenError(`--token-file ${file}: cannot read it (${why ?? String(err)})`, {
      cause: err,
    });
  }
  return checkToken(text.replace(/\r?\n$/, ''), `--token-file ${file}`);
}

/** `token` if it can be sent as a bearer token; `source` names where it came from. */
export function checkToken(token: string, source: string): string {
  if (token === '') throw new TokenError(`${source}: the token is empty`);
  if (!TOKEN_FORM.test(token)) {
    throw new TokenError(
      `${source}: the token must be printable ASCII without spaces (e.g. openssl rand -hex 32)`,
    );
  }
  return token;
}
