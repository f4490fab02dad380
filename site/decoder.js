// The zoo's decoders in the browser: a forward pass over typed arrays that replicates vae_core/model/vae.py (Linear,
// ConvTranspose2d, Conv2d 3x3, ResidualBlock, ReLU / tanh / exact GELU, Unflatten) and the parameter maps of vae_core/model/likelihoods.py. No
// dependency, no WebAssembly (the choice and its measurements: docs/static_site.md). The export's layout and this
// API: docs/static_site.md; the exactness against torch: tests/test_static_site.py.

export const PIXELS = 28 * 28;

// ------------------------------------------------------------------------------------------- the seeded generator
// mulberry32 uniforms on a uint32 state; Box-Muller normals, one normal per two uniforms, no caching.
// explorer/static_site.py's Mulberry32 reproduces it draw for draw.
export function rng(seed) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => {
    const u1 = uniform(), u2 = uniform();
    return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
  };
  return {uniform, normal};
}

// n codes z ~ N(0, temperature^2 I), row-major (n * latentDim)
export function priorCodes(r, n, latentDim, temperature = 1) {
  const z = new Float32Array(n * latentDim);
  for (let i = 0; i < z.length; i++) z[i] = temperature * r.normal();
  return z;
}

// ------------------------------------------------------------------------------------------- special functions
// erfc by Numerical Recipes' Chebyshev fit erfccheb (3rd ed., section 6.2.2): relative error about 1e-15 over the
// whole line (checked against Python's math.erfc), so Phi and the exact GELU match torch's to float32 precision.
const ERFC_COF = [-1.3026537197817094, 6.4196979235649026e-1, 1.9476473204185836e-2, -9.561514786808631e-3,
  -9.46595344482036e-4, 3.66839497852761e-4, 4.2523324806907e-5, -2.0278578112534e-5, -1.624290004647e-6,
  1.303655835580e-6, 1.5626441722e-8, -8.5238095915e-8, 6.529054439e-9, 5.059343495e-9, -9.91364156e-10,
  -2.27365122e-10, 9.6467911e-11, 2.394038e-12, -6.886027e-12, 8.94487e-13, 3.13092e-13, -1.12708e-13,
  3.81e-16, 7.106e-15, -1.523e-15, -9.4e-17, 1.21e-16, -2.8e-17];

function erfccheb(z) {  // erfc(z) for z >= 0
  let d = 0, dd = 0;
  const t = 2 / (2 + z), ty = 4 * t - 2;
  for (let j = ERFC_COF.length - 1; j > 0; j--) {
    const tmp = d;
    d = ty * d - dd + ERFC_COF[j];
    dd = tmp;
  }
  return t * Math.exp(-z * z + 0.5 * (ERFC_COF[0] + ty * d) - dd);
}

export function erfc(x) { return x >= 0 ? erfccheb(x) : 2 - erfccheb(-x); }
export function ndtr(x) { return 0.5 * erfc(-x / Math.SQRT2); }  // the standard normal CDF Phi(x)

const sigmoid = (x) => 1 / (1 + Math.exp(-x));
const softplus = (x) => (x > 20 ? x : Math.log1p(Math.exp(x)));  // torch's threshold: x above 20 is returned

// ------------------------------------------------------------------------------------------- layers
const ACTIVATIONS = {
  relu: (x) => (x > 0 ? x : 0),
  tanh: Math.tanh,
  gelu: (x) => x * ndtr(x),
};

