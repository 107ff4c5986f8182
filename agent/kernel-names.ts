// Names for the kernel's numbers. TCP states and flags are a stable ABI; the
// reset and drop reason enums are renumbered between releases, so their names
// come from the running kernel's BTF (the loader's hello frame).

const TCP_STATES = [
  'UNKNOWN',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
  'BOUND_INACTIVE',
] as const;

export function tcpStateName(state: number): string {
  return TCP_STATES[state] ?? `STATE_${state}`;
}

const TCP_FLAGS: ReadonlyArray<[number, string]> = [
  [0x02, 'SYN'],
  [0x10, 'ACK'],
  [0x01, 'FIN'],
  [0x04, 'RST'],
  [0x08, 'PSH'],
  [0x20, 'URG'],
  [0x40, 'ECE'],
  [0x80, 'CWR'],
];

/** Every flags byte's name, made once: the decoder names one per NO_SOCKET reset. */
const FLAG_NAMES = Array.from({ length: 256 }, (_, flags) =>
  TCP_FLAGS.filter(([bit]) => flags & bit)
    .map(([, name]) => name)
    .join('|'),
);

/** "SYN", "SYN|ACK", ... in the order people read them. */
export function tcpFlagsName(flags: number): string {
  return FLAG_NAMES[flags & 0xff]!;
}

/** Numbers to names of one kernel enum, as the loader read them from BTF. */
export type EnumNames = Readonly<Record<string, string>>;

export function enumName(names: EnumNames, value: number): string {
  return names[String(value)] ?? `UNKNOWN_${value}`;
}
