// Display-side smoothing of loss curves (the server does the downsampling: see
// web/history/series.py, min/max/mean buckets).

// Exponential moving average with the usual bias correction (as TensorBoard does).
export function smooth(values, weight) {
  const out = new Array(values.length);
  let last = 0;
  let debias = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] == null) {
      out[i] = null;
      continue;
    }
    last = last * weight + (1 - weight) * values[i];
    debias = debias * weight + (1 - weight);
    out[i] = last / debias;
  }
  return out;
}
