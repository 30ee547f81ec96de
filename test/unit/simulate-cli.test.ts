import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { formatReport, plotSvg, registerSimulateCommand, simulate, simulationEmulation, type SimulateOptions } from '../../src/cli/simulate.js';

const dir = mkdtempSync(join(tmpdir(), 'nvmf-emu-sim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = (o: Partial<SimulateOptions>): SimulateOptions => ({
  set: [],
  rw: 'randread',
  rwmixread: '50',
  bs: '4KiB',
  iodepth: '1',
  numjobs: '1',
  seed: '1',
  ...o,
});
const noWall = (r: { wall_s: number }) => ({ ...r, wall_s: 0 });

describe('nvmf-emu simulate', () => {
  it('is deterministic: same seed, same report; another seed, another one', () => {
    const o = opts({ preset: 'samsung-970pro', capacity: '256MiB', rw: 'randrw', iodepth: '8', runtime: '0.05', precondition: 'fill' });
    const a = simulate(o).report;
    const b = simulate(o).report;
    expect(noWall(a)).toEqual(noWall(b));
    const c = simulate({ ...o, seed: '2' }).report;
    expect(c.result.latency_us).not.toEqual(a.result.latency_us);
  });

  it('runs steady-state preconditioning (GC) and reports WAF, GC runs and erases', () => {
    const run = simulate(opts({ preset: 'samsung-970pro', capacity: '128MiB', rw: 'randwrite', iodepth: '16', runtime: '0.2', precondition: true }));
    const r = run.report;
    expect(r.precondition.map((p) => p.phase)).toEqual(['fill', 'random overwrite until GC']);
    expect(r.precondition[1]!.gc_runs).toBeGreaterThan(0);
    expect(r.result.gc_runs).toBeGreaterThan(0);
    expect(r.result.erases).toBeGreaterThan(0);
    expect(r.result.waf).toBeGreaterThan(1.5);
    const text = formatReport(r);
    expect(text).toMatch(/IOPS [\d.]+K? +bandwidth [\d.]+ MB\/s/);
    expect(text).toMatch(/latency µs: mean [\d.]+ +p50 [\d.]+ +p99 [\d.]+ +p99\.9 [\d.]+ +max [\d.]+/);
    expect(text).toMatch(/WAF [\d.]+ \(this run\).*GC runs \d+.*erases \d+/);
    const svg = plotSvg(run);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('Latency CDF');
    expect(svg).toContain('Write amplification over time');
    expect(svg.match(/<polyline/g)!.length).toBeGreaterThanOrEqual(3);
  });

  it('a 1-second virtual run at ~500K IOPS takes a few wall seconds at most', () => {
    const r = simulate(opts({ preset: 'samsung-970pro', capacity: '4GiB', rw: 'randwrite', iodepth: '32', runtime: '1' })).report;
    expect(r.result.iops).toBeGreaterThan(450_000);
    expect(r.wall_s).toBeLessThan(10); // ~1 s here; generous for slow CI machines
  });

  it('takes the emulation block of a namespace from a topology file, with --set overrides', () => {
    const file = join(dir, 'topo.json');
    writeFileSync(
      file,
      JSON.stringify({
        subsystems: [
          {
            nqn: 'nqn.2024-01.io.example:a',
            namespaces: [
              { nsid: 1, emulation: { type: 'nvm', capacity: '1GiB', read_latency_ns: 10_000 } },
              { nsid: 2, emulation: { type: 'conv', preset: 'samsung-970pro', capacity: '1GiB', gc_policy: 'cost-benefit' } },
            ],
          },
        ],
      }),
    );
    expect(simulationEmulation({ set: [], config: file, nsid: '1' })).toMatchObject({ type: 'nvm', read_latency_ns: 10_000 });
    const e = simulationEmulation({ set: ['write_buffer_size=2MiB', 'read_4k_latency_ns=[1,2]'], config: file, nsid: '2', capacity: '2GiB' });
    expect(e).toMatchObject({ type: 'conv', preset: 'samsung-970pro', capacity: 2 * 1024 ** 3, gc_policy: 'cost-benefit', write_buffer_size: 2 * 1024 ** 2, read_4k_latency_ns: [1, 2] });
    const r = simulate(opts({ config: file, nsid: '1', runtime: '0.01' })).report;
    expect(r.result.latency_us.p50).toBe(10);
    expect(() => simulationEmulation({ set: [], config: file, nsid: '3' })).toThrow(/no namespace 3/);
    expect(() => simulationEmulation({ set: ['gc_policy=fifo'], preset: 'samsung-970pro' })).toThrow(ConfigError);
    // The type follows the preset.
    expect(simulationEmulation({ set: [], preset: 'intel-optane' })).toMatchObject({ type: 'nvm', preset: 'intel-optane' });
  });

  it('registers a commander command that prints text or JSON and writes the plot', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
    try {
      const program = new Command().exitOverride();
      registerSimulateCommand(program);
      const svg = join(dir, 'plot.svg');
      await program.parseAsync(['simulate', '--preset', 'intel-optane', '--rw', 'randread', '--iodepth', '4', '--runtime', '0.001', '--json', '--plot', svg], { from: 'user' });
      const report = JSON.parse(out.join(''));
      expect(report.device).toMatchObject({ type: 'nvm', preset: 'intel-optane' });
      expect(report.result.latency_us.p50).toBeCloseTo(6.61, 2);
      expect(readFileSync(svg, 'utf8')).toContain('</svg>');
    } finally {
      spy.mockRestore();
    }
  });
});
