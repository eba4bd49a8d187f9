"""The live web page (``wav2small serve-web``), in a real browser.

Debian's headless Chromium loads the page from ``wav2small serve-web`` on
the packaged, fitted Wav2Small of the test session, with its fake
microphone playing real speech (three 16 kHz recordings of tests/data,
joined; Chromium loops the file). The page scores a 3 s window every
0.5 s with onnxruntime-web; the test reads each window's samples and
scores back from the page and scores the same samples with
``OnnxEmotionDimensions.predict_batch`` in Python. The comparison is on
the samples the page's model received, so resampling (Chromium's fake
capture hands the file over at its device rate, 44.1 kHz, and the page
takes it back to 16 kHz) is not part of it: the float model agrees to
1e-4. The int8 model's difference is printed; its bound is explained in
:func:`test_int8_page_within_the_quantisation_error`. A screenshot of
each page is kept (the folder is printed; set ``W2S_TEST_ARTIFACTS`` to
have it copied there).

The browser tests need /usr/bin/chromium (or ``W2S_CHROMIUM``) and the
page's onnxruntime-web files (``make web``); ``tools/install_browser.sh``
installs both and ``make test`` runs it. Without them they skip, naming
what is missing, except under CI (``CI=true``), where they fail.

Chromium is driven over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: JSON messages ending in a NUL byte, on file
descriptors 3 and 4) with the standard library alone: no driver package
to pin, and no browser download besides Debian's.
"""

import base64
import fcntl
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA, SPEECH_16K
from fitted_students import packaged_wav2small

from speechbrain_wav2small.cli import main, serve_web
from speechbrain_wav2small.inference.live import SlidingWindow
from speechbrain_wav2small.inference.onnx_emotion import OnnxEmotionDimensions
from speechbrain_wav2small.utils.model_files import FLOAT_FILE, INT8_FILE

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("W2S_CHROMIUM", "/usr/bin/chromium"))
RATE = 16000
WINDOW = 3 * RATE  # the page's defaults, those of `wav2small stream`
HOP = RATE // 2
#: Windows read from each page: the first full one and five hops more.
WINDOWS = 6
HEAVY = {"torch", "speechbrain", "transformers", "timm", "torchaudio"}

# Chromium flags: headless as root, nothing fetched from the network (the
# machine's closed network refuses it), a fresh profile, and a fake
# microphone that plays the given WAV file, granted without a prompt.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


def requirement_or_skip(missing):
    """Skips with ``missing`` as the reason; under CI, fails instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser tests, but {missing}")
    pytest.skip(missing)


@pytest.fixture(scope="module")
def browser_ready():
    """Chromium and the built page are present (else skip, or fail in CI)."""
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(
            f"Debian's Chromium is not installed ({CHROMIUM}): run "
            "tools/install_browser.sh as root (apt-get install chromium), "
            "or set W2S_CHROMIUM to a Chromium binary"
        )
    try:
        serve_web.check_web_folder(serve_web.WEB_FOLDER)
    except serve_web.ServeError as error:
        missing.append(str(error))
    if missing:
        requirement_or_skip("; ".join(missing))


@pytest.fixture(scope="module")
def package():
    """The packaged Wav2Small of the test session (float and int8 ONNX)."""
    built = packaged_wav2small()
    assert built["status"] == 0
    assert (built["package"] / INT8_FILE).is_file()
    return built["package"]


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Three real 16 kHz utterances joined (7.6 s): the fake microphone's
    file, and its samples."""
    joined = np.concatenate(
        [sf.read(DATA / name, dtype="float32")[0] for name in SPEECH_16K]
    )
    path = tmp_path_factory.mktemp("web_speech") / "speech.wav"
    sf.write(path, joined, RATE, subtype="PCM_16")
    return path, sf.read(path, dtype="float32")[0]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """The folder of the screenshots (printed; copied to
    ``W2S_TEST_ARTIFACTS`` when set)."""
    folder = tmp_path_factory.mktemp("web_artifacts")
    print(f"\nweb page screenshots: {folder}")
    return folder