// y (n, out) = x (n, in) W^T + b, W (out, in) row-major. Each pass over a row of W serves several dot products at
// once (four samples; or, for the last one to three samples of a batch, two or four rows), so the row is read once
// for several of them and the dot products' additions do not wait on each other (a board decodes three samples:
// 2-3x faster than one dot product at a time). Every dot product still sums in the same order, bias first, so the
// result does not depend on the batch.
function linear(x, n, layer, w) {
  const {in: din, out: dout} = layer;
  const W = w.subarray(layer.weight, layer.weight + din * dout), b = w.subarray(layer.bias, layer.bias + dout);
  const y = new Float32Array(n * dout);
  let s = 0;
  for (; s + 4 <= n; s += 4) {
    const x0 = s * din, x1 = x0 + din, x2 = x1 + din, x3 = x2 + din, y0 = s * dout;
    let o = 0;
    for (; o + 2 <= dout; o += 2) {
      let a0 = b[o], a1 = a0, a2 = a0, a3 = a0, c0 = b[o + 1], c1 = c0, c2 = c0, c3 = c0;
      const r0 = o * din, r1 = r0 + din;
      for (let i = 0; i < din; i++) {
        const u = W[r0 + i], v = W[r1 + i], p0 = x[x0 + i], p1 = x[x1 + i], p2 = x[x2 + i], p3 = x[x3 + i];
        a0 += p0 * u; a1 += p1 * u; a2 += p2 * u; a3 += p3 * u;
        c0 += p0 * v; c1 += p1 * v; c2 += p2 * v; c3 += p3 * v;
      }
      y[y0 + o] = a0; y[y0 + dout + o] = a1; y[y0 + 2 * dout + o] = a2; y[y0 + 3 * dout + o] = a3;
      y[y0 + o + 1] = c0; y[y0 + dout + o + 1] = c1; y[y0 + 2 * dout + o + 1] = c2; y[y0 + 3 * dout + o + 1] = c3;
    }
    for (; o < dout; o++) {
      let a0 = b[o], a1 = a0, a2 = a0, a3 = a0;
      const row = o * din;
      for (let i = 0; i < din; i++) {
        const wi = W[row + i];
        a0 += x[x0 + i] * wi; a1 += x[x1 + i] * wi; a2 += x[x2 + i] * wi; a3 += x[x3 + i] * wi;
      }
      y[y0 + o] = a0; y[y0 + dout + o] = a1; y[y0 + 2 * dout + o] = a2; y[y0 + 3 * dout + o] = a3;
    }
  }
  if (n - s === 3) linear3(x, s, din, dout, W, b, y);
  else if (n - s === 2) linear2(x, s, din, dout, W, b, y);
  else if (n - s === 1) linear1(x, s, din, dout, W, b, y);
  return y;
}

function linear3(x, s, din, dout, W, b, y) {  // samples s, s + 1, s + 2; two rows of W at a time
  const x0 = s * din, x1 = x0 + din, x2 = x1 + din, y0 = s * dout, y1 = y0 + dout, y2 = y1 + dout;
  let o = 0;
  for (; o + 2 <= dout; o += 2) {
    let a0 = b[o], a1 = a0, a2 = a0, c0 = b[o + 1], c1 = c0, c2 = c0;
    const r0 = o * din, r1 = r0 + din;
    for (let i = 0; i < din; i++) {
      const u = W[r0 + i], v = W[r1 + i], p = x[x0 + i], q = x[x1 + i], t = x[x2 + i];
      a0 += p * u; a1 += q * u; a2 += t * u; c0 += p * v; c1 += q * v; c2 += t * v;
    }
    y[y0 + o] = a0; y[y1 + o] = a1; y[y2 + o] = a2; y[y0 + o + 1] = c0; y[y1 + o + 1] = c1; y[y2 + o + 1] = c2;
  }
  for (; o < dout; o++) {
    let a0 = b[o], a1 = a0, a2 = a0;
    const r0 = o * din;
    for (let i = 0; i < din; i++) { const u = W[r0 + i]; a0 += x[x0 + i] * u; a1 += x[x1 + i] * u; a2 += x[x2 + i] * u; }
    y[y0 + o] = a0; y[y1 + o] = a1; y[y2 + o] = a2;
  }
}

function linear2(x, s, din, dout, W, b, y) {  // samples s, s + 1; two rows of W at a time
  const x0 = s * din, x1 = x0 + din, y0 = s * dout, y1 = y0 + dout;
  let o = 0;
  for (; o + 2 <= dout; o += 2) {
    let a0 = b[o], a1 = a0, c0 = b[o + 1], c1 = c0;
    const r0 = o * din, r1 = r0 + din;
    for (let i = 0; i < din; i++) {
      const u = W[r0 + i], v = W[r1 + i], p = x[x0 + i], q = x[x1 + i];
      a0 += p * u; a1 += q * u; c0 += p * v; c1 += q * v;
    }
    y[y0 + o] = a0; y[y1 + o] = a1; y[y0 + o + 1] = c0; y[y1 + o + 1] = c1;
  }
  for (; o < dout; o++) {
    let a0 = b[o], a1 = a0;
    const r0 = o * din;
    for (let i = 0; i < din; i++) { const u = W[r0 + i]; a0 += x[x0 + i] * u; a1 += x[x1 + i] * u; }
    y[y0 + o] = a0; y[y1 + o] = a1;
  }
}

function linear1(x, s, din, dout, W, b, y) {  // sample s; four rows of W at a time
  const x0 = s * din, y0 = s * dout;
  let o = 0;
  for (; o + 4 <= dout; o += 4) {
    let a0 = b[o], a1 = b[o + 1], a2 = b[o + 2], a3 = b[o + 3];
    const r0 = o * din, r1 = r0 + din, r2 = r1 + din, r3 = r2 + din;
    for (let i = 0; i < din; i++) {
      const p = x[x0 + i];
      a0 += p * W[r0 + i]; a1 += p * W[r1 + i]; a2 += p * W[r2 + i]; a3 += p * W[r3 + i];
    }
    y[y0 + o] = a0; y[y0 + o + 1] = a1; y[y0 + o + 2] = a2; y[y0 + o + 3] = a3;
  }
  for (; o < dout; o++) {
    let a0 = b[o];
    const r0 = o * din;
    for (let i = 0; i < din; i++) a0 += x[x0 + i] * W[r0 + i];
    y[y0 + o] = a0;
  }
}

