// The live page: arousal, dominance and valence of the microphone,
// computed in the browser with onnxruntime-web (WebAssembly).
//
// Served by `wav2small serve-web --model PACKAGE`, which also serves the
// package's ONNX files at model/ and describes them in model/info.json.
// The microphone goes through an AudioWorklet (capture-worklet.js) that
// posts one 16 kHz window every hop; each window is scored here as
// OnnxEmotionDimensions.predict_batch scores it in Python, and plotted.
//
// Query parameters:
//   model=int8|float  the model file (default: the server's default, int8
//                     when the package has it)
//   window=S, hop=S   seconds per window and between windows (3 and 0.5,
//                     as `wav2small stream`)
//   rate=native       run the AudioContext at the device's rate and
//                     resample in the worklet (default: ask for 16 kHz)
//   record=N          keep the samples of the last N windows in
//                     window.wav2small.windows (for tests; without it
//                     only their scores are kept, so memory stays flat)

import * as ort from "./vendor/ort.wasm.min.mjs";
import { TimePlot } from "./plot.js";

const params = new URLSearchParams(location.search);
const WINDOW_SECONDS = Number(params.get("window") || 3);
const HOP_SECONDS = Number(params.get("hop") || 0.5);
const RECORD = Math.max(0, Number(params.get("record") || 0));
// Windows whose scores (not samples) are kept: the last minute at the
// default hop.
const KEEP = Math.max(RECORD, Math.ceil(60 / HOP_SECONDS));

// The runtime comes from vendor/ only (copied there from the pinned npm
// package by tools/build_web.sh), never from a CDN.
ort.env.wasm.wasmPaths = new URL("vendor/", location.href).href;
// One thread: more would need SharedArrayBuffer, which browsers give only
// to cross-origin-isolated pages (COOP/COEP headers); a 3 s window takes
// a few milliseconds on one thread, so the page needs no isolation.
ort.env.wasm.numThreads = 1;

// What the page exposes for tests and the curious.
const state = {
  ready: false,
  running: false,
  error: null,
  model: null, // {kind, file, bytes}
  runtime: `onnxruntime-web ${ort.env.versions?.web ?? "?"}`,
  contextRate: null,
  modelRate: null,
  windows: [], // {end, start, seconds, scores, ms[, samples]}
  scored: 0,
  dropped: 0,
};
window.wav2small = state;

const $ = (id) => document.getElementById(id);

function fail(message) {
  state.error = String(message);
  $("status").textContent = `error: ${state.error}`;
  $("status").classList.add("error");
  console.error(state.error);
}

