// The fork dialog: a new run from the state after one of the parent's epochs. Defaults
// keep the parent's plan: Epochs is the parent's total, and the fork starts from the
// last stored epoch before that total, so "the same run with a lower lr from epoch 2"
// is one change. Once the user sets Epochs, changing From epoch keeps the number of
// epochs it trains; the dialog says that number before anything starts.
import * as api from "./api.js";
import { $, el, plural } from "./dom.js";
import { clearErrors, clearField, focusFirstError, readRunForm, serverErrors, showErrors } from "./forms.js";

export class ForkDialog {
  constructor({ onForked }) {
    this.onForked = onForked; // (parent, child)
    this.parent = null;
    this.extra = null; // epochs to train beyond From epoch, once the user chose Epochs
    this.form = $("fork-form");
    $("cancel-fork").addEventListener("click", () => $("fork-dialog").close());
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    $("fork-epoch").addEventListener("change", () => this.fromChanged());
    this.form.addEventListener("input", (e) => {
      clearField(e.target, $("fork-error"));
      if (e.target.name === "epochs") this.extra = Number(e.target.value) - this.from();
      this.describe();
    });
  }

  from() {
    return Number($("fork-epoch").value);
  }

  // `epochs`: the parent's epochs with a stored state (a fork can start from those).
  open(parent, epochs) {
    this.parent = parent;
    this.extra = null;
    const total = parent.spec.epochs;
    $("fork-epoch").replaceChildren(...epochs.map((e) => el("option", { value: String(e) }, `epoch ${e}`)));
    const before = epochs.filter((e) => e < total);
    $("fork-epoch").value = String(before.length ? before[before.length - 1] : epochs[epochs.length - 1]);
    fillForm(this.form, parent.spec);
    this.form.elements.name.value = "";
    this.form.elements.name.placeholder = `default: ${parent.name} ↳ fork@epoch`;
    clearErrors(this.form, $("fork-error"));
    this.fromChanged();
    $("fork-dialog").showModal();
  }

  // Epochs follows From epoch: the parent's total while it is ahead (one more epoch
  // from the parent's last), or as many more epochs as the user asked for.
  fromChanged() {
    const from = this.from();
    const epochs = this.extra != null ? from + this.extra : Math.max(this.parent.spec.epochs, from + 1);
    this.form.elements.epochs.value = String(Math.min(100, epochs));
    this.describe();
  }

  describe() {
    const more = Number(this.form.elements.epochs.value) - this.from();
    $("fork-plan").textContent =
      more > 0
        ? `Trains ${plural(more, "more epoch")}: ` +
          (more === 1 ? `epoch ${this.from() + 1}.` : `epochs ${this.from() + 1} to ${this.from() + more}.`)
        : `Epochs must be more than ${this.from()} (the epoch it starts from).`;
  }

  async submit() {
    const parent = this.parent;
    const { spec, errors } = readRunForm(this.form);
    if (spec.epochs != null && spec.epochs <= this.from())
      errors.set("epochs", `must be more than ${this.from()}, the epoch the fork starts from`);
    if (!showErrors(this.form, $("fork-error"), errors)) {
      focusFirstError(this.form);
      return;
    }
    const body = { from_epoch: this.from() };
    for (const [key, value] of Object.entries(spec)) if (value !== parent.spec[key]) body[key] = value; // only what changes
    try {
      const child = await api.forkRun(parent.id, body);
      $("fork-dialog").close();
      this.onForked(parent, child);
    } catch (err) {
      const { errors: fields, problem } = serverErrors(this.form, err);
      showErrors(this.form, $("fork-error"), fields, problem);
    }
  }
}

export function fillForm(form, spec) {
  for (const [key, value] of Object.entries(spec)) {
    const input = form.elements[key];
    if (input) input.value = value ?? "";
  }
}
