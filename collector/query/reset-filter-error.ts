/** A bad filter field; the message names it and the form it takes. */
export class ResetFilterError extends Error {
  override name = 'ResetFilterError';
}
