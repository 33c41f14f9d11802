"""``python -m hxrg_denoiser.cli``: the ``hxrg`` command."""

import sys

from hxrg_denoiser.cli.main import main

sys.exit(main())
