import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const COLORS = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#475569'];

/** A line chart of counters over time (x: ISO timestamps), sized to its container. */
export function TimeChart(props: { label: string; times: string[]; series: { name: string; values: number[] }[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const data: uPlot.AlignedData = [props.times.map((t) => Date.parse(t) / 1000), ...props.series.map((s) => s.values)];
    const plot = new uPlot(
      {
        width: element.clientWidth || 600,
        height: 260,
        series: [{}, ...props.series.map((s, i) => ({ label: s.name, stroke: COLORS[i % COLORS.length], width: 2 }))],
        axes: [{}, { size: 50 }],
      },
      data,
      element,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: element.clientWidth, height: 260 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [props.times, props.series]);
  // What is plotted, for tests and scripts (a canvas cannot be read back): points and each series' sum.
  const sums = props.series.map((s) => `${s.name}=${s.values.reduce((a, b) => a + b, 0)}`).join(' ');
  return <div class="chart" ref={box} role="img" aria-label={props.label} data-testid="time-chart" data-points={props.times.length} data-sums={sums} />;
}
