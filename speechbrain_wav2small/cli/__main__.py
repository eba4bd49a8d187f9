"""``python -m speechbrain_wav2small.cli`` runs the ``wav2small`` command."""

import sys

from speechbrain_wav2small.cli import main

sys.exit(main())