// Float64 scratch arrays kept between calls (a board's S decodes a few samples per model, a posterior grid
// thousands in chunks): allocating them per call left the garbage collector to pause some presses.
const scratch = {acc: new Float64Array(0), col: new Float64Array(0), live: new Int32Array(0)};
function grown(name, size, make) {
  if (scratch[name].length < size) scratch[name] = make(size);
  return scratch[name];
}

// torch's ConvTranspose2d: out[oc, iy*s - p + ky, ix*s - p + kx] += in[ic, iy, ix] W[ic, oc, ky, kx], plus bias.
// Per input position, the column W^T x[:, iy, ix] (cout * k * k) is accumulated over ic with contiguous rows of W
// (its layout is (in, out, k, k)), then scattered into the output (col2im). The nonzero inputs of a position (after
// a ReLU about half are zero) are listed first and their rows added four at a time in one pass over the column,
// in the same order, so the column is read and written a quarter as often.
function convTranspose2d(x, n, layer, w) {
  const {in: cin, out: cout, kernel: k, stride: st, padding: p, size_in: hin} = layer;
  const hout = (hin - 1) * st - 2 * p + k, kk = k * k, width = cout * kk, plane = hout * hout, area = hin * hin;
  const W = w.subarray(layer.weight, layer.weight + cin * width), b = w.subarray(layer.bias, layer.bias + cout);
  const y = new Float32Array(n * cout * plane);
  const acc = grown("acc", cout * plane, (m) => new Float64Array(m));
  const col = grown("col", width, (m) => new Float64Array(m)), live = grown("live", cin, (m) => new Int32Array(m));
  for (let s = 0; s < n; s++) {
    for (let oc = 0; oc < cout; oc++) acc.fill(b[oc], oc * plane, (oc + 1) * plane);
    const xs = s * cin * area;
    for (let iy = 0; iy < hin; iy++) {
      for (let ix = 0; ix < hin; ix++) {
        const at = xs + iy * hin + ix;
        let m = 0;
        for (let ic = 0; ic < cin; ic++) if (x[at + ic * area] !== 0) live[m++] = ic;
        col.fill(0, 0, width);
        let c = 0;
        for (; c + 4 <= m; c += 4) {
          const i0 = live[c], i1 = live[c + 1], i2 = live[c + 2], i3 = live[c + 3];
          const v0 = x[at + i0 * area], v1 = x[at + i1 * area], v2 = x[at + i2 * area], v3 = x[at + i3 * area];
          const r0 = i0 * width, r1 = i1 * width, r2 = i2 * width, r3 = i3 * width;
          for (let j = 0; j < width; j++) col[j] = col[j] + v0 * W[r0 + j] + v1 * W[r1 + j] + v2 * W[r2 + j] + v3 * W[r3 + j];
        }
        for (; c < m; c++) {
          const ic = live[c], v = x[at + ic * area], row = ic * width;
          for (let j = 0; j < width; j++) col[j] += v * W[row + j];
        }
        for (let ky = 0; ky < k; ky++) {
          const oy = iy * st - p + ky;
          if (oy < 0 || oy >= hout) continue;
          for (let kx = 0; kx < k; kx++) {
            const ox = ix * st - p + kx;
            if (ox < 0 || ox >= hout) continue;
            const to = oy * hout + ox, from = ky * k + kx;
            for (let oc = 0; oc < cout; oc++) acc[oc * plane + to] += col[oc * kk + from];
          }
        }
      }
    }
    const ys = s * cout * plane;
    for (let i = 0; i < cout * plane; i++) y[ys + i] = acc[i];
  }
  return y;
}

// The network's raw output (n, num_params * 784): channel c of sample s at [s * P * 784 + c * 784 + pixel]
export function forward(network, weights, z, n) {
  let x = z;
  for (const layer of network.layers) {
    if (layer.op === "linear") x = linear(x, n, layer, weights);
    else if (layer.op === "conv_transpose2d") x = convTranspose2d(x, n, layer, weights);
    else if (layer.op === "conv2d") x = conv2d(x, n, layer, weights);
    else if (layer.op === "residual") x = residual(x, n, layer, weights);
    else if (layer.op === "group_norm") groupNorm(x, n, layer, weights);
    else if (layer.op === "unflatten") continue;  // row-major (C, H, W) is already the flat layout
    else if (layer.op in ACTIVATIONS) {
      const f = ACTIVATIONS[layer.op];
      for (let i = 0; i < x.length; i++) x[i] = f(x[i]);
    } else throw new Error(`unknown layer ${layer.op}`);
  }
  return x;
}

