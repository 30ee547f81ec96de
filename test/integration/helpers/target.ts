// Start the real daemon on ephemeral ports for a test file, and bring controllers up over the
// raw client (Connect, CC.EN, I/O queue Connects).
import { validateTopology, type TopologyInput } from '../../../src/config/topology.js';
import { startDaemon, type Daemon } from '../../../src/daemon.js';
import { RawClient, type RawClientOptions } from './raw-client.js';

export interface TestTarget {
  daemon: Daemon;
  /** Bound TCP port by portid. */
  port: (portid?: number) => number;
  stop: () => Promise<void>;
}

/**
 * Validate `input` as a user file would be, then switch every port to an ephemeral TCP port
 * (the validator only accepts 1..65535; the listener accepts 0 after validation).
 */
export async function startTarget(input: TopologyInput): Promise<TestTarget> {
  const topology = validateTopology(input);
  for (const p of topology.ports) p.addr.trsvcid = 0;
  const daemon = await startDaemon({ topology });
  return {
    daemon,
    port: (portid?: number) => {
      const l = portid === undefined ? daemon.listeners[0] : daemon.listeners.find((x) => x.portid === portid);
      if (!l) throw new Error(`no listener for portid ${portid}`);
      return l.port;
    },
    stop: () => daemon.stop(),
  };
}

export interface RawController {
  admin: RawClient;
  io: RawClient[];
  cntlid: number;
  close: () => Promise<void>;
}

/** Admin Connect + CC.EN (+ Set Features Number of Queues and I/O queue Connects). */
export async function openController(
  port: number,
  o: { subnqn: string; hostnqn: string; kato?: number; ioQueues?: number; enable?: boolean } & RawClientOptions,
): Promise<RawController> {
  const admin = await RawClient.connect(port, o);
  const c = await admin.connect({ subnqn: o.subnqn, hostnqn: o.hostnqn, kato: o.kato ?? 0 });
  if (c.status !== 0) throw new Error(`admin Connect failed: status 0x${c.status.toString(16)}`);
  const cntlid = c.dw0 & 0xffff;
  const io: RawClient[] = [];
  const ctl: RawController = { admin, io, cntlid, close: async () => void (await Promise.all([admin.close(), ...io.map((q) => q.close())])) };
  if (o.enable === false) return ctl;
  const en = await admin.enable();
  if (en.status !== 0) throw new Error('CC.EN failed');
  const n = o.ioQueues ?? 0;
  if (n > 0) {
    const nq = await admin.setFeatures(0x07, ((n - 1) | ((n - 1) << 16)) >>> 0);
    if (nq.status !== 0) throw new Error('Set Features Number of Queues failed');
    for (let qid = 1; qid <= n; qid++) {
      const q = await RawClient.connect(port, o);
      const r = await q.connect({ subnqn: o.subnqn, hostnqn: o.hostnqn, qid, sqsize: 127, cntlid });
      if (r.status !== 0) throw new Error(`I/O Connect qid ${qid} failed: status 0x${r.status.toString(16)}`);
      io.push(q);
    }
  }
  return ctl;
}

export { pattern } from '../../helpers/pattern.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
