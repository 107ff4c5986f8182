// One batch of wire events through the real ingester into storage, as the
// collector's intake would hand it over, with no NATS in between.
import { pino } from 'pino';
import { Ingester } from '../../collector/ingest/ingester.js';
import type { InboundMessage } from '../../collector/ingest/ingester.js';
import type { NameFlowEnds } from '../../collector/k8s/index.js';
import type { Storage } from '../../collector/storage/storage.js';
import { resetBatchCodec } from '../../proto/index.js';
import type { WireResetEvent } from '../../proto/index.js';
import { resetsSubject } from '../../proto/nats-topology.js';

export async function ingestBatch(
  storage: Storage,
  host: string,
  seq: number,
  events: WireResetEvent[],
  nameEnds?: NameFlowEnds,
): Promise<void> {
  const message: InboundMessage = {
    streamSeq: seq,
    subject: resetsSubject(host),
    data: resetBatchCodec.encode({ host, boot_id: 'boot', run_id: '1', seq: String(seq), events }),
    redelivered: false,
    ack: () => {},
    nak: () => {
      throw new Error('the insert failed');
    },
    working: () => {},
  };
  const ingester = new Ingester(
    storage,
    { put: () => Promise.reject(new Error('nothing should be refused')) },
    { maxRows: 1000, maxDelayMs: 50, workingEveryMs: 1000 },
    1 << 20,
    pino({ level: 'silent' }),
    nameEnds,
  );
  await ingester.add(message);
  await ingester.close();
}