// torch's Conv2d, 3x3, stride 1, padding 1: out[oc, y, x] = b[oc] + sum_{ic, ky, kx} W[oc, ic, ky, kx]
// in[ic, y - 1 + ky, x - 1 + kx], zero outside the map; W's layout is (out, in, 3, 3). Each sample's input is
// copied once into a zero-bordered float64 scratch, so the inner loop has no bounds test; each pass over a plane
// then serves two output channels with their 18 weights held in locals (each input read once for both).
// Sums in float64 over (ic, ky, kx) in that order; torch sums float32 in its own order (within the tolerance).
const conv2dScratch = {pad: new Float64Array(0), acc: new Float64Array(0)};
function conv2d(x, n, layer, w) {
  const {in: cin, out: cout, kernel: k, padding: p, size_in: h} = layer;
  if (k !== 3 || p !== 1) throw new Error(`conv2d computes 3x3 kernels with padding 1, not ${k}x${k} with ${p}`);
  const H = h + 2, padArea = H * H, plane = h * h, area = cin * plane;
  const W = w.subarray(layer.weight, layer.weight + cout * cin * 9), b = w.subarray(layer.bias, layer.bias + cout);
  if (conv2dScratch.pad.length < cin * padArea) conv2dScratch.pad = new Float64Array(cin * padArea);
  if (conv2dScratch.acc.length < 2 * plane) conv2dScratch.acc = new Float64Array(2 * plane);
  const pad = conv2dScratch.pad, acc = conv2dScratch.acc;
  pad.fill(0, 0, cin * padArea);  // the border stays zero; every sample overwrites the inside
  const y = new Float32Array(n * cout * plane);
  for (let s = 0; s < n; s++) {
    const xs = s * area, ys = s * cout * plane;
    for (let ic = 0; ic < cin; ic++) {
      for (let r = 0; r < h; r++) {
        const from = xs + ic * plane + r * h, to = ic * padArea + (r + 1) * H + 1;
        for (let c = 0; c < h; c++) pad[to + c] = x[from + c];
      }
    }
    for (let oc = 0; oc < cout; oc += 2) {
      const two = oc + 1 < cout, b1 = two ? b[oc + 1] : 0;
      acc.fill(b[oc], 0, plane);
      acc.fill(b1, plane, 2 * plane);
      for (let ic = 0; ic < cin; ic++) {
        const u = (oc * cin + ic) * 9, v = two ? u + cin * 9 : u;  // a lone last channel computes itself twice
        const u0 = W[u], u1 = W[u + 1], u2 = W[u + 2], u3 = W[u + 3], u4 = W[u + 4], u5 = W[u + 5], u6 = W[u + 6],
          u7 = W[u + 7], u8 = W[u + 8];
        const v0 = W[v], v1 = W[v + 1], v2 = W[v + 2], v3 = W[v + 3], v4 = W[v + 4], v5 = W[v + 5], v6 = W[v + 6],
          v7 = W[v + 7], v8 = W[v + 8];
        const base = ic * padArea;
        for (let r = 0; r < h; r++) {
          const t = base + r * H, m = t + H, d = m + H, o = r * h;
          for (let c = 0; c < h; c++) {
            const a0 = pad[t + c], a1 = pad[t + c + 1], a2 = pad[t + c + 2], a3 = pad[m + c], a4 = pad[m + c + 1],
              a5 = pad[m + c + 2], a6 = pad[d + c], a7 = pad[d + c + 1], a8 = pad[d + c + 2];
            acc[o + c] += a0 * u0 + a1 * u1 + a2 * u2 + a3 * u3 + a4 * u4 + a5 * u5 + a6 * u6 + a7 * u7 + a8 * u8;
            acc[plane + o + c] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3 + a4 * v4 + a5 * v5 + a6 * v6 + a7 * v7
              + a8 * v8;
          }
        }
      }
      const at = ys + oc * plane;
      for (let i = 0; i < plane; i++) y[at + i] = acc[i];
      if (two) for (let i = 0; i < plane; i++) y[at + plane + i] = acc[plane + i];
    }
  }
  return y;
}

