// nvmf-emu live status page. Plain browser JavaScript (no build step, no modules), served by the
// daemon with uPlot (global `uPlot`). Polls /api/v1/status; every counter there is cumulative, so
// rates, and latency percentiles over the last interval (from histogram bucket deltas), are
// computed here between two snapshots. ZNS namespaces also poll their zone list for the zone map.
/* global uPlot */
'use strict';
(function () {
  const API = '/api/v1';
  const params = new URLSearchParams(location.search);
  const INTERVAL_MS = Math.max(200, Number(params.get('interval')) || 1000);
  const WINDOW = Math.max(10, Number(params.get('points')) || 300);
  const TOKEN_KEY = 'nvmf-emu-token';

  // ---- token: #token=... in the URL (kept in this tab's sessionStorage, removed from the URL)
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  const authForm = document.getElementById('auth');
  authForm.addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById('auth-token').value);
    authForm.hidden = true;
  });

  async function api(path) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const res = await fetch(API + path, { headers: token ? { authorization: 'Bearer ' + token } : {}, cache: 'no-store' });
    // A poll sent before the token was entered can answer 401 after it: only a refusal of the
    // current token shows the form again, and any accepted request hides it.
    if (res.status === 401) {
      if (sessionStorage.getItem(TOKEN_KEY) === token) authForm.hidden = false;
    } else if (res.ok) authForm.hidden = true;
    return res;
  }

  // ---- formatting
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  };
  const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  function bytes(n) {
    if (n == null || !Number.isFinite(n)) return '–';
    let i = 0;
    while (Math.abs(n) >= 1024 && i < UNITS.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + UNITS[i];
  }
  const num = (n, d = 0) => (n == null || !Number.isFinite(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: 0 }));
  function lat(s) {
    if (s == null || !Number.isFinite(s)) return '–';
    if (s < 1e-3) return (s * 1e6).toFixed(s < 1e-5 ? 1 : 0) + ' µs';
    if (s < 1) return (s * 1e3).toFixed(s < 1e-2 ? 2 : 1) + ' ms';
    return s.toFixed(2) + ' s';
  }
  function since(iso) {
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 120) return Math.round(s) + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    return (s / 3600).toFixed(1) + ' h';
  }
  const kv = (label, value, attrs) => el('div', Object.assign({ class: 'kv' }, attrs || {}), el('b', { text: value }), el('span', { text: label }));

  /** Quantile of a bucketed histogram (per-bucket counts, +Inf last), as histogram_quantile does. */
  function quantile(bounds, counts, q) {
    let total = 0;
    for (const c of counts) total += c;
    if (total <= 0) return null;
    const rank = q * total;
    let acc = 0;
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i];
      if (acc + c >= rank && c > 0) {
        if (i === bounds.length) return bounds[i - 1];
        const lo = i === 0 ? 0 : bounds[i - 1];
        return lo + ((bounds[i] - lo) * (rank - acc)) / c;
      }
      acc += c;
    }
    return bounds[bounds.length - 1];
  }
  /** Latency percentiles of the commands completed between two snapshots (null if none). */
  function windowQuantiles(bounds, now, prev) {
    if (!prev || now.count < prev.count) return [null, null];
    const d = now.buckets.map((c, i) => c - (prev.buckets[i] || 0));
    if (d.some((x) => x < 0)) return [null, null];
    return [quantile(bounds, d, 0.5), quantile(bounds, d, 0.99)];
  }

  // ---- charts (uPlot)
  const COLORS = { read: '#1f6fd1', write: '#e8590c', readP99: '#74a9ef', writeP99: '#f4a261', qd: '#7048e8', gc: '#c2255c', waf: '#2b8a3e' };
  /** Whole-number tick steps, for counts (uPlot's defaults include 0.5, 0.2...). */
  const INT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];
  const CHARTS = [
    { id: 'iops', title: 'IOPS', series: [['read', COLORS.read], ['write', COLORS.write]], fmt: (v) => num(v), incrs: INT_INCRS },
    { id: 'throughput', title: 'Throughput (MiB/s)', series: [['read', COLORS.read], ['write', COLORS.write]], fmt: (v) => num(v, 2) },
    {
      // Log scale: a few slow commands (p99, warm-up) would flatten everything else on a linear one.
      id: 'latency', title: 'Latency over the last interval (µs, log scale)', log: true,
      series: [['read p50', COLORS.read], ['read p99', COLORS.readP99, [4, 3]], ['write p50', COLORS.write], ['write p99', COLORS.writeP99, [4, 3]]],
      fmt: (v) => (v >= 1e6 ? num(v / 1e6, 2) + ' s' : v >= 1000 ? num(v / 1000, 2) + ' ms' : num(v, 1) + ' µs'),
    },
    { id: 'qd', title: 'Queue depth (commands in flight)', series: [['in flight', COLORS.qd]], fmt: (v) => num(v), fill: true, incrs: INT_INCRS },
    {
      id: 'gc', title: 'GC runs/s and write amplification', ftlOnly: true,
      series: [['GC runs/s', COLORS.gc, null, 'gc'], ['WAF (since start)', COLORS.waf, null, 'waf']],
      fmt: (v) => num(v, 2),
    },
  ];

  function makeChart(def, container) {
    const series = [{}];
    const scales = { x: { time: true } };
    // x: wall-clock time of the snapshots, whole seconds (uPlot's default shows ms at this zoom).
    const axes = [{
      stroke: '#667085', grid: { stroke: '#eef0f4' }, ticks: { stroke: '#d9dee7' }, space: 70,
      incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
      values: (_u, vals) => vals.map((v) => new Date(v * 1000).toLocaleTimeString([], { hour12: false })),
    }];
    const usedScales = [];
    for (const [label, color, dash, scale] of def.series) {
      const s = { label, stroke: color, width: 2, spanGaps: false, points: { show: false }, value: (_u, v) => def.fmt(v) };
      if (dash) s.dash = dash;
      if (def.fill) s.fill = color + '22';
      const sc = scale || 'y';
      s.scale = sc;
      if (!usedScales.includes(sc)) usedScales.push(sc);
      series.push(s);
    }
    usedScales.forEach((sc, i) => {
      scales[sc] = def.log ? { distr: 3, log: 10 } : sc === 'waf' ? { range: (_u, _min, max) => [1, Math.max(2, Math.ceil((max || 1) * 1.1 * 10) / 10)] } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] };
      axes.push({ scale: sc, side: i === 0 ? 3 : 1, size: def.log ? 72 : 56, stroke: '#667085', grid: { show: i === 0, stroke: '#eef0f4' }, ticks: { stroke: '#d9dee7' }, values: (_u, vals) => vals.map((v) => (v == null ? '' : def.fmt(v))) });
      if (def.incrs) axes[axes.length - 1].incrs = def.incrs;
      // Log axis: ticks and grid at whole decades only (uPlot's default also marks 2..9 of each).
      if (def.log) {
        axes[axes.length - 1].splits = (_u, _i, min, max) => {
          const out = [];
          for (let e = Math.floor(Math.log10(Math.max(min, 1e-3))); e <= Math.ceil(Math.log10(Math.max(max, 1e-3))); e++) out.push(10 ** e);
          return out;
        };
      }
    });
    const data = [[]].concat(def.series.map(() => []));
    const opts = { width: Math.max(200, container.clientWidth - 12), height: 170, series, scales, axes, legend: { live: false }, cursor: { drag: { x: false, y: false } } };
    return { plot: new uPlot(opts, data, container), data, def };
  }

  // ---- zone map (canvas: one cell per zone, colour by state, filled up to the write pointer)
  const ZONE_COLORS = {
    empty: '#c9ced6', implicit_open: '#40c057', explicit_open: '#2b8a3e', closed: '#fab005', full: '#1f6fd1', read_only: '#9c36b5', offline: '#e03131',
  };
  const ZONE_STATES = Object.keys(ZONE_COLORS);

  function drawZoneMap(zm, zones) {
    const canvas = zm.canvas;
    canvas.hidden = false;
    const n = zones.length;
    const cell = n <= 256 ? 18 : n <= 1024 ? 12 : n <= 4096 ? 7 : 4;
    const gap = cell >= 12 ? 2 : 1;
    const width = Math.max(100, zm.box.clientWidth);
    const perRow = Math.max(1, Math.floor((width + gap) / (cell + gap)));
    const rows = Math.ceil(n / perRow);
    const height = Math.max(cell, rows * (cell + gap) - gap);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.height = height + 'px';
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    const counts = {};
    zones.forEach((z, i) => {
      const x = (i % perRow) * (cell + gap);
      const y = Math.floor(i / perRow) * (cell + gap);
      const color = ZONE_COLORS[z.state] || '#868e96';
      counts[z.state] = (counts[z.state] || 0) + 1;
      let fill = z.zcap > 0 ? (z.wp - z.zslba) / z.zcap : 0;
      if (z.state === 'full' || z.state === 'offline') fill = 1; // offline: no write pointer, shown solid
      else if (z.state === 'empty') fill = 0;
      fill = Math.min(1, Math.max(0, fill));
      // Pale cell in the state's colour, then the written part (bottom up) in full colour.
      g.fillStyle = color + '40';
      g.fillRect(x, y, cell, cell);
      const h = Math.round(cell * fill);
      if (h > 0) {
        g.fillStyle = color;
        g.fillRect(x, y + cell - h, cell, h);
      }
      if (cell >= 7) {
        g.strokeStyle = color;
        g.lineWidth = 1;
        g.strokeRect(x + 0.5, y + 0.5, cell - 1, cell - 1);
      }
    });
    zm.layout = { cell, gap, perRow };
    zm.zones = zones;
    zm.box.dataset.zones = String(n);
    zm.box.dataset.stateCounts = JSON.stringify(counts);
    zm.legend.replaceChildren(
      ...ZONE_STATES.concat(Object.keys(counts).filter((s) => !ZONE_COLORS[s])).map((s) =>
        el('span', { 'data-state': s }, el('i', { style: 'background:' + (ZONE_COLORS[s] || '#868e96') }), s.replace('_', ' ') + ' ' + (counts[s] || 0)),
      ),
      el('span', { class: 'muted', text: n + ' zones; fill = write pointer within zone capacity' }),
    );
  }

  function zoneAt(zm, ev) {
    if (!zm.layout || !zm.zones) return null;
    const r = zm.canvas.getBoundingClientRect();
    const { cell, gap, perRow } = zm.layout;
    const col = Math.floor((ev.clientX - r.left) / (cell + gap));
    const row = Math.floor((ev.clientY - r.top) / (cell + gap));
    if (col < 0 || col >= perRow) return null;
    const i = row * perRow + col;
    return i >= 0 && i < zm.zones.length ? [i, zm.zones[i]] : null;
  }

  async function pollZones(zm) {
    if (zm.busy) return;
    zm.busy = true;
    try {
      const res = await api(zm.path);
      if (res.status === 404) {
        zm.box.dataset.zones = 'unavailable';
        zm.note.textContent = 'Zone list not available: GET ' + API + zm.path + ' answered 404.';
        return;
      }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const body = await res.json();
      const zones = Array.isArray(body) ? body : body && Array.isArray(body.zones) ? body.zones : null;
      if (!zones) throw new Error('unexpected zone list shape');
      zm.note.textContent = '';
      drawZoneMap(zm, zones);
    } catch (err) {
      zm.note.textContent = 'Zone list: ' + err.message;
    } finally {
      zm.busy = false;
    }
  }

  // ---- page structure: rebuilt when the set of subsystems/namespaces changes, updated otherwise
  const views = new Map(); // "nqn/nsid" -> { charts, stats, zonemap }
  const subViews = new Map(); // nqn -> { hosts, info }
  let shape = '';
  let prev = null;

  function build(snap) {
    for (const v of views.values()) for (const c of v.charts) c.plot.destroy();
    views.clear();
    subViews.clear();
    const root = document.getElementById('subsystems');
    root.replaceChildren();
    if (!snap.subsystems.length) root.append(el('p', { class: 'empty', text: 'No subsystems configured.' }));
    for (const s of snap.subsystems) {
      const info = el('div', { class: 'muted' });
      const hosts = el('div', { class: 'hosts' });
      const sec = el('section', { class: 'subsystem', 'data-nqn': s.nqn }, el('h2', { text: s.nqn }), info, el('h3', { text: 'Connected hosts' }), hosts);
      subViews.set(s.nqn, { hosts, info });
      root.append(sec); // in the document before the charts are made: they size to their box
      for (const n of s.namespaces) {
        const key = s.nqn + '/' + n.nsid;
        const stats = el('div', { class: 'ns-stats' });
        const chartsBox = el('div', { class: 'charts' });
        const nsBox = el(
          'div',
          { class: 'namespace', 'data-ns': key, 'data-nsid': String(n.nsid), 'data-kind': n.kind },
          el('div', { class: 'ns-head' },
            el('h3', { text: 'Namespace ' + n.nsid }),
            el('span', { class: 'badge', 'data-kind': n.kind, text: n.kind }),
            n.preset ? el('span', { class: 'muted', text: 'preset ' + n.preset }) : null,
            el('span', { class: 'muted', text: bytes(n.capacity_bytes) + ', ' + n.lba_size + ' B blocks' + (n.enabled ? '' : ', disabled') })),
          stats,
          chartsBox,
        );
        sec.append(nsBox);
        const view = { charts: [], stats, zonemap: null };
        for (const def of CHARTS) {
          if (def.ftlOnly && !n.ftl) continue;
          const box = el('div', { class: 'chart', 'data-chart': def.id, 'data-points': '0' }, el('h4', { text: def.title }));
          chartsBox.append(box);
          view.charts.push(Object.assign(makeChart(def, box), { box }));
        }
        if (n.kind === 'zns') {
          const canvas = el('canvas', { 'aria-label': 'zone map of namespace ' + n.nsid });
          canvas.hidden = true; // until there is a zone list to draw
          const legend = el('div', { class: 'legend' });
          const note = el('div', { class: 'note', text: 'loading zones…' });
          const box = el('div', { class: 'zonemap', 'data-zonemap': key }, el('h4', { text: 'Zone map' }), legend, canvas, note);
          nsBox.append(box);
          const zm = { box, canvas, legend, note, path: '/subsystems/' + encodeURIComponent(s.nqn) + '/namespaces/' + n.nsid + '/zones', zones: null, layout: null, busy: false };
          canvas.addEventListener('mousemove', (ev) => {
            const hit = zoneAt(zm, ev);
            canvas.title = hit ? 'zone ' + hit[0] + ': ' + hit[1].state + ', zslba ' + hit[1].zslba + ', wp ' + hit[1].wp + ', zcap ' + hit[1].zcap : '';
          });
          view.zonemap = zm;
        }
        views.set(key, view);
      }
    }
  }

  function push(chart, t, values) {
    const d = chart.data;
    d[0].push(t);
    values.forEach((v, i) => d[i + 1].push(v == null || !Number.isFinite(v) ? null : v));
    if (d[0].length > WINDOW) for (const a of d) a.shift();
    chart.plot.setData(d);
    chart.box.dataset.points = String(d[0].length);
  }

  function rate(now, before, dt) {
    if (before == null || dt <= 0 || now < before) return null;
    return (now - before) / dt;
  }

  function update(snap) {
    const newShape = JSON.stringify(snap.subsystems.map((s) => [s.nqn, s.namespaces.map((n) => [n.nsid, n.kind, !!n.ftl])]));
    if (newShape !== shape) {
      build(snap);
      shape = newShape;
      prev = null;
    }
    const dt = prev ? (snap.time_ms - prev.time_ms) / 1000 : 0;
    const t = snap.time_ms / 1000;
    const tr = snap.transport;
    const ptr = prev && prev.transport;
    const rejects = Object.values(tr.connect_rejects).reduce((a, b) => a + b, 0);
    document.getElementById('transport').replaceChildren(
      kv('connections', num(tr.connections_active)),
      kv('accepted', num(tr.connections_accepted)),
      kv('commands/s', num(rate(tr.capsules_received, ptr && ptr.capsules_received, dt))),
      kv('received', bytes(rate(tr.received_bytes, ptr && ptr.received_bytes, dt)) + '/s'),
      kv('sent', bytes(rate(tr.sent_bytes, ptr && ptr.sent_bytes, dt)) + '/s'),
      kv('received total', bytes(tr.received_bytes)),
      kv('sent total', bytes(tr.sent_bytes)),
      kv('digest errors', num(tr.header_digest_errors + tr.data_digest_errors)),
      kv('connect rejects', num(rejects)),
      kv('keep-alive timeouts', num(tr.keep_alive_timeouts)),
      kv('listeners', snap.ports.map((p) => p.traddr + ':' + p.trsvcid).join(', ') || '–'),
    );
    document.getElementById('meta').textContent = 'v' + snap.version + ' · up ' + since(new Date(snap.time_ms - snap.uptime_seconds * 1000).toISOString()) + ' · updated ' + new Date(snap.time_ms).toLocaleTimeString();

    const prevNs = new Map();
    if (prev) for (const s of prev.subsystems) for (const n of s.namespaces) prevNs.set(s.nqn + '/' + n.nsid, n);
    const bounds = snap.latency_bucket_bounds_seconds;
    for (const s of snap.subsystems) {
      const sv = subViews.get(s.nqn);
      sv.info.textContent = 'serial ' + s.serial + ' · model ' + s.model + ' · ports ' + (s.ports.join(', ') || 'none') + (s.allow_any_host ? ' · any host allowed' : '');
      if (!s.hosts.length) sv.hosts.replaceChildren(el('p', { class: 'empty', text: 'No host connected.' }));
      else {
        sv.hosts.replaceChildren(el('table', {},
          el('thead', {}, el('tr', {}, ...['host NQN', 'cntlid', 'queues (I/O)', 'address', 'keep-alive', 'connected for'].map((h) => el('th', { text: h })))),
          el('tbody', {}, ...s.hosts.map((h) => el('tr', { 'data-hostnqn': h.hostnqn, 'data-cntlid': String(h.cntlid) },
            el('td', { text: h.hostnqn }), el('td', { text: String(h.cntlid) }), el('td', { text: h.queues + ' (' + h.io_queues + ')' }),
            el('td', { text: h.remote_address || '–' }), el('td', { text: h.kato_ms ? h.kato_ms / 1000 + ' s' : 'off' }), el('td', { text: since(h.connected_at) })))),
        ));
      }
      for (const n of s.namespaces) {
        const key = s.nqn + '/' + n.nsid;
        const v = views.get(key);
        const p = prevNs.get(key);
        const io = n.io;
        const pio = p && p.io;
        const riops = rate(io.reads, pio && pio.reads, dt);
        const wiops = rate(io.writes, pio && pio.writes, dt);
        const rbw = rate(io.read_bytes, pio && pio.read_bytes, dt);
        const wbw = rate(io.written_bytes, pio && pio.written_bytes, dt);
        const [r50, r99] = windowQuantiles(bounds, n.latency.read, p && p.latency.read);
        const [w50, w99] = windowQuantiles(bounds, n.latency.write, p && p.latency.write);
        const gcRate = n.ftl && p && p.ftl ? rate(n.ftl.gcRuns, p.ftl.gcRuns, dt) : null;
        const us = (x) => (x == null ? null : x * 1e6);
        const mib = (x) => (x == null ? null : x / 1048576);
        const stats = [
          kv('read IOPS', num(riops), { 'data-stat': 'read-iops' }),
          kv('write IOPS', num(wiops), { 'data-stat': 'write-iops' }),
          kv('read', bytes(rbw) + '/s'),
          kv('write', bytes(wbw) + '/s'),
          kv('reads total', num(io.reads), { 'data-stat': 'reads' }),
          kv('writes total', num(io.writes), { 'data-stat': 'writes' }),
          kv('read p50 / p99', lat(n.latency.read.p50_seconds) + ' / ' + lat(n.latency.read.p99_seconds)),
          kv('write p50 / p99', lat(n.latency.write.p50_seconds) + ' / ' + lat(n.latency.write.p99_seconds)),
          kv('in flight', num(io.in_flight)),
          kv('errors', num(io.errors)),
        ];
        if (n.ftl) {
          stats.push(
            kv('WAF', n.waf == null ? '–' : n.waf.toFixed(3), { 'data-stat': 'waf' }),
            kv('GC runs', num(n.ftl.gcRuns), { 'data-stat': 'gc-runs' }),
            kv('free blocks', num(n.ftl.freeBlocks) + ' / ' + num(n.ftl.totalBlocks)),
            kv('erases', num(n.ftl.erases)),
          );
        }
        if (n.percentage_used != null) stats.push(kv('used / spare', n.percentage_used + ' % / ' + n.available_spare + ' %'));
        v.stats.replaceChildren(...stats);
        if (prev && p) {
          for (const c of v.charts) {
            const vals = {
              iops: [riops, wiops],
              throughput: [mib(rbw), mib(wbw)],
              latency: [us(r50), us(r99), us(w50), us(w99)],
              qd: [io.in_flight],
              gc: [gcRate, n.waf],
            }[c.def.id];
            push(c, t, vals);
          }
        }
        if (v.zonemap) void pollZones(v.zonemap);
      }
    }
    prev = snap;
  }

  const conn = document.getElementById('conn');
  async function poll() {
    try {
      const res = await api('/status');
      if (!res.ok) throw new Error('GET /api/v1/status: HTTP ' + res.status);
      update(await res.json());
      conn.dataset.state = 'ok';
      conn.title = 'last poll ok';
    } catch (err) {
      conn.dataset.state = 'error';
      conn.title = String(err.message || err);
      document.getElementById('meta').textContent = 'not updating: ' + conn.title;
    } finally {
      setTimeout(poll, INTERVAL_MS);
    }
  }

  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const v of views.values()) {
        for (const c of v.charts) c.plot.setSize({ width: Math.max(200, c.box.clientWidth - 12), height: 170 });
        if (v.zonemap && v.zonemap.zones) drawZoneMap(v.zonemap, v.zonemap.zones);
      }
    }, 150);
  });
  void poll();
})();
