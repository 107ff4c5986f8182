// How both readers word an event's refusal: a value taken from the message
// quoted, escaped and cut short, so a bad event gives one line of log and of
// dead-letter header whatever bytes it carries; the timestamps ClickHouse's
// DateTime64(9) column cannot hold, by the same words.
const SHOWN_CHARS = 40;

export function shownValue(value: string | null | undefined): string {
  if (value === null || value === undefined) return 'unset';
  const cut = value.length > SHOWN_CHARS ? `${value.slice(0, SHOWN_CHARS)}…` : value;
  return JSON.stringify(cut);
}

export const TIMESTAMP_TOO_EARLY = "timestamp before 2001: is the sending host's clock set?";
export const TIMESTAMP_TOO_LATE = 'timestamp after 2262, past what DateTime64(9) holds';
