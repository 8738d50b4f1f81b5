/**
 * The chart the README embeds, written by hand (no dependency): one horizontal bar per compared
 * row showing package/C (1.00 = as fast as C; shorter is better), with the row's target as a
 * tick, then the metric rows (compaction reduction, scaling, VMAs, engine rate) as text.
 */
import type { Row } from './report';

function esc(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

const COLORS = { met: '#2e7d32', missed: '#c62828', none: '#607d8b', skipped: '#bdbdbd' };

function metricText(r: Row): string {
  const f = (v: number | undefined): string => {
    if (v === undefined || Number.isNaN(v)) return '–';
    if (r.valueUnit === '%') return `${(v * 100).toFixed(1)} %`;
    if (r.valueUnit === '×') return `${v.toFixed(2)}×`;
    if (r.valueUnit === 'moves/s') return `${(v / 1e6).toFixed(2)}M moves/s`;
    return `${Math.round(v)} ${r.valueUnit ?? ''}`;
  };
  if (r.skipped !== undefined) return 'not run: ' + shortReason(r.skipped);
  const c = r.cValue !== undefined ? `   (C: ${f(r.cValue)})` : '';
  return `package ${f(r.value)}${c}`;
}

/** The part of a skip reason before the first ';' (the chart has one line per row). */
function shortReason(s: string): string {
  return s.split(';')[0]!;
}

function fit(s: string, n: number): string {
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

function num(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '–';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function renderSvg(rows: Row[], subtitle: string): string {
  const bars = rows.filter(
    (r) => r.ratio !== undefined || (r.skipped && r.target?.kind === 'ratio'),
  );
  const metrics = rows.filter(
    (r) => !bars.includes(r) && (r.valueUnit !== undefined || r.value !== undefined),
  );
  const W = 1100;
  const labelW = 470;
  const barX = labelW + 10;
  const barW = W - barX - 210;
  const rowH = 20;
  const top = 64;
  const maxRatio = Math.max(
    2,
    ...bars.map((r) => r.ratio ?? 0),
    ...bars.map((r) => r.target?.limit ?? 0),
  );
  const scale = (v: number): number => barX + (Math.min(v, maxRatio) / maxRatio) * barW;
  const barsH = bars.length * rowH;
  const metricsTop = top + barsH + 48;
  const H = metricsTop + metrics.length * rowH + 24;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="16" font-weight="600">userfaultfd for Node.js vs C: package time / C time (medians, same run; shorter is better)</text>`,
    `<text x="12" y="40" fill="#555">${esc(subtitle)}</text>`,
  );
  // grid: 0, 0.5, 1, 1.5 ...
  for (let g = 0; g <= maxRatio + 1e-9; g += 0.5) {
    const x = scale(g);
    out.push(
      `<line x1="${x}" y1="${top - 6}" x2="${x}" y2="${top + barsH}" stroke="${g === 1 ? '#000' : '#e0e0e0'}" stroke-width="${g === 1 ? 1.2 : 1}"/>`,
      `<text x="${x}" y="${top - 10}" text-anchor="middle" fill="#555">${g.toFixed(1)}×</text>`,
    );
  }
  bars.forEach((r, i) => {
    const y = top + i * rowH;
    const color = r.skipped
      ? COLORS.skipped
      : r.met === undefined
        ? COLORS.none
        : r.met
          ? COLORS.met
          : COLORS.missed;
    out.push(
      `<text x="12" y="${y + 14}" fill="#555">${esc(r.id)}</text>`,
      `<text x="${labelW}" y="${y + 14}" text-anchor="end">${esc(fit(r.label, 54))}</text>`,
    );
    if (r.ratio !== undefined) {
      const detail = `(C ${num(r.cMedian)}, pkg ${num(r.pkgMedian)} ${r.unit})`;
      out.push(
        `<rect x="${barX}" y="${y + 4}" width="${Math.max(1, scale(r.ratio) - barX)}" height="${rowH - 8}" fill="${color}" opacity="0.85"/>`,
        `<text x="${scale(r.ratio) + 4}" y="${y + 14}" fill="#222" stroke="#fff" stroke-width="3" paint-order="stroke">${r.ratio.toFixed(2)}× <tspan fill="#777">${esc(detail)}</tspan></text>`,
      );
    } else {
      out.push(
        `<text x="${barX + 4}" y="${y + 14}" fill="#888">not run: ${esc(fit(shortReason(r.skipped ?? ''), 80))}</text>`,
      );
    }
    if (r.target?.kind === 'ratio') {
      const x = scale(r.target.limit);
      out.push(
        `<line x1="${x}" y1="${y + 1}" x2="${x}" y2="${y + rowH - 1}" stroke="#000" stroke-width="2" stroke-dasharray="3,2"/>`,
      );
    }
  });
  out.push(
    `<text x="12" y="${top + barsH + 18}" fill="#555">Dashed tick: target. Green: target met; red: missed; grey bar: no target (information).</text>`,
    `<text x="12" y="${metricsTop - 8}" font-size="14" font-weight="600">Figures that are not ratios</text>`,
  );
  metrics.forEach((r, i) => {
    const y = metricsTop + i * rowH;
    const verdict = r.skipped ? 'n/a' : r.met === undefined ? '' : r.met ? 'met' : 'missed';
    const color = r.skipped
      ? '#888'
      : r.met === undefined
        ? '#222'
        : r.met
          ? COLORS.met
          : COLORS.missed;
    out.push(
      `<text x="12" y="${y + 14}" fill="#555">${esc(r.id)}</text>`,
      `<text x="${labelW}" y="${y + 14}" text-anchor="end">${esc(fit(r.label, 54))}</text>`,
      `<text x="${barX}" y="${y + 14}" fill="${color}">${esc(metricText(r))}${r.target ? esc(`   target ${r.target.text}: ${verdict}`) : ''}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
