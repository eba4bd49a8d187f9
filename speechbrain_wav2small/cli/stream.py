"""Live arousal, dominance and valence from a microphone, standard input
or a file.

Scores the last --window seconds of the stream every --hop seconds and
prints one line per hop as it comes (flushed, so a pipe sees it live):
"TIME AROUSAL DOMINANCE VALENCE", TIME being the end of the window in
seconds from the start of the stream; with --jsonl one JSON object per
line instead. The first line comes once the first full window is in (3 s
by default); --partial also scores the shorter windows before it, at
every hop. The samples after the last hop of a finished stream are not
scored.

The defaults: a 3 s window, the length of the clips Wav2Small was trained
on (a few seconds, enough for the prosody the dimensions are read from);
a 0.5 s hop, two updates a second, each window taking about 2 ms on one
CPU core with the int8 file (about 0.5 % of a core). Memory stays constant however long the stream runs: a ring
buffer of one window, block-wise reading and resampling.

SOURCE is an audio file, played as a stream (as fast as possible, or at
real time with --realtime; any rate, resampled block by block), or "-":
raw PCM on standard input, in --format (s16le or f32le, little-endian),
--rate and --channels (mixed down to mono), e.g.

    ffmpeg -i talk.mp3 -f s16le -ac 1 -ar 16000 - | wav2small stream - \\
        --model model.int8.onnx

--mic reads the default microphone (or --device) instead, until Ctrl-C;
it needs the sounddevice package (pip install speechbrain-wav2small[live])
and the PortAudio library. --model is an ONNX file, a folder holding one
or a model-hub id, run with onnxruntime (PyTorch is never imported).

Exit status: 0 when at least one window was scored (or on Ctrl-C); 1 for
an error (no model, no input device, an unreadable input, or a stream
that ended before the first window); 2 for unusable options.
"""

import json
import os
import sys

from speechbrain_wav2small.cli.common import reports_user_errors
from speechbrain_wav2small.dataio.audio import AudioError
from speechbrain_wav2small.inference.live import PCM_FORMATS


def add_arguments(parser):
    """Adds this subcommand's options.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> args = parser.parse_args(["-", "--model", "m.onnx"])
    >>> args.window, args.hop, args.format, args.rate, args.channels
    (3.0, 0.5, 's16le', 16000, 1)
    """
    parser.add_argument(
        "source",
        nargs="?",
        metavar="SOURCE",
        help='an audio file, or "-" for raw PCM on standard input (omit '
        "with --mic)",
    )
    parser.add_argument(
        "--model",
        required=True,
        help="ONNX file, folder holding one, or hub id (owner/name[@REV])",
    )
    parser.add_argument(
        "--mic", action="store_true", help="read the microphone (Ctrl-C ends)"
    )
    parser.add_argument(
        "--device",
        help="with --mic: the input device, a PortAudio index or name",
    )
    parser.add_argument(
        "--window",
        type=float,
        default=3.0,
        help="seconds scored at once (default 3, Wav2Small's clip length)",
    )
    parser.add_argument(
        "--hop",
        type=float,
        default=0.5,
        help="seconds between two outputs (default 0.5), at most --window",
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="also score the shorter windows before the first full one",
    )
    parser.add_argument(
        "--format",
        choices=sorted(PCM_FORMATS),
        default="s16le",
        help='sample format of "-" (default s16le)',
    )
    parser.add_argument(
        "--rate",
        type=int,
        default=16000,
        help='sample rate of "-" in Hz (default 16000)',
    )
    parser.add_argument(
        "--channels",
        type=int,
        default=1,
        help='interleaved channels of "-", averaged (default 1)',
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="play a file at real time (default: as fast as possible)",
    )
    parser.add_argument(
        "--jsonl",
        action="store_true",
        help='JSON lines: {"time": ..., "arousal": ..., ...}',
    )


def _usage_error(args):
    """The problem with the options, or None (checked before any work)."""
    if args.mic == (args.source is not None):
        return "give either SOURCE (a file or -) or --mic"
    if args.device is not None and not args.mic:
        return "--device needs --mic"
    if args.rate <= 0 or args.channels <= 0:
        return "--rate and --channels must be positive"
    for name in ("window", "hop"):
        value = getattr(args, name)
        if not value > 0 or value == float("inf"):
            return f"--{name} must be a positive number of seconds"
    if args.hop > args.window:
        return "--hop must be at most --window"
    return None


def _blocks(args, sample_rate):
    """The source's mono blocks at ``sample_rate``."""
    from speechbrain_wav2small.inference import live

    if args.mic:
        device = args.device
        if device is not None and device.isdigit():
            device = int(device)
        return live.microphone_blocks(sample_rate, device)
    if args.source == "-":
        return live.pcm_blocks(
            sys.stdin.buffer,
            sample_rate,
            args.format,
            args.rate,
            args.channels,
        )
    return live.file_blocks(args.source, sample_rate, args.realtime)


def format_line(seconds, scores, jsonl=False):
    """One output line (without its newline).

    Example
    -------
    >>> scores = {"arousal": 0.5, "dominance": 0.25, "valence": 0.125}
    >>> format_line(3.0, scores)
    '3.000 0.500000 0.250000 0.125000'
    >>> format_line(3.0, scores, jsonl=True)
    '{"time": 3.0, "arousal": 0.5, "dominance": 0.25, "valence": 0.125}'
    """
    if jsonl:
        return json.dumps({"time": seconds, **scores})
    values = " ".join(f"{value:.6f}" for value in scores.values())
    return f"{seconds:.3f} {values}"


@reports_user_errors(AudioError)
def run(args):
    """Streams the scores (see module docstring); returns the exit status."""
    problem = _usage_error(args)
    if problem:
        print(f"wav2small stream: error: {problem}", file=sys.stderr)
        return 2
    from speechbrain_wav2small.inference.live import LiveEmotion
    from speechbrain_wav2small.inference.onnx_emotion import (
        OnnxEmotionDimensions,
    )

    model = OnnxEmotionDimensions(args.model, threads=1)
    live = LiveEmotion(model, args.window, args.hop, args.partial)
    scored = 0
    try:
        for block in _blocks(args, live.sample_rate):
            for seconds, scores in live.feed(block):
                print(format_line(seconds, scores, args.jsonl), flush=True)
                scored += 1
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # The reader left (e.g. "| head"): stop quietly, and keep Python
        # from reporting the pipe again when it flushes at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if not scored:
        raise ValueError(
            f"the stream ended after {live.seconds:.3f} s, before the first "
            f"full window of {args.window} s (use --partial or a shorter "
            "--window)"
        )
    return 0
