"""Serve the live web page: arousal, dominance and valence of a
microphone, computed in the browser.

The page (speechbrain_wav2small/web/) opens the microphone, resamples it
to 16 kHz and scores its last 3 s every 0.5 s, as `wav2small stream`
does, with onnxruntime-web (WebAssembly, one thread) running --model's
int8 file (the float file with ?model=float in the address); it plots the
last minute and shows the model's size and the time each window takes.
No audio leaves the browser: this server only hands out static files.

Served at / : the page, and its onnxruntime-web files, which `make web`
(tools/build_web.sh) installs from the npm registry at a pinned version
into speechbrain_wav2small/web/vendor/ (a wheel built after that carries
them). Served at /model/ : the ONNX files of --model (model.int8.onnx and
model.onnx, read-only; nothing else of the folder) and info.json, which
describes them to the page. --model is a package or export folder, an
ONNX file, or a model-hub id (owner/name[@REVISION]).

Browsers open a microphone only for a secure origin: http://127.0.0.1 or
http://localhost (the default --host) counts as one; a page served to
other machines (--host 0.0.0.0) needs HTTPS in front of it for that.
--port 0 takes a free port; the address is printed either way.

Exit status: 0 when stopped with Ctrl-C; 1 for an error (web page not
built, no usable ONNX file, port in use).
"""

import errno
import json
import sys
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from speechbrain_wav2small.cli.common import reports_user_errors
from speechbrain_wav2small.utils.hub import resolve_source
from speechbrain_wav2small.utils.model_files import (
    FLOAT_FILE,
    INT8_FILE,
    LENGTHS_INPUT,
    SESSION_CONFIG_KEY,
    WAVS_INPUT,
)

#: The page's folder, inside the installed package.
WEB_FOLDER = Path(__file__).resolve().parents[1] / "web"

#: The list of the onnxruntime-web files the page loads from ``vendor/``
#: (one name a line, ``#`` comments), shared with tools/build_web.sh.
VENDOR_LIST = "vendor-files.txt"
VENDOR_FOLDER = "vendor"

#: Where the model's files are served.
MODEL_PREFIX = "/model/"
INFO_FILE = "info.json"

#: The model kinds the page asks for (``?model=``), by ONNX file name.
MODEL_KINDS = {INT8_FILE: "int8", FLOAT_FILE: "float"}

#: Content types by suffix: browsers run modules only as JavaScript and
#: compile WebAssembly as it streams in only as application/wasm.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}

#: The page's own files that are not served (build inputs).
NOT_SERVED = {"package.json", "package-lock.json", VENDOR_LIST}


class ServeError(ValueError):
    """Why the page cannot be served (one line, for the user)."""


def add_arguments(parser):
    """Adds this subcommand's options.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> args = parser.parse_args(["--model", "my-model/"])
    >>> args.host, args.port, args.open
    ('127.0.0.1', 8000, False)
    """
    parser.add_argument(
        "--model",
        required=True,
        help="package or export folder, ONNX file, or hub id "
        "(owner/name[@REVISION])",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8000,
        help="port (default 8000; 0 takes a free one)",
    )
    parser.add_argument(
        "--open",
        action="store_true",
        help="open the page in the default browser",
    )


def vendor_files(web=WEB_FOLDER):
    """The names of the onnxruntime-web files the page loads.

    Arguments
    ---------
    web : pathlib.Path
        The page's folder.

    Returns
    -------
    list of str
        File names inside ``web/vendor``.

    Example
    -------
    >>> "ort.wasm.min.mjs" in vendor_files()
    True
    """
    lines = (web / VENDOR_LIST).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()[:1] not in ("", "#")]