// torch's GroupNorm, in place: each sample's channels in `groups` groups, each group normalized by its own mean
// and biased variance over its channels and pixels (y = (x - mean) / sqrt(var + eps)), then each channel scaled and
// shifted by its weight and bias. Sums in float64 (torch in float32, within the tolerance).
function groupNorm(x, n, layer, w) {
  const c = layer.channels, g = layer.groups, plane = layer.size_in * layer.size_in;
  const per = (c / g) * plane, gamma = layer.weight, beta = layer.bias;
  for (let s = 0; s < n; s++) {
    for (let k = 0; k < g; k++) {
      const start = (s * c + k * (c / g)) * plane;
      let sum = 0, sq = 0;
      for (let i = start; i < start + per; i++) sum += x[i];
      const mean = sum / per;
      for (let i = start; i < start + per; i++) { const d = x[i] - mean; sq += d * d; }
      const inv = 1 / Math.sqrt(sq / per + layer.eps);
      for (let ch = k * (c / g); ch < (k + 1) * (c / g); ch++) {
        const a = w[gamma + ch] * inv, b = w[beta + ch] - mean * a, from = (s * c + ch) * plane;
        for (let i = from; i < from + plane; i++) x[i] = x[i] * a + b;
      }
    }
  }
}

// vae_core's ResidualBlock: x + body(x). The body runs on a copy, since forward's activations work in place.
function residual(x, n, layer, w) {
  const body = forward(layer, w, x.slice(), n);
  for (let i = 0; i < body.length; i++) body[i] += x[i];
  return body;
}

// ------------------------------------------------------------------------------------------- likelihoods
// Decoder output -> p(x|z)'s parameters, one entry per likelihood key of vae_core/model/likelihoods.py.
function cbMean(l) {  // LogitContinuousBernoulli.mean
  if (Math.abs(l) < 0.3) return 0.5 + l / 12 - l ** 3 / 720 + l ** 5 / 30240;
  return -1 / Math.expm1(-l) - 1 / l;
}

// DiscretizedNormal.mean: (1/255) sum_{k=1..255} Phi((loc - (k - 1/2)/255) / sigma). Terms whose argument is beyond
// +-TAIL are 1 or 0 to within Phi(-TAIL) = 1e-17, so only the bins within TAIL sigmas of loc are evaluated.
// Within the window Phi comes from a table at steps of 1/1024 with linear interpolation: error at most
// h^2/8 max|phi'| = 3e-8 per term, so the mean is within 3e-8 (erfc on every term is 5-10x slower).
const TAIL = 8.5, PHI_STEPS = 1024;
let phiTable = null;
function phi(x) {
  if (phiTable === null) {
    phiTable = new Float64Array(2 * TAIL * PHI_STEPS + 2);
    for (let i = 0; i < phiTable.length; i++) phiTable[i] = ndtr(i / PHI_STEPS - TAIL);
  }
  const t = (Math.min(Math.max(x, -TAIL), TAIL) + TAIL) * PHI_STEPS, i = Math.floor(t);
  return phiTable[i] + (t - i) * (phiTable[i + 1] - phiTable[i]);
}

// The bins' arguments are multiplied by 1/255 and 1/sigma rather than divided (two divisions per term were most of
// a discretized column's time; the arguments move by about 1e-16 relative).
const BIN = 1 / 255;
function discretizedMean(loc, sigma) {
  const centre = loc * 255 + 0.5, reach = TAIL * sigma * 255, scale = 1 / sigma;
  const lo = Math.min(Math.max(Math.ceil(centre - reach), 1), 256), hi = Math.min(Math.floor(centre + reach), 255);
  let total = lo - 1;  // k < lo: Phi(> TAIL) = 1
  for (let k = lo; k <= hi; k++) total += phi((loc - (k - 0.5) * BIN) * scale);
  return total / 255;
}

const GAUSSIAN_LOC = (o, lik) => (lik.free_mean ? o : sigmoid(o));
const put = (res, at, loc, sigma) => { res.loc[at] = loc; res.sigma[at] = sigma; res.mean[at] = loc; };
// key -> the parameters it has, and (out0, out1, likelihood constants, res, at) writing them at res[name][at]: the
// maps of vae_core/likelihoods.py, one pixel at a time without an object per pixel (a board decodes thousands).
export const LIKELIHOOD_PARAMS = {
  "bernoulli": [["logits", "mean"], (o0, o1, lik, res, at) => { res.logits[at] = o0; res.mean[at] = sigmoid(o0); }],
  "continuous-bernoulli": [["logits", "mean"], (o0, o1, lik, res, at) => {
    res.logits[at] = o0; res.mean[at] = cbMean(o0);
  }],
  "gaussian-fixed": [["loc", "sigma", "mean"], (o0, o1, lik, res, at) => put(res, at, sigmoid(o0), lik.sigma)],
  "gaussian-shared": [["loc", "sigma", "mean"], (o0, o1, lik, res, at) => put(res, at, sigmoid(o0), lik.sigma)],
  "gaussian-optimal": [["loc", "sigma", "mean"], (o0, o1, lik, res, at) => put(res, at, sigmoid(o0), lik.sigma)],
  "gaussian-pixel": [["loc", "sigma", "mean"], (o0, o1, lik, res, at) => put(res, at, sigmoid(o0), Math.exp(o1))],
  "gaussian-pixel-floor": [["loc", "sigma", "mean"], (o0, o1, lik, res, at) =>
    put(res, at, sigmoid(o0), lik.sigma_min + softplus(o1))],
  "discretized-gaussian": [["loc", "sigma", "mean"], (o0, o1, lik, res, at) => {
    const loc = GAUSSIAN_LOC(o0, lik), sigma = Math.exp(Math.max(o1, -9));
    res.loc[at] = loc; res.sigma[at] = sigma; res.mean[at] = discretizedMean(loc, sigma);
  }],
};

