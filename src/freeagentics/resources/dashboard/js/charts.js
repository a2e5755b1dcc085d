// Canvas charts: line charts over time, bar charts and a heatmap over the grid. Plain 2D canvas, no library.

const AXIS = "#9aa4b2";
const GRID = "#2b3340";
const TEXT = "#e6e9ef";

/** Size the canvas backing store to its CSS box (sharp on high-DPI screens); returns the 2D context. */
export function fitCanvas(canvas, cssHeight) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(50, canvas.clientWidth);
  const height = cssHeight ?? Math.max(50, canvas.clientHeight);
  if (cssHeight !== undefined) canvas.style.height = `${cssHeight}px`;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { context, width, height };
}

function niceRange(min, max) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (min === max) return min === 0 ? [0, 1] : [Math.min(0, min), Math.max(0, max) * 1.1 || 1];
  const pad = (max - min) * 0.08;
  return [min >= 0 && min - pad < 0 ? 0 : min - pad, max + pad];
}

function label(value) {
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e5 || magnitude < 1e-2)) return value.toExponential(1);
  return magnitude >= 100 ? value.toFixed(0) : value.toFixed(2);
}

/** series: [{label, color, values: number[] (null for a gap)}]; drawn against the sample index. */
export function lineChart(canvas, series, { height: plotHeight = 120, title = "" } = {}) {
  // Room above the plot for the title and one legend line per series, so lines never cross the labels.
  const top = (title ? 22 : 8) + 14 * series.length;
  const height = top + plotHeight;
  const { context: g, width } = fitCanvas(canvas, height);
  g.clearRect(0, 0, width, height);
  const left = 52;
  const right = 8;
  const bottom = 18;
  const all = series.flatMap((s) => s.values.filter((v) => v !== null && Number.isFinite(v)));
  const [lo, hi] = niceRange(Math.min(...all), Math.max(...all));
  const length = Math.max(2, ...series.map((s) => s.values.length));
  const x = (i) => left + ((width - left - right) * i) / (length - 1);
  const y = (v) => top + (height - top - bottom) * (1 - (v - lo) / (hi - lo));
  g.font = "12px system-ui, sans-serif";
  g.fillStyle = TEXT;
  if (title) g.fillText(title, left, 14);
  g.strokeStyle = GRID;
  g.fillStyle = AXIS;
  for (let k = 0; k <= 3; k += 1) {
    const v = lo + ((hi - lo) * k) / 3;
    g.beginPath();
    g.moveTo(left, y(v));
    g.lineTo(width - right, y(v));
    g.stroke();
    g.fillText(label(v), 4, y(v) + 4);
  }
  if (!all.length) {
    g.fillText("no data yet", left + 8, top + 20);
    return;
  }
  g.lineWidth = 2;
  series.forEach((s, index) => {
    g.strokeStyle = s.color;
    g.beginPath();
    let drawing = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        drawing = false;
        return;
      }
      if (drawing) g.lineTo(x(i), y(v));
      else g.moveTo(x(i), y(v));
      drawing = true;
    });
    g.stroke();
    g.fillStyle = s.color;
    g.fillText(`— ${s.label}`, left, (title ? 22 : 8) + 10 + index * 14);
  });
  g.lineWidth = 1;
}

/** Vertical bars for ``values`` (probabilities), the largest highlighted. */
export function barChart(canvas, values, { height = 140, title = "" } = {}) {
  const { context: g, width } = fitCanvas(canvas, height);
  g.clearRect(0, 0, width, height);
  const top = title ? 22 : 6;
  const bottom = 16;
  g.font = "12px system-ui, sans-serif";
  g.fillStyle = TEXT;
  if (title) g.fillText(title, 4, 14);
  if (!values.length) return;
  const max = Math.max(...values, 1e-12);
  const best = values.indexOf(Math.max(...values));
  const barWidth = (width - 8) / values.length;
  values.forEach((v, i) => {
    const h = ((height - top - bottom) * v) / max;
    g.fillStyle = i === best ? "#f5b942" : "#4fa3e0";
    g.fillRect(4 + i * barWidth, height - bottom - h, Math.max(1, barWidth - 1), h);
  });
  g.fillStyle = AXIS;
  g.fillText(`${values.length} policies · max ${max.toFixed(3)} (policy ${best})`, 4, height - 3);
}

/** cells: Float32Array of height*width probabilities; walls: [[r, c]]; marker: [r, c] or null. */
export function heatmap(canvas, cells, gridHeight, gridWidth, { walls = [], marker = null } = {}) {
  const size = Math.min(canvas.clientWidth || 320, 480);
  const { context: g } = fitCanvas(canvas, (size * gridHeight) / gridWidth);
  const cell = size / gridWidth;
  let max = 0;
  for (const v of cells) max = Math.max(max, v);
  g.clearRect(0, 0, size, cell * gridHeight);
  for (let r = 0; r < gridHeight; r += 1) {
    for (let c = 0; c < gridWidth; c += 1) {
      const v = max > 0 ? cells[r * gridWidth + c] / max : 0;
      // Dark blue through orange to pale yellow: readable at both ends.
      const hue = 230 - 190 * v;
      g.fillStyle = `hsl(${hue} 85% ${12 + 58 * Math.sqrt(v)}%)`;
      g.fillRect(c * cell, r * cell, cell + 0.5, cell + 0.5);
    }
  }
  g.fillStyle = "#5b6270";
  for (const [r, c] of walls) g.fillRect(c * cell, r * cell, cell, cell);
  if (marker) {
    g.strokeStyle = "#ffffff";
    g.lineWidth = 2;
    g.strokeRect(marker[1] * cell + 1, marker[0] * cell + 1, cell - 2, cell - 2);
    g.lineWidth = 1;
  }
}
