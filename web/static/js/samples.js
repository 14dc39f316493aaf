// Predictions on random test images, and the mistakes, for each epoch of the open run:
// a slider picks the epoch (it follows the newest while it is at the end). Images come
// from one sprite per epoch (an artifact), fetched once.
import * as api from "./api.js";
import { $, el } from "./dom.js";

export class SamplesView {
  constructor() {
    this.runId = null;
    this.epochs = new Map(); // epoch -> samples event
    this.sprites = new Map(); // "<run>/<sprite>" -> Promise<HTMLImageElement>
    this.slider = $("samples-slider");
    this.slider.addEventListener("input", () => this.show(Number(this.slider.value)));
  }

  open(runId) {
    this.runId = runId;
    this.epochs.clear();
    for (const id of ["samples", "mistakes"]) $(id).replaceChildren();
    this.slider.max = "1";
    this.slider.disabled = true;
    $("samples-epoch").textContent = "";
  }

  // Every epoch's samples at once (a run opened from its history): the newest is drawn.
  load(events) {
    events.slice(0, -1).forEach((e) => this.epochs.set(e.epoch, e));
    if (events.length) this.add(events[events.length - 1]);
  }

  add(event) {
    const following = this.slider.disabled || Number(this.slider.value) === Number(this.slider.max);
    this.epochs.set(event.epoch, event);
    this.slider.max = String(Math.max(...this.epochs.keys()));
    this.slider.disabled = this.epochs.size < 2;
    if (following) {
      this.slider.value = this.slider.max;
      this.show(Number(this.slider.max));
    }
  }

  sprite(runId, name) {
    const key = `${runId}/${name}`;
    if (!this.sprites.has(key)) {
      this.sprites.set(
        key,
        api
          .artifactUrl(runId, name)
          .then((url) => {
            const img = new Image();
            img.src = url;
            return img.decode().then(() => img);
          })
          .catch((err) => {
            this.sprites.delete(key);
            throw err;
          }),
      );
    }
    return this.sprites.get(key);
  }

  async show(epoch) {
    const event = this.epochs.get(epoch);
    if (!event) return;
    const runId = this.runId;
    let img = null;
    if (event.sprite) img = await this.sprite(runId, event.sprite).catch(() => null);
    if (runId !== this.runId) return;
    renderSamples($("samples"), event.items, img);
    renderSamples($("mistakes"), event.mistakes || [], img);
    if (Array.isArray(event.mistakes) && !event.mistakes.length)
      $("mistakes").replaceChildren(el("p", { class: "muted" }, "none: this epoch's model got every test image right"));
    $("samples-epoch").textContent = `epoch ${epoch}`;
  }
}

function drawDigit(canvas, item, sprite) {
  const ctx = canvas.getContext("2d");
  if (item.slot != null) {
    if (sprite) ctx.drawImage(sprite, item.slot * 28, 0, 28, 28, 0, 0, 28, 28);
    return;
  }
  const image = item.image || [];
  const data = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = image[i];
    data.data.set([v, v, v, 255], i * 4);
  }
  ctx.putImageData(data, 0, 0);
}

export function renderSamples(container, items, sprite = null) {
  container.replaceChildren();
  for (const item of items) {
    const canvas = el("canvas", { width: "28", height: "28", "aria-hidden": "true" });
    drawDigit(canvas, item, sprite);
    const wrong = item.pred !== item.label;
    container.append(
      el(
        "figure",
        {
          class: `sample ${wrong ? "wrong" : ""}`,
          "data-pred": item.pred,
          "data-label": item.label,
          "data-index": item.index ?? "",
          title: "click: this image's feature maps (finished runs)",
        },
        canvas,
        el("figcaption", {}, `pred ${item.pred} (${Math.round(item.confidence * 100)}%)`, el("br"), `true ${item.label}`),
      ),
    );
  }
}