export function decodeParams(model, z, n) {
  const out = forward(model.network, model.weights, z, n);
  const lik = model.likelihood, P = lik.num_params;
  if (!LIKELIHOOD_PARAMS[lik.key]) throw new Error(`unknown likelihood ${lik.key}`);
  const [names, fill] = LIKELIHOOD_PARAMS[lik.key];
  const make = (name) => (names.includes(name) ? new Float32Array(n * PIXELS) : null);
  const res = {n, mean: make("mean"), sigma: make("sigma"), logits: make("logits"), loc: make("loc")};
  for (let s = 0; s < n; s++) {
    const base = s * P * PIXELS;
    for (let i = 0; i < PIXELS; i++) fill(out[base + i], P > 1 ? out[base + PIXELS + i] : 0, lik, res, s * PIXELS + i);
  }
  return res;
}

function cbIcdf(l, u) {  // LogitContinuousBernoulli.icdf
  const neg = -Math.abs(l), v = l < 0 ? u : 1 - u;
  const x = neg === 0 ? v : Math.log1p(v * Math.expm1(neg)) / neg;
  return Math.min(Math.max(l < 0 ? x : 1 - x, 0), 1);
}

// One full sample x ~ p(x|z) per decoded code, one draw of r per pixel in order (not clipped, as the app's).
export function drawSample(params, key, r) {
  const x = new Float32Array(params.mean.length);
  for (let i = 0; i < x.length; i++) {
    if (key === "bernoulli") x[i] = r.uniform() < params.mean[i] ? 1 : 0;
    else if (key === "continuous-bernoulli") x[i] = cbIcdf(params.logits[i], r.uniform());
    else {
      const y = params.loc[i] + params.sigma[i] * r.normal();
      x[i] = key === "discretized-gaussian" ? Math.round(Math.min(Math.max(y, 0), 1) * 255) / 255 : y;
    }
  }
  return x;
}

// ------------------------------------------------------------------------------------------- the posterior on a grid
// p(z|x) of one test image on a grid of the 2-D plane, computed here rather than exported, so any image of the sample
// can be chosen: log p(x|z) + log p(z) per grid point with the log densities of vae_core/likelihoods.py, as
// vae_core.quadrature.posterior_grid evaluates them (tests/test_static_site.py compares the two).

