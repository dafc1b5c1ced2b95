/** The stored-size chart (uPlot, loaded only when a policy's history is opened). */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { bytes } from './format';

export interface SizePoint {
  at: number;
  bytes: number;
}

export default function SizeChart({ points, label }: { points: SizePoint[]; label: string }) {
  const element = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const host = element.current;
    if (!host) return;
    const width = Math.max(320, Math.min(host.clientWidth || 720, 900));
    const plot = new uPlot(
      {
        width,
        height: 240,
        series: [{}, { label: 'Stored', stroke: '#1f5fa8', fill: 'rgba(31,95,168,0.12)', width: 2, value: (_u, v) => (v === null ? '–' : bytes(v)) }],
        axes: [{}, { values: (_u, ticks) => ticks.map((v) => bytes(v)), size: 70 }],
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
      },
      [points.map((p) => p.at), points.map((p) => p.bytes)],
      host,
    );
    return () => plot.destroy();
  }, [points]);
  return <div class="chart" ref={element} role="img" aria-label={label} />;
}