def check_web_folder(web=WEB_FOLDER):
    """Raises :class:`ServeError` when the page's runtime is not built.

    Arguments
    ---------
    web : pathlib.Path
        The page's folder.

    Example
    -------
    >>> import tempfile
    >>> web = Path(tempfile.mkdtemp())
    >>> _ = (web / VENDOR_LIST).write_text("ort.wasm.min.mjs\\n")
    >>> check_web_folder(web)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    speechbrain_wav2small.cli.serve_web.ServeError: the web page's ...
    """
    vendor = web / VENDOR_FOLDER
    missing = [
        name for name in vendor_files(web) if not (vendor / name).is_file()
    ]
    if missing:
        raise ServeError(
            f"the web page's onnxruntime-web files are not built "
            f"({vendor} lacks {', '.join(missing)}): run `make web` (or "
            "bash tools/build_web.sh; it needs npm) in a clone of the "
            "repository, or install a wheel built after it"
        )


def find_model_files(source):
    """The ONNX files of ``source`` the page may load, by kind.

    Arguments
    ---------
    source : str
        A folder holding :data:`~speechbrain_wav2small.utils.model_files.
        INT8_FILE` and/or ``FLOAT_FILE``, one ONNX file (served as
        ``float`` unless it is named ``INT8_FILE``), or a hub id.

    Returns
    -------
    dict
        ``{"int8": Path, "float": Path}``, either missing when absent.

    Raises
    ------
    FileNotFoundError
        A missing path, a hub id that cannot be fetched, or a folder with
        neither file.

    Example
    -------
    >>> import tempfile
    >>> find_model_files(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: model folder ... holds no model.int8.onnx or ...
    """
    from speechbrain_wav2small.inference.onnx_emotion import HUB_FILES

    found = resolve_source(source, "model", HUB_FILES, folder=False)
    if found.is_file():
        return {MODEL_KINDS.get(found.name, "float"): found}
    files = {
        kind: found / name
        for name, kind in MODEL_KINDS.items()
        if (found / name).is_file()
    }
    if not files:
        raise FileNotFoundError(
            f"model folder {source} holds no {INT8_FILE} or {FLOAT_FILE} "
            "(export or package a model first: wav2small export / "
            "wav2small package)"
        )
    return files


def model_info(files):
    """What ``model/info.json`` tells the page about the model files.

    Each file is opened with onnxruntime (as ``OnnxEmotionDimensions``
    opens it, which refuses one that is not an exported model), for its
    sample rate and the session settings its metadata asks for.

    Arguments
    ---------
    files : dict
        ``{kind: Path}`` from :func:`find_model_files`.

    Returns
    -------
    dict
        ``sample_rate``, ``dimensions``, ``inputs`` (the names of the
        waveform and lengths inputs), ``default`` (the kind the page
        loads without ``?model=``: int8 when present) and ``models``
        (kind -> ``file``, ``url``, ``bytes``, ``session_config``).

    Raises
    ------
    ValueError
        A file that is not a usable exported model.
    """
    from speechbrain_wav2small.inference.onnx_emotion import (
        OnnxEmotionDimensions,
    )

    models = {}
    rates = set()
    dimensions = None
    for kind, path in files.items():
        model = OnnxEmotionDimensions(path, threads=1)
        rates.add(model.sample_rate)
        dimensions = list(model.dimensions)
        config = model.metadata.get(SESSION_CONFIG_KEY)
        models[kind] = {
            "file": path.name,
            "url": f"{MODEL_PREFIX[1:]}{path.name}",
            "bytes": path.stat().st_size,
            "session_config": json.loads(config) if config else {},
        }
    if len(rates) > 1:
        raise ValueError(
            f"the model files {sorted(p.name for p in files.values())} "
            f"take different sample rates ({sorted(rates)})"
        )
    return {
        "sample_rate": rates.pop(),
        "dimensions": dimensions,
        "inputs": {"wavs": WAVS_INPUT, "lengths": LENGTHS_INPUT},
        "default": "int8" if "int8" in models else "float",
        "models": models,
    }


