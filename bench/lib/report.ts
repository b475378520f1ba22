// Hand-written SVG bar charts and markdown tables for the benchmark results (no dependencies).
import { compact } from "./common.ts";
import type { Machine } from "./proc.ts";

const COLORS: Record<string, string> = {
  "bun-uring": "#e8590c",
  bun: "#f2b44b",
  node: "#2f9e44",
  nginx: "#1c7ed6",
  "c-uring": "#495057",
};
const FALLBACK = ["#9c36b5", "#0ca678", "#d6336c", "#5c7cfa"];
// Legend labels may carry a suffix ("bun-uring (unavailable)"); the color follows the name.
export const colorOf = (label: string, i: number) => COLORS[label.split(" ")[0]!] ?? FALLBACK[i % FALLBACK.length]!;

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Smallest 1/2/2.5/5 × 10^k at or above x, so axis labels are round numbers. */
function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

export interface Panel {
  title: string;
  subtitle: string;
  values: (number | null)[]; // one per series, null when that server did not run
}

/**
 * Grouped bars as small multiples: one panel per scenario, each with its own linear axis,
 * because the figures differ by orders of magnitude between scenarios (plaintext vs a 1 MiB
 * file) and a shared axis would flatten the small ones. Colors identify servers throughout.
 */
export function barChartSvg(title: string, subtitle: string, series: string[], panels: Panel[]): string {
  const cols = Math.min(4, Math.max(1, panels.length));
  const rows = Math.ceil(panels.length / cols);
  const pw = 240, ph = 200, gap = 16, left = 16, top = 74;
  // Wide enough for the title, subtitle and legend even with one or two panels.
  const legendW = series.reduce((w, s) => w + 16 + s.length * 6.3 + 16, 0);
  const width = Math.ceil(Math.max(left * 2 + cols * pw + (cols - 1) * gap, left * 2 + Math.max(title.length * 9, subtitle.length * 6, legendW)));
  const height = top + rows * ph + (rows - 1) * gap + 16;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`);
  o.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  o.push(`<text x="${left}" y="24" font-size="16" font-weight="600" fill="#212529">${esc(title)}</text>`);
  o.push(`<text x="${left}" y="42" font-size="11" fill="#495057">${esc(subtitle)}</text>`);
  let lx = left;
  series.forEach((s, i) => {
    o.push(`<rect x="${lx}" y="52" width="12" height="12" rx="2" fill="${colorOf(s, i)}"/>`);
    o.push(`<text x="${lx + 16}" y="62" font-size="11" fill="#212529">${esc(s)}</text>`);
    lx += 16 + s.length * 6.3 + 16;
  });

  panels.forEach((p, k) => {
    const x0 = left + (k % cols) * (pw + gap);
    const y0 = top + Math.floor(k / cols) * (ph + gap);
    const axisW = 40, plotTop = y0 + 40, plotBottom = y0 + ph - 12;
    const plotLeft = x0 + axisW, plotW = pw - axisW - 6, plotH = plotBottom - plotTop;
    const max = niceMax(Math.max(0, ...p.values.map((v) => v ?? 0)));
    o.push(`<rect x="${x0}" y="${y0}" width="${pw}" height="${ph}" rx="6" fill="#f8f9fa" stroke="#dee2e6"/>`);
    o.push(`<text x="${x0 + 10}" y="${y0 + 18}" font-size="12" font-weight="600" fill="#212529">${esc(p.title)}</text>`);
    o.push(`<text x="${x0 + 10}" y="${y0 + 32}" font-size="9.5" fill="#6c757d">${esc(p.subtitle)}</text>`);
    for (const f of [0, 0.5, 1]) {
      const y = plotBottom - f * plotH;
      o.push(`<line x1="${plotLeft}" x2="${plotLeft + plotW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="${f ? "#dee2e6" : "#adb5bd"}"/>`);
      o.push(`<text x="${plotLeft - 4}" y="${(y + 3).toFixed(1)}" font-size="9" fill="#6c757d" text-anchor="end">${compact(f * max)}</text>`);
    }
    const slot = plotW / Math.max(1, series.length);
    const bw = Math.min(28, slot * 0.72);
    series.forEach((s, i) => {
      const v = p.values[i] ?? null;
      const cx = plotLeft + slot * (i + 0.5);
      if (v === null) {
        o.push(`<text x="${cx.toFixed(1)}" y="${plotBottom - 4}" font-size="8.5" fill="#adb5bd" text-anchor="middle">n/a</text>`);
        return;
      }
      const h = (v / max) * plotH;
      o.push(`<rect x="${(cx - bw / 2).toFixed(1)}" y="${(plotBottom - h).toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${colorOf(s, i)}"><title>${esc(`${s}: ${v.toFixed(v < 10 ? 2 : 0)}`)}</title></rect>`);
      o.push(`<text x="${cx.toFixed(1)}" y="${(plotBottom - h - 3).toFixed(1)}" font-size="8.5" fill="#343a40" text-anchor="middle">${compact(v)}</text>`);
    });
  });
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}

export function mdTable(head: string[], rows: string[][], alignRight: boolean[] = []): string {
  const sep = head.map((_, i) => (alignRight[i] ? "---:" : "---"));
  return [head, sep, ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n") + "\n";
}

export function machineLine(m: Machine): string {
  const parts = [
    `${m.cpu}, ${m.cores} cores`,
    `Linux ${m.kernel}`,
    `Bun ${m.bun}`,
    m.node ? `Node ${m.node}` : null,
    m.nginx ? `nginx ${m.nginx}` : null,
    m.wrk ? m.wrk : null,
    m.liburing ? `liburing ${m.liburing}` : null,
  ];
  return parts.filter(Boolean).join(" · ");
}