// The Latent page's model input of one image (vae_core.data.to_model_input): ``noise`` is the 784 float32 uniforms
// of a fresh generator of seed 0 (data/posteriors/input-noise.bin). Every step is one float32 operation, as torch's.
const U_LO = 2 ** -17, U_HI = 1 - 2 ** -16;  // to_model_input's clamp of the dequantization noise
export function modelInput(pixels, kind, noise) {
  const x = new Float32Array(PIXELS);
  for (let i = 0; i < PIXELS; i++) {
    const v = pixels[i];
    if (kind === "binary") x[i] = noise[i] < Math.fround(v / 255) ? 1 : 0;
    else if (kind === "continuous") x[i] = Math.fround(v + Math.min(Math.max(noise[i], U_LO), U_HI)) / 256;
    else if (kind === "discrete" || kind === "raw") x[i] = Math.fround(v / 255);
    else throw new Error(`unknown data kind ${kind}`);
  }
  return x;
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
const bernoulliLogProb = (l, x) => x * l - (Math.max(l, 0) + Math.log1p(Math.exp(-Math.abs(l))));  // -BCE(logits)
function cbLogNorm(l) {  // LogitContinuousBernoulli._cont_bern_log_norm: log(lambda / tanh(lambda / 2))
  const a = Math.abs(l);
  return a < 1e-4 ? Math.LN2 + (l * l) / 12 : Math.log(a / Math.tanh(a / 2));
}
function normalLogProb(x, loc, sigma) {  // torch.distributions.Normal.log_prob
  const d = x - loc;
  return -(d * d) / (2 * sigma * sigma) - Math.log(sigma) - LOG_SQRT_2PI;
}
// key -> (out0, out1, likelihood constants, x) -> log p(x_pixel | z). The Gaussians' loc and sigma come from
// LIKELIHOOD_PARAMS, written into one-pixel float32 arrays as torch holds them. The discretized Gaussian's bin
// masses (differences of log_ndtr) are not written here: no 2-D model of the zoo uses it.
const ONE = {loc: new Float32Array(1), sigma: new Float32Array(1), mean: new Float32Array(1)};
const gaussianLogProb = (key) => {
  const fill = LIKELIHOOD_PARAMS[key][1];
  return (o0, o1, lik, x) => { fill(o0, o1, lik, ONE, 0); return normalLogProb(x, ONE.loc[0], ONE.sigma[0]); };
};
export const PIXEL_LOG_PROB = {
  "bernoulli": (o0, o1, lik, x) => bernoulliLogProb(o0, x),
  "continuous-bernoulli": (o0, o1, lik, x) => bernoulliLogProb(o0, x) + cbLogNorm(o0),
  ...Object.fromEntries(["gaussian-fixed", "gaussian-shared", "gaussian-optimal", "gaussian-pixel",
                         "gaussian-pixel-floor"].map((key) => [key, gaussianLogProb(key)])),
};

const JOINT_CHUNK = 512;  // codes decoded at a time: bounds the memory of a grid's decoder outputs (3 MB)
/** log p(x|z) + log p(z) (Float64Array(n)) for n codes z (Float32Array(n * latentDim)) and one model input x.
 * ``onChunk(m)``, if given, is called after each chunk of m codes (the Latent page's worker reports progress). */
export function logJoint(model, z, n, x, onChunk = null) {
  const lik = model.likelihood, logProb = PIXEL_LOG_PROB[lik.key], P = lik.num_params, L = model.latentDim;
  if (!logProb) throw new Error(`the browser computes no log p(x|z) for the ${lik.key} decoder`);
  const joint = new Float64Array(n);
  for (let start = 0; start < n; start += JOINT_CHUNK) {
    const m = Math.min(JOINT_CHUNK, n - start);
    const out = forward(model.network, model.weights, z.subarray(start * L, (start + m) * L), m);
    for (let s = 0; s < m; s++) {
      const base = s * P * PIXELS;
      let total = 0;
      for (let i = 0; i < PIXELS; i++) total += logProb(out[base + i], P > 1 ? out[base + PIXELS + i] : 0, lik, x[i]);
      for (let d = 0; d < L; d++) { const v = z[(start + s) * L + d]; total += -0.5 * v * v - LOG_SQRT_2PI; }
      joint[start + s] = total;
    }
    if (onChunk) onChunk(m);
  }
  return joint;
}

function linspace(lo, hi, points) {  // float32 grid coordinates (the decoder's inputs are float32)
  return Float32Array.from({length: points}, (_, i) => lo + ((hi - lo) * i) / (points - 1));
}

/** log p(x|z) + log p(z) on ``points`` x ``points`` codes over ``box`` = [z1 lo, z1 hi, z2 lo, z2 hi]: joint[i *
 * points + j] at (z1[i], z2[j]), the layout of vae_core.quadrature.posterior_grid. */
export function jointGrid(model, x, box, points, onChunk = null) {
  const z1 = linspace(box[0], box[1], points), z2 = linspace(box[2], box[3], points);
  const z = new Float32Array(2 * points * points);
  for (let i = 0; i < points; i++) for (let j = 0; j < points; j++) {
    z[2 * (i * points + j)] = z1[i];
    z[2 * (i * points + j) + 1] = z2[j];
  }
  return {z1, z2, points, box, joint: logJoint(model, z, points * points, x, onChunk)};
}

/** Where p(z|x) lies: a coarse grid over q's mean +- REACH sd; while the cells within ``floor`` nats of the best
 * touch the grid's edge, the grid is doubled about its best cell (at most TRIES times). Returns the box around
 * those cells, one coarse cell of margin on each side, whether the posterior still reached the edge, and the
 * number of codes decoded. */
const COARSE = 15, REACH = 8, TRIES = 5;
export function posteriorBox(model, x, qMean, qStd, floor = 20, onChunk = null) {
  let centre = [qMean[0], qMean[1]], half = [REACH * qStd[0], REACH * qStd[1]];
  for (let t = 0; t < TRIES; t++) {
    const g = jointGrid(model, x, [centre[0] - half[0], centre[0] + half[0], centre[1] - half[1], centre[1] + half[1]],
      COARSE, onChunk);
    let best = 0;
    for (let k = 1; k < g.joint.length; k++) if (g.joint[k] > g.joint[best]) best = k;
    let [i0, i1, j0, j1] = [COARSE, -1, COARSE, -1];
    for (let k = 0; k < g.joint.length; k++) {
      if (!(g.joint[k] >= g.joint[best] - floor)) continue;
      const i = Math.floor(k / COARSE), j = k % COARSE;
      i0 = Math.min(i0, i); i1 = Math.max(i1, i); j0 = Math.min(j0, j); j1 = Math.max(j1, j);
    }
    const touches = i0 === 0 || j0 === 0 || i1 === COARSE - 1 || j1 === COARSE - 1;
    const step = [(2 * half[0]) / (COARSE - 1), (2 * half[1]) / (COARSE - 1)];
    if (!touches || t === TRIES - 1) {
      return {box: [g.z1[0] + (i0 - 1) * step[0], g.z1[0] + (i1 + 1) * step[0],
                    g.z2[0] + (j0 - 1) * step[1], g.z2[0] + (j1 + 1) * step[1]], reachesEdge: touches,
              decoded: (t + 1) * COARSE * COARSE};
    }
    centre = [g.z1[Math.floor(best / COARSE)], g.z2[best % COARSE]];
    half = [2 * half[0], 2 * half[1]];
  }
  throw new Error("unreachable");
}

/** The posterior of one image on a ``points`` grid: the grid, log p(z|x) normalised on it (log density), and the
 * midpoint rule's estimate of log p(x) = logsumexp(joint) + log(cell area) with the change from the grid of every
 * other point (a size of its error, as the app's quadrature reports the change on its last halving). */
export function posteriorOnGrid(model, x, box, points, onChunk = null) {
  const g = jointGrid(model, x, box, points, onChunk);
  const area = ((box[1] - box[0]) / (points - 1)) * ((box[3] - box[2]) / (points - 1));
  const lse = (keep) => {
    let top = -Infinity;
    for (let k = 0; k < g.joint.length; k++) if (keep(k) && g.joint[k] > top) top = g.joint[k];
    let sum = 0;
    for (let k = 0; k < g.joint.length; k++) if (keep(k)) sum += Math.exp(g.joint[k] - top);
    return top + Math.log(sum);
  };
  const logPx = lse(() => true) + Math.log(area);
  const coarse = lse((k) => Math.floor(k / points) % 2 === 0 && (k % points) % 2 === 0) + Math.log(4 * area);
  const logDensity = Float64Array.from(g.joint, (v) => v - logPx);
  return {...g, area, logPx, logPxChange: Math.abs(logPx - coarse), logDensity};
}

// ------------------------------------------------------------------------------------------- loading
const cache = new Map();  // url -> Promise of the fetched thing: each file is fetched once per page

function once(url, read) {
  if (!cache.has(url)) {
    cache.set(url, fetch(url).then((r) => {
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
      return read(r);
    }));
  }
  return cache.get(url);
}

export async function loadZoo(base = "data/") {
  const zoo = await once(base + "zoo.json", (r) => r.json());
  zoo.base = base;
  return zoo;
}

function entry(zoo, name) {
  const m = Object.prototype.hasOwnProperty.call(zoo.models, name) ? zoo.models[name] : null;
  if (!m) throw new Error(`unknown model ${name}`);
  return m;
}

export async function loadModel(zoo, name) {
  const info = entry(zoo, name);
  const buffer = await once(zoo.base + info.network.file, (r) => r.arrayBuffer());
  if (buffer.byteLength !== info.network.bytes) throw new Error(`${info.network.file}: ${buffer.byteLength} bytes, `
    + `zoo.json says ${info.network.bytes}`);
  const model = {name, info, latentDim: info.latent_dim, likelihood: info.likelihood, network: info.network,
    weights: new Float32Array(buffer)};
  model.decode = (z, n) => decodeParams(model, z, n);
  return model;
}

export async function loadCodes(zoo, name) {
  const info = entry(zoo, name);
  return new Float32Array(await once(zoo.base + info.codes.file, (r) => r.arrayBuffer()));
}

export async function loadSample(zoo, dataset) {
  const info = zoo.datasets[dataset];
  if (!info) throw new Error(`unknown dataset ${dataset}`);
  const bytes = new Uint8Array(await once(zoo.base + info.sample, (r) => r.arrayBuffer()));
  return {count: info.count, images: bytes.subarray(0, info.count * PIXELS),
    labels: bytes.subarray(info.count * PIXELS)};
}

/** What the browser needs to compute a 2-D model's posterior for any test image: the input noise (784) and q(z|x)'s
 * mean and sd per image (Float32Array(N * 4)), or null when the export has none for the model. */
export async function loadPlaneInputs(zoo, name) {
  const info = entry(zoo, name).encoder_q;
  if (!info) return null;
  const [noise, q] = await Promise.all([info.noise, info.file].map((file) =>
    once(zoo.base + file, (r) => r.arrayBuffer()).then((b) => new Float32Array(b))));
  return {noise, q, seed: info.seed};
}
