// Topology used when no config file is given: one loopback NVMe/TCP listener
// exporting a single 1 GiB NVM namespace to any host. Written in the file
// (input) form so it goes through exactly the same validation as a user file.
import type { TopologyInput } from './topology.js';

export const DEFAULT_SUBSYSTEM_NQN = 'nqn.2024-01.io.nvmf-emu:default';

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export const DEFAULT_TOPOLOGY: TopologyInput = deepFreeze({
  hosts: [],
  ports: [
    {
      portid: 1,
      addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: '4420', treq: 'not specified' },
      param: { inline_data_size: 8192 },
      subsystems: [DEFAULT_SUBSYSTEM_NQN],
      referrals: [],
    },
  ],
  subsystems: [
    {
      nqn: DEFAULT_SUBSYSTEM_NQN,
      attr: { allow_any_host: true, serial: 'NVMFEMU0001', model: 'nvmf-emu' },
      allowed_hosts: [],
      namespaces: [{ nsid: 1, enable: true, device: {}, emulation: { type: 'nvm', capacity: '1GiB' } }],
    },
  ],
});
