// A line plot of the last minute of the three dimensions on a <canvas>,
// with no library: the page stays a handful of static files.

const COLOURS = {
  arousal: "#d1495b",
  dominance: "#2e86ab",
  valence: "#3f7d20",
};

export class TimePlot {
  // canvas: the <canvas>; names: the series (the model's dimensions, in
  // order); span: seconds shown, the newest point at the right edge.
  constructor(canvas, names, span = 60) {
    this.canvas = canvas;
    this.names = names;
    this.span = span;
    this.points = []; // {time, values}, oldest first, within `span`
  }

  // Adds the scores of the window ending at `time` (seconds) and redraws.
  add(time, values) {
    this.points.push({ time, values });
    // Constant memory: only the last `span` seconds are kept.
    while (this.points.length && this.points[0].time < time - this.span) {
      this.points.shift();
    }
    this.draw();
  }

  draw() {
    const ctx = this.canvas.getContext("2d");
    const { width, height } = this.canvas;
    const left = 48;
    const right = 170;
    const top = 14;
    const bottom = 34;
    const plotW = width - left - right;
    const plotH = height - top - bottom;
    ctx.clearRect(0, 0, width, height);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, width, height);

    // Nominally 0..1, but the scores are not clipped: widen to show any
    // value outside.
    let low = 0;
    let high = 1;
    for (const p of this.points) {
      for (const v of p.values) {
        low = Math.min(low, v);
        high = Math.max(high, v);
      }
    }
    const now = this.points.length
      ? this.points[this.points.length - 1].time
      : 0;
    const x = (t) => left + plotW * (1 - (now - t) / this.span);
    const y = (v) => top + plotH * (1 - (v - low) / (high - low));

    ctx.font = "12px sans-serif";
    ctx.strokeStyle = "#dddddd";
    ctx.fillStyle = "#555555";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    // At most about 8 grid lines, at a round step.
    const step =
      [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50].find(
        (s) => (high - low) / s <= 8,
      ) || 100;
    for (let v = Math.ceil(low / step) * step; v <= high + 1e-9; v += step) {
      ctx.beginPath();
      ctx.moveTo(left, y(v));
      ctx.lineTo(left + plotW, y(v));
      ctx.stroke();
      ctx.fillText(v.toFixed(2), left - 6, y(v));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let ago = 0; ago <= this.span; ago += 10) {
      const at = left + plotW * (1 - ago / this.span);
      ctx.beginPath();
      ctx.moveTo(at, top);
      ctx.lineTo(at, top + plotH);
      ctx.stroke();
      ctx.fillText(ago === 0 ? "now" : `-${ago} s`, at, top + plotH + 8);
    }

    ctx.lineWidth = 2;
    this.names.forEach((name, index) => {
      const colour = COLOURS[name] || "#000000";
      ctx.strokeStyle = colour;
      ctx.beginPath();
      this.points.forEach((p, i) => {
        const px = x(p.time);
        const py = y(p.values[index]);
        if (i === 0) ctx.moveTo(px, py);
        else ctx.lineTo(px, py);
      });
      ctx.stroke();
      // Legend, with the latest value.
      const latest = this.points.length
        ? this.points[this.points.length - 1].values[index].toFixed(3)
        : "-";
      ctx.fillStyle = colour;
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      ctx.fillRect(left + plotW + 14, top + 12 + index * 22 - 5, 10, 10);
      ctx.fillText(
        `${name} ${latest}`,
        left + plotW + 30,
        top + 12 + index * 22,
      );
    });
  }
}
