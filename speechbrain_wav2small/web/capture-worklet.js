// The AudioWorklet of the live page: microphone blocks in, one window of
// 16 kHz mono samples out every hop.
//
// It does on the audio thread what `wav2small stream` does in Python
// (speechbrain_wav2small/inference/live.py): the channels are averaged to
// mono, resampled to the model's rate when the AudioContext runs at
// another one, and kept in a ring buffer of exactly one window (constant
// memory however long the page runs); whenever the stream reaches the end
// of a window (the first after `window` seconds, then every `hop`
// seconds), a copy of the window, oldest sample first, is posted to the
// page with its end (samples since the start), which scores it.

// Windowed-sinc resampling, written here by hand because no maintained
// resampler runs inside an AudioWorklet (the Python side uses soxr). The
// page first asks the browser for a 16 kHz AudioContext, and Chromium
// then resamples the microphone itself; this resampler runs only where a
// browser refuses that rate (Firefox cannot connect a microphone to a
// context of another rate) or when the page is asked for the device's
// rate (?rate=native). Linear interpolation would not do: going down from
// 44.1 or 48 kHz, everything above 8 kHz would fold back into the band
// the model hears. A Blackman-windowed sinc of 32 zero crossings, low-pass
// at 0.92 of the new Nyquist frequency, attenuates that by about 70 dB.
const ZERO_CROSSINGS = 16; // on each side of the centre tap
const CUTOFF = 0.92; // of the lower Nyquist frequency
const TABLE_STEPS = 512; // kernel table points per input sample

class SincResampler {
  // Streams `inRate` samples to `outRate`, block by block, in constant
  // memory; the output lags the input by the kernel's half-width (about
  // 1 ms at 48 kHz). Output sample n sits at input position n * ratio.
  constructor(inRate, outRate) {
    this.ratio = inRate / outRate;
    // Cutoff in cycles per input sample.
    const cutoff = 0.5 * Math.min(1, outRate / inRate) * CUTOFF;
    this.half = Math.ceil(ZERO_CROSSINGS / (2 * cutoff));
    // The kernel at 1/TABLE_STEPS of an input sample (read with linear
    // interpolation): sin() per tap would cost the audio thread more.
    this.table = new Float32Array(this.half * TABLE_STEPS + 2);
    for (let i = 0; i < this.table.length; i++) {
      const d = i / TABLE_STEPS;
      const u = Math.min(d / this.half, 1);
      const blackman =
        0.42 + 0.5 * Math.cos(Math.PI * u) + 0.08 * Math.cos(2 * Math.PI * u);
      const x = 2 * cutoff * d;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      this.table[i] = 2 * cutoff * sinc * blackman;
    }
    // Input history: samples from index `base` on (before the stream's
    // first sample, zeros).
    this.history = new Float32Array(2 * this.half + 4096);
    this.base = -this.half - 1;
    this.count = this.half + 1;
    this.next = 0; // the next output sample
    this.out = new Float32Array(4096);
  }

  kernel(distance) {
    const at = Math.abs(distance) * TABLE_STEPS;
    const i = Math.floor(at);
    if (i >= this.table.length - 1) return 0;
    const frac = at - i;
    return this.table[i] + frac * (this.table[i + 1] - this.table[i]);
  }

  // The output samples that `block` completes (a view, valid until the
  // next call).
  process(block) {
    if (this.count + block.length > this.history.length) {
      const bigger = new Float32Array(2 * (this.count + block.length));
      bigger.set(this.history.subarray(0, this.count));
      this.history = bigger;
    }
    this.history.set(block, this.count);
    this.count += block.length;
    const end = this.base + this.count; // one past the last input index
    let made = 0;
    for (;;) {
      const centre = this.next * this.ratio;
      const last = Math.floor(centre + this.half);
      if (last >= end) break;
      const first = Math.ceil(centre - this.half);
      let sum = 0;
      for (let k = first; k <= last; k++) {
        sum += this.history[k - this.base] * this.kernel(centre - k);
      }
      if (made === this.out.length) {
        const bigger = new Float32Array(2 * made);
        bigger.set(this.out);
        this.out = bigger;
      }
      this.out[made++] = sum;
      this.next++;
    }
    // Drop the inputs that no later output reads.
    const keepFrom = Math.ceil(this.next * this.ratio - this.half);
    const drop = Math.max(0, Math.min(keepFrom - this.base, this.count));
    if (drop > 0) {
      this.history.copyWithin(0, drop, this.count);
      this.count -= drop;
      this.base += drop;
    }
    return this.out.subarray(0, made);
  }
}

class WindowProcessor extends AudioWorkletProcessor {
  // processorOptions: inputRate (the context's), modelRate, window and
  // hop (seconds), as `wav2small stream`'s --window and --hop.
  constructor(options) {
    super();
    const { inputRate, modelRate, window, hop } = options.processorOptions;
    this.resampler =
      inputRate === modelRate ? null : new SincResampler(inputRate, modelRate);
    this.size = Math.round(window * modelRate);
    this.hop = Math.max(Math.round(hop * modelRate), 1);
    this.ring = new Float32Array(this.size);
    this.total = 0; // samples pushed so far (the end of the latest window)
    this.nextEnd = this.size;
    this.mono = new Float32Array(128);
  }

  process(inputs) {
    const channels = inputs[0];
    // No channels: the microphone is not delivering (yet); time stands.
    if (!channels || channels.length === 0) return true;
    const frames = channels[0].length;
    if (this.mono.length !== frames) this.mono = new Float32Array(frames);
    this.mono.fill(0);
    for (const channel of channels) {
      for (let i = 0; i < frames; i++) this.mono[i] += channel[i];
    }
    if (channels.length > 1) {
      for (let i = 0; i < frames; i++) this.mono[i] /= channels.length;
    }
    const samples = this.resampler
      ? this.resampler.process(this.mono)
      : this.mono;
    this.push(samples);
    return true;
  }

  // The ring buffer of live.SlidingWindow.push: never more than the
  // distance to the next window's end at once.
  push(samples) {
    let start = 0;
    while (start < samples.length) {
      const count = Math.min(samples.length - start, this.nextEnd - this.total);
      for (let i = 0; i < count; i++) {
        this.ring[(this.total + i) % this.size] = samples[start + i];
      }
      this.total += count;
      start += count;
      if (this.total === this.nextEnd) {
        this.nextEnd += this.hop;
        const at = this.total % this.size;
        const window = new Float32Array(this.size);
        window.set(this.ring.subarray(at), 0);
        window.set(this.ring.subarray(0, at), this.size - at);
        this.port.postMessage({ end: this.total, samples: window }, [
          window.buffer,
        ]);
      }
    }
  }
}

registerProcessor("wav2small-windows", WindowProcessor);

// For tests outside a browser (node, with registerProcessor and
// AudioWorkletProcessor stubbed).
export { SincResampler, WindowProcessor };
