// "Draw a digit": a canvas to draw on, turned into a 28×28 image the way MNIST was
// made (ink cropped, scaled into a 20×20 box, centred in 28×28), sent for a prediction.
import * as api from "./api.js";
import { $, STATUS } from "./dom.js";
import { canvasPixels, renderActivations } from "./inspect.js";

export class DigitPad {
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onChange = onChange;
    this.drawing = false;
    this.clear();
    canvas.addEventListener("pointerdown", (e) => {
      this.drawing = true;
      this.last = this.pos(e);
      this.dot(this.last);
    });
    canvas.addEventListener("pointermove", (e) => {
      if (this.drawing) this.line(this.pos(e));
    });
    const end = () => {
      if (this.drawing) {
        this.drawing = false;
        this.onChange();
      }
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointerleave", end);
  }

  pos(e) {
    const r = this.canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * (this.canvas.width / r.width), (e.clientY - r.top) * (this.canvas.height / r.height)];
  }

  dot([x, y]) {
    this.ctx.beginPath();
    this.ctx.arc(x, y, this.canvas.width / 18, 0, Math.PI * 2);
    this.ctx.fill();
  }

  line(p) {
    const c = this.ctx;
    c.lineWidth = this.canvas.width / 9;
    c.lineCap = c.lineJoin = "round";
    c.beginPath();
    c.moveTo(...this.last);
    c.lineTo(...p);
    c.stroke();
    this.last = p;
  }

  clear() {
    this.ctx.fillStyle = "#000";
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.ctx.fillStyle = this.ctx.strokeStyle = "#fff";
  }

  // 784 grey levels (0–255), or null when nothing is drawn.
  pixels() {
    const { width: w, height: h } = this.canvas;
    const data = this.ctx.getImageData(0, 0, w, h).data;
    let x0 = w,
      y0 = h,
      x1 = -1,
      y1 = -1;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        if (data[(y * w + x) * 4] > 30) {
          x0 = Math.min(x0, x);
          x1 = Math.max(x1, x);
          y0 = Math.min(y0, y);
          y1 = Math.max(y1, y);
        }
      }
    if (x1 < 0) return null;
    const side = Math.max(x1 - x0, y1 - y0) + 1;
    const small = document.createElement("canvas");
    small.width = small.height = 28;
    const sc = small.getContext("2d");
    sc.fillStyle = "#000";
    sc.fillRect(0, 0, 28, 28);
    sc.imageSmoothingQuality = "high";
    const bw = ((x1 - x0 + 1) / side) * 20,
      bh = ((y1 - y0 + 1) / side) * 20;
    sc.drawImage(this.canvas, x0, y0, x1 - x0 + 1, y1 - y0 + 1, 4 + (20 - bw) / 2, 4 + (20 - bh) / 2, bw, bh);
    const px = sc.getImageData(0, 0, 28, 28).data;
    return Array.from({ length: 784 }, (_, i) => px[i * 4]);
  }
}

export function renderProbabilities(container, probabilities) {
  const best = probabilities.indexOf(Math.max(...probabilities));
  container.replaceChildren(
    ...probabilities.map((p, digit) => {
      const row = document.createElement("div");
      row.className = `prob ${digit === best ? "best" : ""}`;
      row.innerHTML = `<span>${digit}</span><div class="bar"><div style="width:${(p * 100).toFixed(1)}%"></div></div><span>${(p * 100).toFixed(1)}%</span>`;
      return row;
    }),
  );
}

// The "Draw a digit" card and the feature maps: a finished run's model predicts a drawn
// digit, and shows what each conv layer sees of it or of a clicked test image.
export class DigitPanel {
  constructor(currentRun) {
    this.currentRun = currentRun; // () => the open run's record
    this.pad = new DigitPad($("digit-pad"), () => {});
    $("predict-digit").addEventListener("click", () => this.predict());
    $("digit-fmaps").addEventListener("click", () => {
      const pixels = this.pad.pixels();
      if (pixels) this.showActivations(pixels, "the drawn digit");
      else $("digit-result").textContent = "draw a digit first";
    });
    $("clear-digit").addEventListener("click", () => {
      this.pad.clear();
      $("digit-result").textContent = "";
      $("digit-probs").replaceChildren();
    });
    for (const id of ["samples", "mistakes"]) {
      $(id).addEventListener("click", (e) => {
        const figure = e.target.closest("figure.sample");
        if (!figure || this.currentRun()?.status !== STATUS.SUCCEEDED) return;
        this.showActivations(canvasPixels(figure.querySelector("canvas")), `test image #${figure.dataset.index}`);
      });
    }
  }

  // Another run opened: nothing of the previous one's model stays.
  open() {
    $("digit-result").textContent = "";
    $("digit-probs").replaceChildren();
    $("fmaps-card").hidden = true;
  }

  async predict() {
    const pixels = this.pad.pixels();
    if (!pixels) {
      $("digit-result").textContent = "draw a digit first";
      return;
    }
    try {
      const result = await api.predict(this.currentRun().id, pixels);
      $("digit-result").textContent = `${result.pred}`;
      renderProbabilities($("digit-probs"), result.probabilities);
    } catch (err) {
      $("digit-result").textContent = "";
      $("digit-probs").textContent = err.message;
    }
  }

  async showActivations(pixels, source) {
    const id = this.currentRun().id;
    $("fmaps-card").hidden = false;
    try {
      const result = await api.activations(id, pixels);
      if (id === this.currentRun()?.id) renderActivations($("fmaps"), result, source);
    } catch (err) {
      $("fmaps").textContent = err.message;
    }
  }
}
