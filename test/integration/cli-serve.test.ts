// `nvmf-emu serve` takes every setting as a flag (README's settings table): a daemon started with
// them answers accordingly.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NvmeHost } from '../../src/initiator/index.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { freePort } from '../helpers/net.js';

const dir = mkdtempSync(join(tmpdir(), 'nvmf-emu-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


describe('nvmf-emu serve flags', () => {
  it('accepts the token, metrics and limits flags', async () => {
    const [port, http] = [await freePort(), await freePort()];
    const nqn = 'nqn.2024-01.io.nvmf-emu:cli';
    const cfg = join(dir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({
      ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: port }, subsystems: [nqn] }],
      subsystems: [{ nqn, attr: { allow_any_host: 1 }, namespaces: [{ nsid: 1, emulation: { type: 'nvm', capacity: '4MiB' } }] }],
    }));
    const p = await spawnDaemon(['--config', cfg, '--http-port', String(http), '--http-token', 'tok', '--metrics-enabled', 'false',
      '--max-connections', '8', '--max-controllers', '2', '--max-queue-size', '32', '--max-memory', '1MiB', '--log-level', 'warn']);
    try {
      expect((await fetch(`http://127.0.0.1:${http}/metrics`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${http}/api/v1/config`)).status).toBe(401);
      expect((await fetch(`http://127.0.0.1:${http}/api/v1/config`, { headers: { authorization: 'Bearer tok' } })).status).toBe(200);
      const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: nqn });
      expect(h.cap!.mqes).toBe(31);
      await h.disconnect();
    } finally {
      p.proc.kill('SIGTERM');
      await p.exited;
    }
  });
});
