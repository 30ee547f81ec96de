// Discovery: connect to the well-known discovery NQN and read the discovery log page (70h) the
// way libnvme does: header, then all entries in one transfer (split only by MDTS), then the
// header again; retry when the generation counter moved in between.
import { DISCOVERY_NQN, LogPage } from '../protocol/constants.js';
import {
  decodeDiscoveryEntries,
  decodeDiscoveryLogHeader,
  DISC_ENTRY_SIZE,
  DISC_HDR_SIZE,
  type DiscoveryLogEntry,
} from '../protocol/host-codecs.js';
import { NvmeHost, type NvmeHostOptions } from './host.js';

export interface DiscoverOptions {
  host: string;
  port: number;
  hostnqn?: string;
  hostid?: Buffer | string;
  hdgst?: boolean;
  ddgst?: boolean;
  connectTimeoutMs?: number;
  /** Attempts when the log changes while being read (default 10, as libnvme). */
  maxRetries?: number;
}

export interface DiscoveryResult {
  genctr: bigint;
  recfmt: number;
  entries: DiscoveryLogEntry[];
}

/** Read the whole discovery log from an already connected discovery controller. */
export async function readDiscoveryLog(host: NvmeHost, maxRetries = 10): Promise<DiscoveryResult> {
  const chunk = host.controllerInfo?.mdtsBytes || 0;
  let hdr = decodeDiscoveryLogHeader(await host.getLogPage(LogPage.Discovery, DISC_HDR_SIZE, { rae: true }));
  for (let attempt = 0; ; attempt++) {
    const numrec = Number(hdr.numrec);
    if (numrec === 0) return { genctr: hdr.genctr, recfmt: hdr.recfmt, entries: [] };
    const total = numrec * DISC_ENTRY_SIZE;
    const parts: Buffer[] = [];
    for (let off = 0; off < total; ) {
      const len = chunk > 0 ? Math.min(chunk, total - off) : total - off;
      parts.push(await host.getLogPage(LogPage.Discovery, len, { offset: DISC_HDR_SIZE + off, rae: true }));
      off += len;
    }
    const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const again = decodeDiscoveryLogHeader(await host.getLogPage(LogPage.Discovery, DISC_HDR_SIZE, { rae: false }));
    if (again.genctr === hdr.genctr && again.numrec === hdr.numrec) {
      return { genctr: hdr.genctr, recfmt: hdr.recfmt, entries: decodeDiscoveryEntries(body, numrec) };
    }
    if (attempt + 1 >= maxRetries) throw new Error(`discovery log kept changing (genctr ${hdr.genctr} -> ${again.genctr}) after ${maxRetries} attempts`);
    hdr = again;
  }
}

/** Connect to the discovery controller at host:port, read its log, disconnect. */
export async function discover(opts: DiscoverOptions): Promise<DiscoveryResult> {
  const hopts: NvmeHostOptions = {
    host: opts.host,
    port: opts.port,
    subnqn: DISCOVERY_NQN,
    kato: 0,
    ioQueues: 0,
    hdgst: opts.hdgst,
    ddgst: opts.ddgst,
    connectTimeoutMs: opts.connectTimeoutMs,
  };
  if (opts.hostnqn !== undefined) hopts.hostnqn = opts.hostnqn;
  if (opts.hostid !== undefined) hopts.hostid = opts.hostid;
  const host = await NvmeHost.connect(hopts);
  try {
    return await readDiscoveryLog(host, opts.maxRetries ?? 10);
  } finally {
    await host.disconnect();
  }
}