function formatBytes(bytes) {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MB`;
}

// The model: the server's description, then the file, then a session.
async function loadModel() {
  const response = await fetch("model/info.json");
  if (!response.ok) throw new Error(`model/info.json: ${response.status}`);
  const info = await response.json();
  const kind = params.get("model") || info.default;
  const entry = info.models[kind];
  if (!entry) {
    throw new Error(
      `this server has no ${kind} model (it has: ` +
        `${Object.keys(info.models).join(", ")})`,
    );
  }
  const file = await fetch(entry.url);
  if (!file.ok) throw new Error(`${entry.url}: ${file.status}`);
  const bytes = new Uint8Array(await file.arrayBuffer());
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["wasm"],
    // The settings the file asks for in its metadata (as
    // onnx_emotion.load_session applies them), e.g. how an int8 file
    // with float arithmetic keeps its weights.
    extra: entry.session_config || {},
  });
  // Fed as OnnxEmotionDimensions feeds it: the waveform first, then the
  // relative lengths when the graph takes them; the first output is the
  // scores.
  const wavs = session.inputNames[0];
  if (wavs !== info.inputs.wavs) {
    throw new Error(
      `${entry.file} has inputs ${session.inputNames}; expected ` +
        `'${info.inputs.wavs}' first, as written by wav2small export`,
    );
  }
  const lengths = session.inputNames.includes(info.inputs.lengths)
    ? info.inputs.lengths
    : null;
  state.model = { kind, file: entry.file, bytes: bytes.length };
  state.modelRate = info.sample_rate;
  $("model").textContent = `${entry.file} (${kind})`;
  $("size").textContent =
    `${formatBytes(bytes.length)} (${bytes.length} bytes)`;
  $("runtime").textContent = `${state.runtime}, WebAssembly, 1 thread`;
  return { session, wavs, lengths, output: session.outputNames[0], info };
}

// One window through the model: {scores, ms}.
async function score(model, samples) {
  const feeds = {
    [model.wavs]: new ort.Tensor("float32", samples, [1, samples.length]),
  };
  if (model.lengths) {
    feeds[model.lengths] = new ort.Tensor("float32", new Float32Array([1]), [
      1,
    ]);
  }
  const began = performance.now();
  const results = await model.session.run(feeds, [model.output]);
  const ms = performance.now() - began;
  return { scores: Array.from(results[model.output].data), ms };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function startMicrophone(model, plot) {
  const stream = await navigator.mediaDevices.getUserMedia({
    // The model hears the microphone as recorded: no echo cancelling,
    // noise suppression or gain control reshaping the voice.
    audio: {
      echoCancellation: false,
      noiseSuppression: false,
      autoGainControl: false,
    },
  });
  const rate = model.info.sample_rate;
  let context = null;
  let source = null;
  if (params.get("rate") !== "native") {
    // The browser resamples the microphone to the model's rate itself
    // (Chromium does); one that cannot connect a microphone to a context
    // of another rate throws here, and the worklet resamples instead.
    try {
      context = new AudioContext({ sampleRate: rate });
      source = context.createMediaStreamSource(stream);
    } catch (error) {
      console.warn(`no ${rate} Hz AudioContext (${error}); resampling here`);
      if (context) await context.close();
      context = null;
    }
  }
  if (!context) {
    context = new AudioContext();
    source = context.createMediaStreamSource(stream);
  }
  await context.audioWorklet.addModule("capture-worklet.js");
  const node = new AudioWorkletNode(context, "wav2small-windows", {
    numberOfInputs: 1,
    numberOfOutputs: 1,
    processorOptions: {
      inputRate: context.sampleRate,
      modelRate: rate,
      window: WINDOW_SECONDS,
      hop: HOP_SECONDS,
    },
  });
  source.connect(node);
  // The node writes nothing to its output (silence), but a node connected
  // to the destination is pulled by every browser's render loop.
  node.connect(context.destination);
  await context.resume();
  state.contextRate = context.sampleRate;
  const stop = async () => {
    node.port.onmessage = null;
    for (const track of stream.getTracks()) track.stop();
    await context.close();
  };
  $("rates").textContent =
    context.sampleRate === rate
      ? `${rate} Hz (resampled by the browser)`
      : `${context.sampleRate} Hz, resampled to ${rate} Hz in the worklet`;

  // Windows wait here while the model runs; should scoring fall behind,
  // the older ones are dropped (and counted), so memory stays flat.
  let pending = [];
  let busy = false;
  const latencies = [];
  node.port.onmessage = async ({ data }) => {
    pending.push(data);
    if (pending.length > 2) {
      state.dropped += pending.length - 2;
      pending = pending.slice(-2);
    }
    if (busy) return;
    busy = true;
    try {
      while (pending.length) {
        const { end, samples } = pending.shift();
        const { scores, ms } = await score(model, samples);
        const seconds = end / rate;
        const record = {
          end,
          start: end - samples.length,
          seconds,
          scores,
          ms,
        };
        state.windows.push(record);
        state.scored += 1;
        if (state.windows.length > KEEP) state.windows.shift();
        // Only the last RECORD windows keep their samples.
        if (RECORD) {
          record.samples = samples;
          const old = state.windows.length - 1 - RECORD;
          if (old >= 0) delete state.windows[old].samples;
        }
        latencies.push(ms);
        if (latencies.length > KEEP) latencies.shift();
        plot.add(seconds, scores);
        $("latency").textContent =
          `${ms.toFixed(2)} ms (median of the last ${latencies.length}: ` +
          `${median(latencies).toFixed(2)} ms)`;
        $("windows").textContent =
          `${state.scored} (${WINDOW_SECONDS} s every ${HOP_SECONDS} s` +
          `${state.dropped ? `, ${state.dropped} dropped` : ""})`;
        $("status").textContent = `listening: ${seconds.toFixed(1)} s`;
      }
    } catch (error) {
      fail(error);
    } finally {
      busy = false;
    }
  };
  return stop;
}

async function main() {
  const plot = new TimePlot($("plot"), ["arousal", "dominance", "valence"]);
  plot.draw();
  $("window").textContent = `${WINDOW_SECONDS} s every ${HOP_SECONDS} s`;
  let model;
  try {
    const usable = WINDOW_SECONDS > 0 && HOP_SECONDS > 0;
    if (!(usable && HOP_SECONDS <= WINDOW_SECONDS)) {
      throw new Error("window and hop must be positive, hop at most window");
    }
    model = await loadModel();
    plot.names = model.info.dimensions;
  } catch (error) {
    fail(error);
    return;
  }
  state.ready = true;
  $("status").textContent = "ready: press Start";
  const button = $("start");
  button.disabled = false;
  let stop = null;
  button.addEventListener("click", async () => {
    button.disabled = true;
    if (stop) {
      await stop();
      stop = null;
      state.running = false;
      $("status").textContent = "stopped";
      button.textContent = "Start the microphone";
    } else {
      $("status").textContent = `waiting for the first ${WINDOW_SECONDS} s`;
      try {
        stop = await startMicrophone(model, plot);
        state.running = true;
        button.textContent = "Stop";
      } catch (error) {
        fail(`microphone: ${error}`);
      }
    }
    button.disabled = false;
  });
}

main();
