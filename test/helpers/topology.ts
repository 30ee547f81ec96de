// The topology most integration tests need: one subsystem exported on one loopback port.
import { validateTopology, type Topology, type TopologyInput } from '../../src/config/topology.js';

type SubsystemInput = NonNullable<TopologyInput['subsystems']>[number];

/**
 * Validated as a user's file would be, then the port switched to an ephemeral one (the validator
 * only takes 1..65535; the listener takes 0).
 */
export function loopbackTopology(nqn: string, namespaces: SubsystemInput['namespaces'], attr: SubsystemInput['attr'] = { allow_any_host: 1 }): Topology {
  const t = validateTopology({
    hosts: [],
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [nqn] }],
    subsystems: [{ nqn, attr, namespaces }],
  });
  t.ports[0]!.addr.trsvcid = 0;
  return t;
}
