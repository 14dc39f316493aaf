// Min/max bucket downsampling: keeps every spike visible at any zoom level.
//
// For the index range [lo, hi) split into `buckets` equal parts, keep the index of
// the smallest and the largest value of each part (in index order), plus any
// `always` indices inside the range (e.g. epoch boundaries). A range that already
// fits is returned whole, so zooming in shows full detail.
export function minMaxIndices(values, lo, hi, buckets, always = []) {
  lo = Math.max(0, lo);
  hi = Math.min(values.length, hi);
  const keep = new Set(always.filter((i) => i >= lo && i < hi));
  if (hi - lo <= buckets * 2) {
    for (let i = lo; i < hi; i++) keep.add(i);
  } else {
    const size = (hi - lo) / buckets;
    for (let b = 0; b < buckets; b++) {
      const start = lo + Math.floor(b * size);
      const end = Math.min(hi, lo + Math.floor((b + 1) * size));
      let min = start, max = start;
      for (let i = start + 1; i < end; i++) {
        if (values[i] < values[min]) min = i;
        if (values[i] > values[max]) max = i;
      }
      keep.add(min);
      keep.add(max);
    }
  }
  return [...keep].sort((a, b) => a - b);
}

// Exponential moving average with the usual bias correction (as TensorBoard does).
export function smooth(values, weight) {
  const out = new Array(values.length);
  let last = 0;
  let debias = 0;
  for (let i = 0; i < values.length; i++) {
    last = last * weight + (1 - weight) * values[i];
    debias = debias * weight + (1 - weight);
    out[i] = last / debias;
  }
  return out;
}