def build_routes(web, files, info):
    """URL path -> (file path or bytes, content type): everything the
    server hands out, fixed at start-up (so nothing else of the disk can
    be reached, whatever the request's path).

    Arguments
    ---------
    web : pathlib.Path
        The page's folder (its files and ``vendor/``, no dot files, no
        build inputs).
    files : dict
        ``{kind: Path}``, the ONNX files.
    info : dict
        The :func:`model_info`, served as ``/model/info.json``.

    Returns
    -------
    dict

    Example
    -------
    >>> routes = build_routes(WEB_FOLDER, {}, {})
    >>> routes["/"][1], "/package.json" in routes
    ('text/html; charset=utf-8', False)
    """
    routes = {}
    for path in sorted(web.rglob("*")):
        relative = path.relative_to(web)
        if (
            not path.is_file()
            or relative.parts[0] not in (VENDOR_FOLDER, relative.name)
            or path.name.startswith(".")
            or path.name in NOT_SERVED
            or path.suffix not in CONTENT_TYPES
        ):
            continue
        routes[f"/{relative.as_posix()}"] = (path, CONTENT_TYPES[path.suffix])
    routes["/"] = routes["/index.html"]
    for path in files.values():
        routes[f"{MODEL_PREFIX}{path.name}"] = (path, CONTENT_TYPES[".onnx"])
    routes[f"{MODEL_PREFIX}{INFO_FILE}"] = (
        json.dumps(info, indent=1).encode("utf-8"),
        CONTENT_TYPES[".json"],
    )
    return routes


class PageHandler(BaseHTTPRequestHandler):
    """Answers GET and HEAD from the server's ``routes`` only."""

    server_version = "wav2small-serve-web"

    def do_GET(self):
        """Sends the file or bytes of the request's path, or 404."""
        self._answer(body=True)

    def do_HEAD(self):
        """As GET, without the body."""
        self._answer(body=False)

    def _answer(self, body):
        """Sends the route's content (re-read from disk each time)."""
        path = unquote(urlsplit(self.path).path)
        route = self.server.routes.get(path)
        if route is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        content, content_type = route
        if isinstance(content, Path):
            content = content.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        # A rebuilt page or model is taken on the next reload.
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if body:
            self.wfile.write(content)

    def log_message(self, format, *args):
        """Quiet: only errors are reported (on standard error)."""

    def log_error(self, format, *args):
        """Reports a failed request on standard error."""
        sys.stderr.write(f"serve-web: {format % args}\n")


def make_server(routes, host="127.0.0.1", port=8000):
    """A threading HTTP server for ``routes`` (not yet serving).

    Arguments
    ---------
    routes : dict
        From :func:`build_routes`.
    host : str
        Address to listen on.
    port : int
        Port; 0 takes a free one (read it from ``server.server_port``).

    Returns
    -------
    http.server.ThreadingHTTPServer

    Raises
    ------
    ServeError
        The port is in use, or the address cannot be listened on.

    Example
    -------
    >>> server = make_server({}, port=0)
    >>> server.server_port > 0
    True
    >>> make_server({}, port=server.server_port)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    speechbrain_wav2small.cli.serve_web.ServeError: port ... is in use ...
    >>> server.server_close()
    """
    try:
        server = ThreadingHTTPServer((host, port), PageHandler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {port} on {host} is in use (another server?): choose "
                "another with --port, or --port 0 for a free one"
            ) from None
        raise ServeError(
            f"cannot listen on {host} port {port}: {error.strerror or error}"
        ) from None
    server.daemon_threads = True
    server.routes = routes
    return server


def page_url(host, port):
    """The page's address for a listening address.

    Example
    -------
    >>> page_url("0.0.0.0", 8000), page_url("::1", 80)
    ('http://127.0.0.1:8000/', 'http://[::1]:80/')
    """
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


@reports_user_errors(ServeError)
def run(args):
    """Serves the page until Ctrl-C (see module docstring); returns the
    exit status."""
    files = find_model_files(args.model)
    check_web_folder(WEB_FOLDER)
    routes = build_routes(WEB_FOLDER, files, model_info(files))
    server = make_server(routes, args.host, args.port)
    url = page_url(args.host, server.server_port)
    names = ", ".join(path.name for path in files.values())
    print(
        f"serving the live page for {args.model} ({names}) at {url} "
        "(Ctrl-C stops)",
        flush=True,
    )
    if args.open:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
