"""``vclf-run`` whose folder decoder never returns on files named ``*hang*`` (``support.decoders.decode_or_hang``).

A real process standing in for ``vclf-run`` over a hung network mount, for
tests that time, signal or kill it.
"""

import sys

from support.decoders import decode_or_hang

from vclf.runtime.cli.main import main
from vclf.runtime.clips import folder as pipeline
from vclf.runtime.video import read_clip

if __name__ == "__main__":  # the workers import this module too
    defaults = pipeline.FolderPipeline.__init__.__defaults__
    pipeline.FolderPipeline.__init__.__defaults__ = tuple(decode_or_hang if d is read_clip else d for d in defaults)
    sys.exit(main(prog_name="vclf-run"))