def keep_artifact(folder, name, data):
    """Writes an artefact, and a copy under ``W2S_TEST_ARTIFACTS``."""
    (folder / name).write_bytes(data)
    target = os.environ.get("W2S_TEST_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        (Path(target) / name).write_bytes(data)


class Chromium:
    """Headless Chromium, driven over the DevTools protocol on a pipe.

    Arguments
    ---------
    flags : list of str
        Chromium's command-line flags.
    log : file
        Where Chromium's own output goes.
    """

    def __init__(self, flags, log):
        to_browser, self._writer = os.pipe()
        self._reader, from_browser = os.pipe()
        # Chromium reads commands on descriptor 3 and answers on 4; bash
        # moves the pipe ends there (moved high first, so that neither is
        # already 3 or 4).
        high = [
            fcntl.fcntl(fd, fcntl.F_DUPFD, 20)
            for fd in (to_browser, from_browser)
        ]
        os.close(to_browser)
        os.close(from_browser)
        shell = f'exec "$@" 3<&{high[0]} 4>&{high[1]} {high[0]}<&- {high[1]}>&-'
        self.process = subprocess.Popen(
            ["bash", "-c", shell, "bash", str(CHROMIUM)]
            + ["--remote-debugging-pipe", *flags],
            pass_fds=high,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        for fd in high:
            os.close(fd)
        self._buffer = b""
        self._last_id = 0
        #: Console messages and uncaught errors of the pages.
        self.console = []

    def send(self, method, params=None, session=None, timeout=60):
        """Sends a command and returns its result (events seen meanwhile
        go to :attr:`console` when they are console output)."""
        self._last_id += 1
        message = {"id": self._last_id, "method": method}
        message["params"] = params or {}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._writer, data) :]
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline, method)
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            if reply.get("method") == "Runtime.consoleAPICalled":
                args = reply["params"]["args"]
                self.console.append(
                    " ".join(
                        str(a.get("value", a.get("description"))) for a in args
                    )
                )
            elif reply.get("method") == "Runtime.exceptionThrown":
                self.console.append(json.dumps(reply["params"])[:2000])

    def _receive(self, deadline, method):
        """The next message from the browser."""
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._reader], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer {method}")
            data = os.read(self._reader, 1 << 20)
            if not data:
                raise RuntimeError(f"Chromium exited during {method}")
            self._buffer += data
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open_page(self, url, width=960, height=760):
        """A new tab showing ``url``: its protocol session id."""
        # A window of its own: a page in a background tab may be
        # throttled.
        target = self.send(
            "Target.createTarget", {"url": "about:blank", "newWindow": True}
        )
        session = self.send(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
        )["sessionId"]
        self.send("Runtime.enable", session=session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": width,
                "height": height,
                "deviceScaleFactor": 1,
                "mobile": False,
            },
            session,
        )
        self.send("Page.navigate", {"url": url}, session)
        return session

    def evaluate(self, session, expression, user_gesture=False):
        """The value of a JavaScript expression (promises awaited)."""
        result = self.send(
            "Runtime.evaluate",
            {
                "expression": expression,
                "returnByValue": True,
                "awaitPromise": True,
                "userGesture": user_gesture,
            },
            session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, session, expression, timeout=60):
        """Polls until ``expression`` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(session, expression)
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(
            f"waited {timeout} s for {expression}; the page's console: "
            f"{self.console[-10:]}"
        )

    def screenshot(self, session):
        """The page as PNG bytes."""
        data = self.send("Page.captureScreenshot", {"format": "png"}, session)
        return base64.b64decode(data["data"])

    def close(self):
        """Closes the browser (killed if it does not exit)."""
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._writer)
        os.close(self._reader)


@pytest.fixture(scope="module")
def browser(browser_ready, speech, tmp_path_factory):
    """Headless Chromium whose microphone plays :func:`speech`."""
    folder = tmp_path_factory.mktemp("chromium")
    flags = CHROMIUM_FLAGS + [
        f"--user-data-dir={folder / 'profile'}",
        f"--use-file-for-fake-audio-capture={speech[0]}",
        "about:blank",
    ]
    with open(folder / "chromium.log", "wb") as log:
        chromium = Chromium(flags, log)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def server(browser_ready, package):
    """``wav2small serve-web --port 0`` on the package: the page's URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "speechbrain_wav2small.cli", "serve-web"]
        + ["--model", str(package), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        ready = select.select([process.stdout], [], [], 120)[0]
        line = process.stdout.readline() if ready else ""
        assert "http://" in line, f"no address printed: {line!r}"
        yield line.split(" at ")[1].split()[0]
    finally:
        process.terminate()
        process.wait(timeout=30)


#: The pages the browser tests read, by name: their query.
PAGES = {
    # The float model; the browser resamples to a 16 kHz AudioContext.
    "float": "?model=float",
    # The float model; the context runs at the device's rate and the
    # page's worklet resamples.
    "float-worklet": "?model=float&rate=native",
    # The default model: int8.
    "int8": "?",
}


@pytest.fixture(scope="module")
def pages(browser, server, artifacts):
    """Runs each page of :data:`PAGES` in turn (at once, they would share
    one renderer's main thread): starts its microphone, waits for
    :data:`WINDOWS` windows, keeps a screenshot and stops it. Returns the
    pages' states (their windows with samples) by name."""
    states = {}
    for name, query in PAGES.items():
        session = browser.open_page(f"{server}{query}&record={WINDOWS}")
        browser.wait_for(
            session, "window.wav2small && (wav2small.ready || wav2small.error)"
        )
        error = browser.evaluate(session, "wav2small.error")
        assert error is None, (name, error, browser.console)
        click = "document.getElementById('start').click()"
        browser.evaluate(session, click, user_gesture=True)
        browser.wait_for(
            session, f"wav2small.error || wav2small.scored >= {WINDOWS}"
        )
        # One JSON string: the protocol's own serialisation of a value
        # is slow for arrays of this size.
        states[name] = json.loads(
            browser.evaluate(
                session,
                "JSON.stringify({...wav2small, windows: wav2small.windows"
                ".filter(w => w.samples)"
                ".map(w => ({...w, samples: Array.from(w.samples)}))})",
            )
        )
        keep_artifact(artifacts, f"{name}.png", browser.screenshot(session))
        browser.evaluate(session, click, user_gesture=True)  # stop
        browser.send("Page.close", session=session)
        assert states[name]["error"] is None, (name, states[name]["error"])
    return states


def check_windows(state, speech):
    """The page's windows are those of ``wav2small stream``: 3 s each,
    ending on the 0.5 s hops, each the last one moved on by a hop, and
    hold the microphone's speech. Returns them as float32 [n, time]."""
    windows = state["windows"]
    assert len(windows) == WINDOWS
    ends = [window["end"] for window in windows]
    assert all(end >= WINDOW and end % HOP == 0 for end in ends), ends
    samples = np.array([window["samples"] for window in windows], np.float32)
    assert samples.shape == (WINDOWS, WINDOW)
    assert [w["start"] for w in windows] == [end - WINDOW for end in ends]
    pairs = 0
    for i in range(WINDOWS - 1):
        if ends[i + 1] - ends[i] == HOP:  # none dropped between them
            assert np.array_equal(samples[i + 1][:-HOP], samples[i][HOP:])
            pairs += 1
    assert pairs >= 3, ends
    # The speech file itself, as Chromium played it: a second of the
    # windows matches some stretch of the looped file (a correlation of 1
    # but for resampling; not every second does: the first window may
    # start before the capture did, and Chromium's capture may slip a few
    # samples when a busy machine makes it late).
    seconds = samples[:, : WINDOW // RATE * RATE].reshape(-1, RATE)
    assert max(speech_correlation(s, speech) for s in seconds) > 0.95
    return samples


def speech_correlation(segment, speech):
    """The best normalised correlation of ``segment`` with a stretch of
    the looped ``speech``, over every offset."""
    looped = np.tile(speech, 2)[: len(speech) + len(segment)]
    size = 1 << int(np.ceil(np.log2(len(looped) + len(segment))))
    dots = np.fft.irfft(
        np.fft.rfft(looped, size) * np.conj(np.fft.rfft(segment, size)), size
    )[: len(speech)]
    energy = np.concatenate([[0.0], np.cumsum(looped.astype(np.float64) ** 2)])
    stretch = (
        energy[len(segment) : len(segment) + len(speech)]
        - energy[: len(speech)]
    )
    norms = np.sqrt(np.maximum(stretch, 1e-12) * float(segment @ segment))
    return float(np.max(dots / norms))


def python_scores(path, samples):
    """Scores of each window by ``OnnxEmotionDimensions.predict_batch``."""
    model = OnnxEmotionDimensions(path, threads=1)
    return np.array([model.predict_batch(w[None])[0] for w in samples])


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, resampled_in_page", [("float", False), ("float-worklet", True)]
)
def test_float_page_matches_python(
    name, resampled_in_page, pages, package, speech
):
    """The float model in the page gives Python's scores to 1e-4, on
    16 kHz audio from the browser (a 16 kHz AudioContext) and on audio
    resampled in the page's worklet (the device's rate)."""
    state = pages[name]
    assert state["model"] == {
        "kind": "float",
        "file": FLOAT_FILE,
        "bytes": (package / FLOAT_FILE).stat().st_size,
    }
    assert state["modelRate"] == RATE
    # Chromium resamples the microphone for a 16 kHz context; with
    # ?rate=native the context runs at the fake device's rate and the
    # worklet resamples.
    assert (state["contextRate"] != RATE) == resampled_in_page
    samples = check_windows(state, speech[1])
    page = np.array([window["scores"] for window in state["windows"]])
    expected = python_scores(package / FLOAT_FILE, samples)
    difference = np.abs(page - expected).max()
    latency = np.median([window["ms"] for window in state["windows"]])
    print(
        f"\nfloat page ({state['contextRate']} Hz context) vs Python ONNX: "
        f"max |difference| {difference:.2e} over {WINDOWS} windows; "
        f"median latency {latency:.1f} ms"
    )
    assert difference <= 1e-4


@pytest.mark.slow
def test_int8_page_within_the_quantisation_error(pages, package, speech):
    """The page loads the int8 file by default; its scores differ from
    Python's int8 scores by at most twice the quantisation error.

    Both runtimes run the same int8 graph, but with their own integer
    kernels (WebAssembly SIMD in the browser; on x86 without VNNI,
    onnxruntime multiplies unsigned by signed 8-bit values with
    saturating 16-bit sums), which round the 8-bit intermediate values
    differently. Either result may then stray from the float model by
    about the quantisation error E (the largest |int8 - float| of the
    Python runtime on these windows), so the two int8 results may be up
    to 2 E apart, and no more if the page's int8 path is sound. The page
    must also stay within 2 E of the float model itself.
    """
    state = pages["int8"]
    assert state["model"]["file"] == INT8_FILE
    assert state["model"]["bytes"] == (package / INT8_FILE).stat().st_size
    samples = check_windows(state, speech[1])
    page = np.array([window["scores"] for window in state["windows"]])
    int8 = python_scores(package / INT8_FILE, samples)
    floats = python_scores(package / FLOAT_FILE, samples)
    quantisation = np.abs(int8 - floats).max()
    difference = np.abs(page - int8).max()
    from_float = np.abs(page - floats).max()
    print(
        f"\nint8 page vs Python int8: max |difference| {difference:.3g}; "
        f"page vs Python float {from_float:.3g}; Python int8 vs float "
        f"{quantisation:.3g} (scores span {floats.min():.2f} to "
        f"{floats.max():.2f})"
    )
    assert difference <= 2 * quantisation + 1e-3
    assert from_float <= 2 * quantisation + 1e-3


# Runs the worklet's code in node, with the two names an AudioWorklet
# provides stubbed: tones through the resampler, and a ramp through the
# window processor. Prints JSON.
NODE_SCRIPT = textwrap.dedent(
    """
    import { pathToFileURL } from "node:url";
    globalThis.AudioWorkletProcessor = class {};
    globalThis.registerProcessor = () => {};
    const worklet = await import(pathToFileURL(process.argv[2]).href);
    const report = { tones: [], windows: [] };
    for (const rate of [44100, 48000]) {
      for (const freq of [1000, 6000, 9000, 12000]) {
        const resampler = new worklet.SincResampler(rate, 16000);
        const out = [];
        for (let start = 0; start < rate; start += 128) {
          const block = new Float32Array(128);
          for (let i = 0; i < 128; i++) {
            block[i] = Math.sin((2 * Math.PI * freq * (start + i)) / rate);
          }
          out.push(...resampler.process(block));
        }
        let error = 0;
        for (let n = 1600; n < out.length; n++) {
          const exact =
            freq < 8000 ? Math.sin((2 * Math.PI * freq * n) / 16000) : 0;
          error = Math.max(error, Math.abs(out[n] - exact));
        }
        report.tones.push({ rate, freq, error, count: out.length });
      }
    }
    const processor = new worklet.WindowProcessor({
      processorOptions: {
        inputRate: 16000, modelRate: 16000, window: 0.02, hop: 0.005,
      },
    });
    processor.port = {
      postMessage: (m) =>
        report.windows.push({ end: m.end, samples: Array.from(m.samples) }),
    };
    for (let start = 0; start < 1000; start += 128) {
      const left = new Float32Array(128);
      for (let i = 0; i < 128; i++) left[i] = 2 * (start + i);
      processor.process([[left, new Float32Array(128)]]);
    }
    console.log(JSON.stringify(report));
    """
)


def test_worklet_windows_and_resampler_in_node(tmp_path):
    """The worklet's ring buffer hands out the windows of Python's
    ``SlidingWindow`` (stereo averaged to mono), and its resampler keeps
    tones below 6 kHz to 2e-4 and folds nothing above 9 kHz back in
    louder than -80 dB (44.1 and 48 kHz to 16 kHz)."""
    node = shutil.which("node")
    if node is None:
        requirement_or_skip(
            "node is not installed (it comes with npm, which `make web` "
            "needs): install Node.js"
        )
    script = tmp_path / "worklet_check.mjs"
    script.write_text(NODE_SCRIPT)
    worklet = serve_web.WEB_FOLDER / "capture-worklet.js"
    completed = subprocess.run(
        [node, str(script), str(worklet)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    ramp = np.arange(1024, dtype=np.float32)
    expected = list(SlidingWindow(320, 80).push(ramp[:1000]))
    assert [w["end"] for w in report["windows"]] == [e for e, _ in expected]
    for window, (_, samples) in zip(report["windows"], expected, strict=True):
        assert window["samples"] == samples.tolist()
    for tone in report["tones"]:
        # About 16000 out for the whole 128-sample blocks of one second,
        # but for the kernel's half-width (the output's lag).
        fed = -(-tone["rate"] // 128) * 128
        assert 15900 <= tone["count"] <= fed * 16000 / tone["rate"], tone
        bound = {1000: 2e-4, 6000: 2e-4}.get(tone["freq"], 1e-4)
        assert tone["error"] <= bound, tone


@pytest.fixture
def fake_web_folder(tmp_path, monkeypatch):
    """A copy of the page whose vendor files are stand-ins, so that the
    server's checks run without the npm build."""
    web = tmp_path / "web"
    shutil.copytree(
        serve_web.WEB_FOLDER,
        web,
        ignore=shutil.ignore_patterns(serve_web.VENDOR_FOLDER),
    )
    (web / serve_web.VENDOR_FOLDER).mkdir()
    for name in serve_web.vendor_files(web):
        (web / serve_web.VENDOR_FOLDER / name).write_bytes(
            b"stand-in " + name.encode()
        )
    monkeypatch.setattr(serve_web, "WEB_FOLDER", web)
    return web


def test_server_serves_the_page_and_model_files_only(fake_web_folder, package):
    """Only the page, its vendor files and the model's ONNX files are
    served, with the content types browsers need; nothing else of the
    package or the disk, whatever the path."""
    files = serve_web.find_model_files(str(package))
    info = serve_web.model_info(files)
    routes = serve_web.build_routes(fake_web_folder, files, info)
    server = serve_web.make_server(routes, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"

    def get(path):
        """Status, content type and body of ``path`` on the server."""
        try:
            with urllib.request.urlopen(base + path, timeout=30) as answer:
                return (
                    answer.status,
                    answer.headers["Content-Type"],
                    answer.read(),
                )
        except urllib.error.HTTPError as error:
            return error.code, None, b""

    try:
        status, kind, body = get("/")
        assert (status, kind) == (200, "text/html; charset=utf-8")
        assert b"app.js" in body
        assert get("/app.js")[1] == "text/javascript; charset=utf-8"
        assert get("/vendor/ort.wasm.min.mjs")[1].startswith("text/javascript")
        status, kind, body = get("/vendor/ort-wasm-simd-threaded.wasm")
        assert (status, kind) == (200, "application/wasm")
        status, kind, body = get("/model/info.json")
        assert json.loads(body) == info
        assert info["default"] == "int8" and info["sample_rate"] == RATE
        assert set(info["models"]) == {"int8", "float"}
        for name in (INT8_FILE, FLOAT_FILE):
            assert get(f"/model/{name}")[2] == (package / name).read_bytes()
        for path in (
            "/model/model.ckpt",
            "/model/hyperparams.yaml",
            "/model/../../setup.py",
            "/%2e%2e/%2e%2e/setup.py",
            "/package.json",
            "/vendor-files.txt",
            "/vendor/.stamp",
            "/nothing.html",
        ):
            assert get(path)[0] == 404, path
    finally:
        server.shutdown()
        server.server_close()


def test_serve_web_errors_are_one_line(
    fake_web_folder, package, tmp_path, capsys
):
    """A folder without ONNX files, a missing folder, a page that was not
    built and a port in use each end with one line and exit status 1."""
    empty = tmp_path / "empty"
    empty.mkdir()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = str(busy.getsockname()[1])
    cases = [
        (["--model", str(empty)], "holds no model.int8.onnx or model.onnx"),
        (["--model", str(tmp_path / "missing")], "does not exist"),
        (["--model", str(package), "--port", port], f"port {port} on "),
    ]
    try:
        for options, message in cases:
            assert main(["serve-web", *options]) == 1
            error = capsys.readouterr().err
            assert error.startswith("error: ") and message in error, error
            assert error.count("\n") == 1, error
    finally:
        busy.close()
    shutil.rmtree(fake_web_folder / serve_web.VENDOR_FOLDER)
    assert main(["serve-web", "--model", str(package)]) == 1
    error = capsys.readouterr().err
    assert "onnxruntime-web files are not built" in error, error
    assert "make web" in error and error.count("\n") == 1


# Runs the CLI as ``python -m`` does, then prints its exit status and the
# imported modules.
PROBE = textwrap.dedent(
    """
    import json, runpy, sys
    try:
        runpy.run_module(
            "speechbrain_wav2small.cli", run_name="__main__", alter_sys=True
        )
        status = None
    except SystemExit as stop:
        status = stop.code
    print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
    """
)


def test_serve_web_never_imports_torch(package):
    """serve-web loads the model files with onnxruntime alone (here up to
    a port in use, or the page's missing build: both come after the
    model files are read)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        completed = subprocess.run(
            [sys.executable, "-c", PROBE, "serve-web", "--model", str(package)]
            + ["--port", str(busy.getsockname()[1])],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=300,
        )
    probe = json.loads(completed.stdout.splitlines()[-1])
    assert probe["status"] == 1, completed.stderr
    assert "onnxruntime" in probe["modules"]
    heavy = [m for m in probe["modules"] if m.split(".")[0] in HEAVY]
    assert heavy == []


def test_vendor_files_are_the_build_scripts_list():
    """The files the server checks are those build_web.sh copies and the
    page imports."""
    names = serve_web.vendor_files()
    assert names[0] == "ort.wasm.min.mjs"
    app = (serve_web.WEB_FOLDER / "app.js").read_text()
    assert f'from "./vendor/{names[0]}"' in app
    assert "vendor-files.txt" in (REPO / "tools" / "build_web.sh").read_text()
