// The decoder's layout against the compiled object: every offset and size of
// struct rst_event and struct rst_count_key as the BTF in build/rstscope.bpf.o
// records them. A field added to bpf/rstscope.h without the decoder fails here.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIELD_SIZE, RST_EVENT_LAYOUT, RST_EVENT_SIZE } from '../agent/event-layout.js';
import { repoRoot } from '../agent/repo-root.js';

interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: { name: string; type_id: number; bits_offset: number }[];
}

const OBJECT = join(repoRoot(), 'build', 'rstscope.bpf.o');
const types = new Map<number, BtfType>();
for (const t of (
  JSON.parse(
    execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', OBJECT], { encoding: 'utf8' }),
  ) as {
    types: BtfType[];
  }
).types) {
  types.set(t.id, t);
}

function sizeOf(id: number): number {
  const t = types.get(id)!;
  switch (t.kind) {
    case 'INT':
    case 'STRUCT':
    case 'UNION':
    case 'ENUM':
      return t.size!;
    case 'ARRAY':
      return t.nr_elems! * sizeOf(t.type_id!);
    case 'TYPEDEF':
    case 'CONST':
    case 'VOLATILE':
      return sizeOf(t.type_id!);
    default:
      throw new Error(`unexpected BTF kind ${t.kind}`);
  }
}

function structLayout(name: string) {
  const s = [...types.values()].find((t) => t.kind === 'STRUCT' && t.name === name);
  if (!s) throw new Error(`struct ${name} is not in ${OBJECT}`);
  return {
    size: s.size!,
    fields: Object.fromEntries(
      s.members!.map((m) => [m.name, { offset: m.bits_offset / 8, size: sizeOf(m.type_id) }]),
    ),
  };
}

describe('struct rst_event: decoder and compiled object agree', () => {
  const btf = structLayout('rst_event');

  it('has the same size', () => {
    expect(RST_EVENT_SIZE).toBe(btf.size);
  });

  it('has every field at the same offset with the same size', () => {
    const decoder = Object.fromEntries(
      Object.entries(RST_EVENT_LAYOUT).map(([name, f]) => [
        name,
        { offset: f.offset, size: FIELD_SIZE[f.kind] },
      ]),
    );
    // Explicit padding (__pad*, none at present) is in the struct but not decoded.
    const kernel = Object.fromEntries(
      Object.entries(btf.fields).filter(([name]) => !name.startsWith('__pad')),
    );
    expect(decoder).toEqual(kernel);
  });

  it('has no implicit padding: the members tile the struct', () => {
    let end = 0;
    for (const f of Object.values(btf.fields).sort((a, b) => a.offset - b.offset)) {
      expect(f.offset).toBe(end);
      end += f.size;
    }
    expect(end).toBe(btf.size);
  });

  it('struct rst_count_key matches the counters frame', () => {
    expect(structLayout('rst_count_key')).toEqual({
      size: 8,
      fields: {
        netns: { offset: 0, size: 4 },
        reason: { offset: 4, size: 2 },
        direction: { offset: 6, size: 1 },
        accepted: { offset: 7, size: 1 },
      },
    });
  });

  // The loader copies these into the counters frame's aggregate entries
  // (struct aggregate_entry: the value, then the key); parseCounters reads them there.
  it('struct rst_agg and rst_agg_key match the aggregate entries', () => {
    expect(structLayout('rst_agg')).toEqual({
      size: 24,
      fields: {
        first_ns: { offset: 0, size: 8 },
        last_ns: { offset: 8, size: 8 },
        resets: { offset: 16, size: 8 },
      },
    });
    expect(structLayout('rst_agg_key')).toEqual({
      size: 28,
      fields: {
        remote_net: { offset: 0, size: 16 },
        netns: { offset: 16, size: 4 },
        reason: { offset: 20, size: 2 },
        remote_port: { offset: 22, size: 2 },
        family: { offset: 24, size: 2 },
        direction: { offset: 26, size: 1 },
        merged: { offset: 27, size: 1 },
      },
    });
  });
});
