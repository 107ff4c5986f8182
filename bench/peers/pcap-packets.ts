// Packets in a classic pcap file (what tcpdump -w writes): a 24-byte file header,
// then per packet a 16-byte record header whose third word is the captured length.
import { readFileSync } from 'node:fs';

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;

export function pcapPackets(path: string): number {
  const buf = readFileSync(path);
  if (buf.length < 24) return 0;
  const magicLe = buf.readUInt32LE(0);
  const little = magicLe === MAGIC_US || magicLe === MAGIC_NS;
  const magicBe = buf.readUInt32BE(0);
  if (!little && magicBe !== MAGIC_US && magicBe !== MAGIC_NS) {
    throw new Error(`${path} is not a pcap file (magic 0x${magicLe.toString(16)})`);
  }
  let packets = 0;
  // A record cut short (tcpdump killed mid-write) is not a packet.
  for (let at = 24; at + 16 <= buf.length; packets++) {
    const captured = little ? buf.readUInt32LE(at + 8) : buf.readUInt32BE(at + 8);
    if (at + 16 + captured > buf.length) break;
    at += 16 + captured;
  }
  return packets;
}
