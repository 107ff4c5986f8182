// Watches, subscriptions and child processes change state on their own time,
// with nothing a test can await: poll, and when it never comes, say what was awaited.

/** Resolves once check() holds; past timeoutMs, rejects naming `what`. */
export async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
